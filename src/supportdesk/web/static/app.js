// supportdesk's workspace: small enhancements of pages that work without this script. Loaded as a
// file of the site (the pages' Content-Security-Policy allows no inline script), no build step.
"use strict";

(function () {
  // "3 h 12 min", "45 min", "2 d 4 h": the server writes the same words (web/templating.py).
  function duration(seconds) {
    var minutes = Math.floor(Math.abs(seconds) / 60);
    var days = Math.floor(minutes / 1440);
    minutes -= days * 1440;
    var hours = Math.floor(minutes / 60);
    minutes -= hours * 60;
    if (days) return days + " d " + hours + " h";
    if (hours) return hours + " h " + minutes + " min";
    return minutes + " min";
  }

  // SLA countdowns: the time left to each running target's due moment, kept current; a target that
  // falls due while the page is open turns breached, in words and colour.
  function updateCountdowns() {
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (element) {
      var due = Date.parse(element.getAttribute("datetime"));
      if (isNaN(due)) return;
      var seconds = (due - now) / 1000;
      var text = seconds >= 0 ? "in " + duration(seconds) : duration(seconds) + " overdue";
      if (element.textContent !== text) element.textContent = text;
      var badge = element.closest("[data-sla]");
      if (seconds < 0 && badge && !badge.classList.contains("sla-breached")) {
        badge.classList.remove("sla-ok", "sla-at_risk");
        badge.classList.add("sla-breached");
        var state = badge.querySelector(".sla-state");
        if (!state) {
          state = document.createElement("span");
          state.className = "sla-state";
          badge.insertBefore(state, element);
        }
        state.textContent = "Breached";
      }
    });
  }

  // Times are written in UTC by the server; the browser shows them in its own time zone.
  function localiseTimes() {
    var format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
    document.querySelectorAll("time[data-local]").forEach(function (element) {
      var moment = Date.parse(element.getAttribute("datetime"));
      if (isNaN(moment)) return;
      element.title = element.textContent;
      element.textContent = format.format(new Date(moment));
    });
  }

  // The composer says what it will do: a public reply and an internal note look and read differently.
  function setUpComposer() {
    var form = document.getElementById("composer");
    if (!form) return;
    var button = form.querySelector("button[type=submit]");
    var textarea = form.querySelector("textarea");
    function show() {
      var chosen = form.querySelector("input[name=visibility]:checked");
      var note = chosen && chosen.value === "note";
      form.classList.toggle("is-note", note);
      button.classList.toggle("primary", !note);
      button.classList.toggle("note", note);
      button.textContent = note ? button.dataset.noteLabel : button.dataset.publicLabel;
    }
    form.addEventListener("change", show);
    show();
    // Ctrl+Enter (Cmd+Enter on a Mac) sends, as in most mail and chat programs.
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localiseTimes();
    updateCountdowns();
    setUpComposer();
    if (document.querySelector("time[data-countdown]")) {
      window.setInterval(updateCountdowns, 15000);
    }
  });
})();
