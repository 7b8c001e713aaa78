"""How the pages write times, sizes and values, and address their static files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from supportdesk.tickets.models import Channel, TicketStatus
from supportdesk.web.templating import (
    Pages,
    StaticFiles,
    format_duration,
    format_size,
    format_time,
    label,
    until,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(59, "0 min", id="under-a-minute"),
        pytest.param(45 * 60, "45 min", id="minutes"),
        pytest.param(3 * 3600 + 12 * 60 + 30, "3 h 12 min", id="hours"),
        pytest.param(2 * 86400 + 4 * 3600 + 59 * 60, "2 d 4 h", id="days"),
        pytest.param(-(90 * 60), "1 h 30 min", id="overdue-counts-the-same"),
    ],
)
def test_durations_in_their_two_largest_units(seconds: float, expected: str) -> None:
    assert format_duration(seconds) == expected


def test_a_due_time_reads_as_time_left_or_overdue() -> None:
    assert until(NOW + timedelta(minutes=20), NOW) == "in 20 min"
    assert until(NOW - timedelta(hours=2), NOW) == "2 h 0 min overdue"


def test_times_sizes_and_values_read_as_words() -> None:
    assert format_time(NOW) == "2026-03-02 09:00 UTC"
    assert format_time(None) == ""
    assert [format_size(size) for size in (812, 14 * 1024, 2_400_000)] == ["812 bytes", "14 KB", "2.3 MB"]
    assert label(TicketStatus.in_progress) == "In progress"
    assert label(Channel.api) == "API"
    assert label("general") == "General"


def test_static_files_are_addressed_by_a_hash_of_their_content(tmp_path: Path) -> None:
    (tmp_path / "app.css").write_text("body { color: black; }")
    before = StaticFiles(tmp_path, "/static").url("app.css")
    (tmp_path / "app.css").write_text("body { color: navy; }")
    after = StaticFiles(tmp_path, "/static").url("app.css")

    assert before.startswith("/static/app.css?v=")
    assert before != after
    with pytest.raises(KeyError):
        StaticFiles(tmp_path, "/static").url("missing.js")


def test_templates_escape_what_they_print_and_refuse_unknown_names() -> None:
    pages = Pages()
    environment = pages.environment

    printed = environment.from_string("<p>{{ text }}</p>").render(text='<script>alert("x")</script>')

    assert printed == "<p>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</p>"
    with pytest.raises(UndefinedError):
        environment.from_string("{{ missing }}").render()
