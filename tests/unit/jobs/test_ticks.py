"""Ticks: slices of time aligned to the Unix epoch, in UTC whatever zone the time is given in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportdesk.core.clock import Clock
from supportdesk.db.session import Database
from supportdesk.jobs.scheduler import ScheduledJob, current_tick, next_tick

MINUTE = timedelta(minutes=1)
FIVE_MINUTES = timedelta(minutes=5)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
PLUS_0530 = timezone(timedelta(hours=5, minutes=30))
MINUS_0800 = timezone(timedelta(hours=-8))


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


# (now, tick length, the tick now falls in, the next tick). The expectations are written out by hand
# (the unusual ones were checked with calendar.timegm), not computed the way the code computes them.
TICK_CASES = [
    pytest.param(utc(2026, 3, 2, 9, 0), MINUTE, utc(2026, 3, 2, 9, 0), utc(2026, 3, 2, 9, 1),
                 id="1min-exactly-on-a-boundary-starts-that-tick"),
    pytest.param(utc(2026, 3, 2, 9, 0, 0, 1), MINUTE, utc(2026, 3, 2, 9, 0), utc(2026, 3, 2, 9, 1),
                 id="1min-one-microsecond-after-a-boundary"),
    pytest.param(utc(2026, 3, 2, 9, 0, 59, 999_999), MINUTE, utc(2026, 3, 2, 9, 0), utc(2026, 3, 2, 9, 1),
                 id="1min-one-microsecond-before-the-next-boundary"),
    pytest.param(utc(2026, 3, 2, 9, 7, 30), FIVE_MINUTES, utc(2026, 3, 2, 9, 5), utc(2026, 3, 2, 9, 10),
                 id="5min-inside-a-tick"),
    pytest.param(utc(2026, 3, 2, 9, 10), FIVE_MINUTES, utc(2026, 3, 2, 9, 10), utc(2026, 3, 2, 9, 15),
                 id="5min-exactly-on-a-boundary"),
    pytest.param(utc(2026, 3, 2, 9, 4, 59), FIVE_MINUTES, utc(2026, 3, 2, 9, 0), utc(2026, 3, 2, 9, 5),
                 id="5min-a-second-before-a-boundary"),
    pytest.param(utc(2026, 3, 2, 9, 59, 59), HOUR, utc(2026, 3, 2, 9, 0), utc(2026, 3, 2, 10, 0),
                 id="1h-inside-a-tick"),
    pytest.param(utc(2026, 3, 2, 10, 0), HOUR, utc(2026, 3, 2, 10, 0), utc(2026, 3, 2, 11, 0),
                 id="1h-exactly-on-a-boundary"),
    pytest.param(utc(2026, 3, 2, 23, 30), HOUR, utc(2026, 3, 2, 23, 0), utc(2026, 3, 3, 0, 0),
                 id="1h-next-tick-is-tomorrow"),
    pytest.param(utc(2026, 3, 2, 9, 0), DAY, utc(2026, 3, 2), utc(2026, 3, 3),
                 id="1d-starts-at-utc-midnight"),
    pytest.param(utc(2026, 3, 3), DAY, utc(2026, 3, 3), utc(2026, 3, 4),
                 id="1d-exactly-at-midnight"),
    pytest.param(utc(2026, 2, 28, 23, 59), DAY, utc(2026, 2, 28), utc(2026, 3, 1),
                 id="1d-next-tick-is-next-month"),
    pytest.param(utc(2026, 3, 2, 9, 0), timedelta(minutes=13), utc(2026, 3, 2, 8, 53), utc(2026, 3, 2, 9, 6),
                 id="13min-is-aligned-to-the-epoch-not-to-the-hour"),
    pytest.param(utc(2026, 3, 2, 9, 0), timedelta(days=7), utc(2026, 2, 26), utc(2026, 3, 5),
                 id="1w-starts-on-thursday-like-the-epoch"),
    pytest.param(utc(2026, 3, 2, 9, 0, 0, 300_000), timedelta(milliseconds=250),
                 utc(2026, 3, 2, 9, 0, 0, 250_000), utc(2026, 3, 2, 9, 0, 0, 500_000),
                 id="250ms-sub-second-ticks-are-exact"),
    pytest.param(utc(1969, 12, 31, 23, 59, 30), MINUTE, utc(1969, 12, 31, 23, 59), utc(1970, 1, 1),
                 id="1min-before-the-epoch-rounds-down-not-towards-it"),
    pytest.param(datetime(2026, 3, 2, 14, 37, tzinfo=PLUS_0530), FIVE_MINUTES,
                 utc(2026, 3, 2, 9, 5), utc(2026, 3, 2, 9, 10),
                 id="5min-given-in-india-time"),
    pytest.param(datetime(2026, 3, 2, 1, 7, tzinfo=MINUS_0800), FIVE_MINUTES,
                 utc(2026, 3, 2, 9, 5), utc(2026, 3, 2, 9, 10),
                 id="5min-given-in-california-time"),
    pytest.param(datetime(2026, 3, 3, 2, 0, tzinfo=PLUS_0530), DAY, utc(2026, 3, 2), utc(2026, 3, 3),
                 id="1d-is-the-utc-day-not-the-local-day"),
    pytest.param(datetime(2026, 3, 2, 10, 30, tzinfo=PLUS_0530), HOUR, utc(2026, 3, 2, 5, 0),
                 utc(2026, 3, 2, 6, 0),
                 id="1h-half-hour-zone-still-gets-whole-utc-hours"),
]  # fmt: skip


@pytest.mark.parametrize(("now", "every", "tick", "following"), TICK_CASES)
def test_current_and_next_tick(now: datetime, every: timedelta, tick: datetime, following: datetime) -> None:
    assert current_tick(now, every) == tick
    assert next_tick(now, every) == following


@pytest.mark.parametrize(("now", "every", "tick", "following"), TICK_CASES)
def test_ticks_are_told_in_utc(now: datetime, every: timedelta, tick: datetime, following: datetime) -> None:
    assert current_tick(now, every).tzinfo is UTC
    assert next_tick(now, every).tzinfo is UTC


@given(
    now=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
    every=st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=400)),
)
def test_now_lies_in_its_tick_and_ticks_sit_on_multiples_of_the_length(
    now: datetime, every: timedelta
) -> None:
    tick = current_tick(now, every)
    assert tick <= now < next_tick(now, every)
    assert next_tick(now, every) - tick == every
    assert (tick - datetime(1970, 1, 1, tzinfo=UTC)) % every == timedelta(0)


@pytest.mark.parametrize("function", [current_tick, next_tick], ids=["current-tick", "next-tick"])
def test_a_naive_time_is_refused(function: Callable[[datetime, timedelta], datetime]) -> None:
    with pytest.raises(ValueError, match="naive"):
        function(datetime(2026, 3, 2, 9, 0), MINUTE)


@pytest.mark.parametrize(
    "every",
    [pytest.param(timedelta(0), id="zero"), pytest.param(-MINUTE, id="negative")],
)
def test_a_tick_length_that_is_not_positive_is_refused(every: timedelta) -> None:
    with pytest.raises(ValueError, match="positive"):
        current_tick(utc(2026, 3, 2, 9, 0), every)


async def _nothing(_database: Database, _clock: Clock) -> Mapping[str, int]:
    return {}


@pytest.mark.parametrize(
    ("name", "every", "message"),
    [
        pytest.param("", MINUTE, "1 to 64 characters", id="empty-name"),
        pytest.param("j" * 65, MINUTE, "1 to 64 characters", id="name-longer-than-the-column"),
        pytest.param("sla.escalate", timedelta(0), "positive", id="zero-tick"),
        pytest.param("sla.escalate", -HOUR, "positive", id="negative-tick"),
    ],
)
def test_a_job_that_could_never_be_claimed_is_refused_when_declared(
    name: str, every: timedelta, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ScheduledJob(name=name, every=every, run=_nothing)


def test_a_job_name_of_64_characters_is_accepted() -> None:
    assert ScheduledJob(name="j" * 64, every=MINUTE, run=_nothing).name == "j" * 64
