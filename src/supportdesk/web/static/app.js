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
      if (isNaN(moment) || element.dataset.localised) return;
      element.dataset.localised = "1";
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


  // --- Live updates (decision 0054) -------------------------------------------------------------
  // One event stream per page. A change to a ticket makes the page read itself again and swap in the
  // parts marked data-live-part; a part the person is working in is kept, never overwritten.

  function csrfToken() {
    var field = document.querySelector("input[name=csrf_token]");
    return field ? field.value : "";
  }

  // The properties form has changes nobody saved yet: each select differs from the value it showed.
  function hasUnsavedChoices(form) {
    return Array.prototype.some.call(form.querySelectorAll("select"), function (select) {
      var shown = form.querySelector("input[name=shown_" + select.name + "]");
      return shown && shown.value !== select.value;
    });
  }

  function keepsPart(part) {
    if (part.tagName === "FORM") return hasUnsavedChoices(part);
    // Tickets chosen for a bulk change stay chosen: the list waits until the change is made.
    return part.querySelector("input[name=ticket]:checked") !== null;
  }

  // What has the focus inside a part, so that the same link or field has it again after the swap.
  function focusKey(part) {
    var active = document.activeElement;
    if (!active || active === document.body || !part.contains(active)) return null;
    if (active.id) return "#" + CSS.escape(active.id);
    if (active.getAttribute("href")) return "[href=\"" + CSS.escape(active.getAttribute("href")) + "\"]";
    return null;
  }

  function ticketIds(root) {
    var ids = {};
    root.querySelectorAll("tr[data-ticket]").forEach(function (row) { ids[row.dataset.ticket] = true; });
    return ids;
  }

  function announce(text) {
    var status = document.getElementById("live-status");
    if (status) status.textContent = text;
  }

  function warnStaleProperties(form) {
    if (document.getElementById("properties-stale")) return;
    var warning = document.createElement("p");
    warning.className = "alert warning";
    warning.id = "properties-stale";
    warning.setAttribute("role", "alert");
    warning.textContent = "This ticket changed while you were choosing. Saving will show you what changed first.";
    form.insertBefore(warning, form.querySelector(".field"));
  }

  // The conversation shown now is what the composer answers, once its person could not miss that it
  // grew: the composer was empty, or the warning says so. Otherwise the server stops the reply once.
  function composerSaw() {
    var form = document.getElementById("composer");
    var conversation = document.getElementById("conversation");
    if (!form || !conversation) return;
    var textarea = form.querySelector("textarea");
    var seen = form.querySelector("input[name=seen]");
    var told = textarea.value.trim() === "" || document.getElementById("reply-warning");
    if (seen && told) seen.value = conversation.dataset.lastComment || seen.value;
  }

  var refreshing = null;
  var refreshAgain = false;

  // Read the page again and swap in its live parts; calls while one runs are folded into one more.
  function refresh() {
    if (refreshing) {
      refreshAgain = true;
      return refreshing;
    }
    var before = ticketIds(document);
    refreshing = fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) throw new Error("page not read again: " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live-part]").forEach(function (part) {
          var replacement = part.id && fresh.getElementById(part.id);
          if (!replacement) return;
          if (keepsPart(part)) {
            warnStaleProperties(part);
            return;
          }
          var key = focusKey(part);
          var adopted = document.importNode(replacement, true);
          part.replaceWith(adopted);
          if (key) {
            var again = adopted.querySelector(key);
            if (again) again.focus();
          }
        });
        var root = document.querySelector("[data-live]");
        var freshRoot = fresh.querySelector("[data-live]");
        if (root && freshRoot && freshRoot.dataset.version) root.dataset.version = freshRoot.dataset.version;
        var added = 0;
        document.querySelectorAll("tr[data-ticket]").forEach(function (row) {
          if (!before[row.dataset.ticket]) {
            row.classList.add("is-new");
            added += 1;
          }
        });
        if (added) announce(added === 1 ? "1 ticket arrived in this list." : added + " tickets arrived in this list.");
        composerSaw();
        if (bulkShown) bulkShown();
        localiseTimes();
        updateCountdowns();
        document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
      })
      .catch(function () { /* the page stays as it was; the next event tries again */ })
      .then(function () {
        refreshing = null;
        if (refreshAgain) {
          refreshAgain = false;
          refresh();
        }
      });
    return refreshing;
  }

  var refreshTimer = null;
  // Changes come in bursts (a ticket and its triggers, a bulk change): one read a moment later.
  function refreshSoon() {
    if (refreshTimer) return;
    refreshTimer = window.setTimeout(function () {
      refreshTimer = null;
      refresh();
    }, 250);
  }

  function warnStaleReply() {
    var form = document.getElementById("composer");
    if (!form || document.getElementById("reply-warning")) return;
    var warning = document.createElement("div");
    warning.className = "alert warning";
    warning.id = "reply-warning";
    warning.setAttribute("role", "alert");
    warning.textContent =
      "Someone wrote on this ticket while you were writing. Read what is new above before you send.";
    form.insertBefore(warning, form.querySelector("fieldset"));
  }


  function setUpTicketLive(root, handlers) {
    var ticketId = Number(root.dataset.ticket);
    var me = Number(document.body.dataset.user);
    handlers.ticket = function (message) {
      if (message.ticket_id !== ticketId) return;
      var textarea = document.querySelector("#composer textarea");
      var writing = textarea && textarea.value.trim() !== "";
      if (message.event === "commented" && message.author_user_id !== me && writing) warnStaleReply();
      if (message.event === "commented" || message.version > Number(root.dataset.version)) {
        refreshSoon();
      }
    };
    handlers.resync = refreshSoon;
    setUpPresence(root, handlers, me, ticketId);
  }

  // Who else has this ticket open: each page says so every 20 seconds, and when the person starts or
  // stops writing; another page's word holds for the time it gives.
  function setUpPresence(root, handlers, me, ticketId) {
    var url = root.dataset.presence;
    var shown = document.getElementById("presence");
    if (!url || !shown) return;
    var others = {};
    var state = "viewing";

    function say(next) {
      state = next;
      var body = new FormData();
      body.append("csrf_token", csrfToken());
      body.append("state", next);
      return fetch(url, { method: "POST", body: body, credentials: "same-origin" }).catch(function () {});
    }

    function show() {
      var now = Date.now();
      var words = [];
      var replying = false;
      Object.keys(others).sort().forEach(function (id) {
        var other = others[id];
        if (other.until < now) {
          delete others[id];
          return;
        }
        words.push(other.name + (other.state === "replying" ? " is replying" : " is viewing"));
        replying = replying || other.state === "replying";
      });
      var text = words.join(" · ");
      if (shown.textContent !== text) shown.textContent = text;
      shown.classList.toggle("is-replying", replying);
    }

    var answerTimer = null;
    handlers.presence = function (message) {
      if (message.ticket_id !== ticketId || message.user_id === me) return;
      var known = Object.prototype.hasOwnProperty.call(others, message.user_id);
      if (message.state === "left") {
        delete others[message.user_id];
      } else {
        others[message.user_id] = {
          name: message.name,
          state: message.state,
          until: Date.now() + (message.expires_in || 45) * 1000,
        };
        // Someone new arrived: tell them at once that this page is here too.
        if (!known && !answerTimer) {
          answerTimer = window.setTimeout(function () {
            answerTimer = null;
            say(state);
          }, 200);
        }
      }
      show();
    };
    handlers.open = function () { say(state); };

    var textarea = document.querySelector("#composer textarea");
    if (textarea) {
      textarea.addEventListener("input", function () {
        var next = textarea.value.trim() !== "" ? "replying" : "viewing";
        if (next !== state) say(next);
      });
    }
    window.setInterval(function () { say(state); }, 20000);
    window.setInterval(show, 5000);
    window.addEventListener("pagehide", function () {
      var body = new FormData();
      body.append("csrf_token", csrfToken());
      body.append("state", "left");
      navigator.sendBeacon(url, body);
    });
  }

  // A notification pushed while the page is open: the unread badge goes up and a note shows for a
  // few seconds in a corner, with a link to its ticket.
  function notify(message) {
    var count = document.getElementById("unread-count");
    if (count && count.firstChild) {
      var shown = count.firstChild.nodeValue;
      if (shown.indexOf("+") < 0) {
        var next = Number(shown) + 1;
        count.firstChild.nodeValue = next > 99 ? "99+" : String(next);
      }
      count.hidden = false;
    }
    var toasts = document.getElementById("toasts");
    if (!toasts) return;
    var toast = document.createElement("div");
    toast.className = "toast";
    if (message.ticket_id) {
      var link = document.createElement("a");
      link.href = "/app/tickets/" + Number(message.ticket_id);
      link.textContent = message.message;
      toast.appendChild(link);
    } else {
      toast.textContent = message.message;
    }
    toasts.appendChild(toast);
    window.setTimeout(function () { toast.remove(); }, 8000);
  }

  // Bulk changes: the count of chosen tickets, and a box that chooses every ticket on the page.
  var bulkShown = null;

  function setUpBulk() {
    var form = document.getElementById("bulk");
    if (!form) return;
    var count = document.getElementById("bulk-count");
    function boxes() {
      return Array.prototype.slice.call(document.querySelectorAll("input[name=ticket]"));
    }
    function show() {
      var chosen = boxes().filter(function (box) { return box.checked; }).length;
      count.textContent = chosen === 1 ? "1 ticket chosen:" : chosen + " tickets chosen:";
      form.classList.toggle("has-chosen", chosen > 0);
      var all = document.getElementById("choose-all");
      if (all) {
        all.checked = chosen > 0 && chosen === boxes().length;
        all.indeterminate = chosen > 0 && chosen < boxes().length;
      }
    }
    document.addEventListener("change", function (event) {
      var target = event.target;
      if (target.id === "choose-all") {
        boxes().forEach(function (box) { box.checked = target.checked; });
      }
      if (target.id === "choose-all" || target.name === "ticket") show();
    });
    bulkShown = function () {
      var all = document.getElementById("choose-all");
      if (all) all.hidden = false;
      show();
    };
    bulkShown();
  }

  function setUpQueueLive(handlers) {
    handlers.ticket = refreshSoon;
    handlers.resync = refreshSoon;
  }

  function connect(handlers) {
    var url = document.body.dataset.events;
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    source.addEventListener("open", function () {
      document.body.dataset.live = "connected";
      if (handlers.open) handlers.open();
    });
    source.addEventListener("error", function () {
      document.body.dataset.live = source.readyState === EventSource.CLOSED ? "closed" : "reconnecting";
    });
    ["ticket", "presence", "notification", "resync"].forEach(function (name) {
      source.addEventListener(name, function (event) {
        var message;
        try {
          message = JSON.parse(event.data);
        } catch (error) {
          return;
        }
        if (handlers[name]) handlers[name](message);
      });
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  function setUpLive() {
    var root = document.querySelector("[data-live]");
    if (!root) return;
    var handlers = { notification: notify };
    if (root.dataset.live === "ticket") setUpTicketLive(root, handlers);
    else if (root.dataset.live === "queue") setUpQueueLive(handlers);
    else if (root.dataset.live === "inbox") {
      handlers.notification = function (message) {
        notify(message);
        refreshSoon();
      };
      handlers.resync = refreshSoon;
    }
    connect(handlers);
  }

  // --- Keyboard shortcuts, listed on "?" (the dialog in base.html) ----------------------------------

  function typingIn(element) {
    if (!element) return false;
    var tag = element.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || element.isContentEditable;
  }

  function ticketLinks() {
    return Array.prototype.slice.call(document.querySelectorAll("table.tickets tbody td.subject a"));
  }

  // j and k move the focus through the queue's tickets; the focused row is marked for the eye too.
  function moveInQueue(step) {
    var links = ticketLinks();
    if (!links.length) return;
    var at = links.indexOf(document.activeElement);
    var next = at < 0 ? (step > 0 ? 0 : links.length - 1) : Math.min(Math.max(at + step, 0), links.length - 1);
    links[next].focus();
    links[next].scrollIntoView({ block: "nearest" });
  }

  function toggleFocusedRow() {
    var active = document.activeElement;
    var row = active && active.closest ? active.closest("tr[data-ticket]") : null;
    var box = row && row.querySelector("input[type=checkbox]");
    if (box) {
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  function writeAs(kind) {
    var form = document.getElementById("composer");
    if (!form) return;
    var choice = form.querySelector("input[name=visibility][value=" + kind + "]");
    if (choice && !choice.checked) {
      choice.checked = true;
      choice.dispatchEvent(new Event("change", { bubbles: true }));
    }
    form.querySelector("textarea").focus();
  }

  function setUpShortcuts() {
    var dialog = document.getElementById("shortcuts");
    var button = document.getElementById("shortcuts-button");
    if (!dialog || !dialog.showModal) return;
    button.hidden = false;
    button.addEventListener("click", function () { dialog.showModal(); });
    var pendingG = false;
    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "Escape" && typingIn(document.activeElement)) {
        document.activeElement.blur();
        return;
      }
      if (typingIn(document.activeElement) || dialog.open) return;
      var key = event.key;
      if (pendingG) {
        pendingG = false;
        if (key === "q") window.location.href = "/app";
        else if (key === "i") window.location.href = "/app/inbox";
        event.preventDefault();
        return;
      }
      var search = document.getElementById("q");
      var status = document.getElementById("status");
      var actions = {
        "?": function () { dialog.showModal(); },
        g: function () {
          pendingG = true;
          window.setTimeout(function () { pendingG = false; }, 1500);
        },
        "/": function () {
          if (search) search.focus();
          else window.location.href = "/app#q";
        },
        j: function () { moveInQueue(1); },
        k: function () { moveInQueue(-1); },
        x: toggleFocusedRow,
        r: function () { writeAs("public"); },
        n: function () { writeAs("note"); },
        s: function () { if (status) status.focus(); },
        u: function () { if (document.querySelector("[data-live=ticket]")) window.location.href = "/app"; },
      };
      if (Object.prototype.hasOwnProperty.call(actions, key)) {
        event.preventDefault();
        actions[key]();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localiseTimes();
    updateCountdowns();
    setUpComposer();
    setUpLive();
    setUpShortcuts();
    setUpBulk();
    if (document.querySelector("time[data-countdown]")) {
      window.setInterval(updateCountdowns, 15000);
    }
  });
})();
