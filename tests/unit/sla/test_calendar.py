"""Business-time maths for SLA due times: calendar time, business hours, DST, holidays, validation."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from supportdesk.sla.calendar import (
    CALENDAR_TIME,
    BusinessHours,
    Calendar,
    CalendarTime,
    InvalidCalendar,
    business_hours,
    parse_clock_time,
)

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
ZERO = timedelta(0)

NINE_TO_FIVE = {weekday: [(9 * 60, 17 * 60)] for weekday in range(5)}
EVERY_DAY_NINE_TO_FIVE = {weekday: [(9 * 60, 17 * 60)] for weekday in range(7)}
ROUND_THE_CLOCK = {weekday: [(0, 24 * 60)] for weekday in range(7)}

PLAIN = business_hours("America/New_York", NINE_TO_FIVE)
OFFICE = business_hours(
    "America/New_York", NINE_TO_FIVE, holiday_country="US", custom_holidays=[date(2026, 12, 24)]
)
LUNCH_BREAK = business_hours(
    "America/New_York", {d: [(9 * 60, 12 * 60), (13 * 60, 17 * 60)] for d in range(5)}
)
EVENINGS = business_hours("America/New_York", {d: [(16 * 60, 24 * 60)] for d in range(5)})
# Monday 22:00 to Tuesday 06:00, split at midnight.
NIGHT_SHIFT = business_hours("America/New_York", {0: [(22 * 60, 24 * 60)], 1: [(0, 6 * 60)]})
DAILY_NEW_YORK = business_hours("America/New_York", EVERY_DAY_NINE_TO_FIVE)
DAILY_BERLIN = business_hours("Europe/Berlin", EVERY_DAY_NINE_TO_FIVE)
ALWAYS_NEW_YORK = business_hours("America/New_York", ROUND_THE_CLOCK)
ALWAYS_BERLIN = business_hours("Europe/Berlin", ROUND_THE_CLOCK)


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def sunday_only(zone: str, start: str, end: str) -> BusinessHours:
    return business_hours(zone, {6: [(parse_clock_time(start), parse_clock_time(end))]})


class TestAdd:
    @pytest.mark.parametrize(
        ("calendar", "start", "duration", "expected"),
        [
            pytest.param(OFFICE, ny(2026, 5, 5, 10), 2 * HOUR, ny(2026, 5, 5, 12), id="inside-hours"),
            pytest.param(OFFICE, ny(2026, 5, 5, 7), 2 * HOUR, ny(2026, 5, 5, 11), id="before-opening"),
            pytest.param(OFFICE, ny(2026, 5, 5, 18), 2 * HOUR, ny(2026, 5, 6, 11), id="after-closing"),
            pytest.param(OFFICE, ny(2026, 5, 9, 10), HOUR, ny(2026, 5, 11, 10), id="on-a-saturday"),
            pytest.param(
                OFFICE, ny(2026, 5, 5, 13), 4 * HOUR, ny(2026, 5, 5, 17), id="ending-exactly-at-closing"
            ),
            pytest.param(
                OFFICE,
                ny(2026, 5, 1, 16),
                4 * HOUR,
                ny(2026, 5, 4, 12),
                id="friday-16h-plus-4h-is-monday-noon",
            ),
            pytest.param(OFFICE, ny(2025, 7, 3, 16), 2 * HOUR, ny(2025, 7, 7, 10), id="us-july-4th"),
            pytest.param(OFFICE, ny(2025, 7, 4, 10), HOUR, ny(2025, 7, 7, 10), id="starting-on-a-holiday"),
            pytest.param(
                OFFICE, ny(2026, 7, 2, 16), 2 * HOUR, ny(2026, 7, 6, 10), id="us-july-4th-observed-on-friday"
            ),
            pytest.param(
                OFFICE,
                ny(2026, 12, 23, 16),
                2 * HOUR,
                ny(2026, 12, 28, 10),
                id="custom-holiday-then-christmas",
            ),
            pytest.param(
                OFFICE, ny(2026, 5, 5, 20), ZERO, ny(2026, 5, 5, 20), id="zero-keeps-a-closed-start"
            ),
            pytest.param(OFFICE, utc(2026, 5, 5, 13), HOUR, ny(2026, 5, 5, 10), id="start-given-in-utc"),
            pytest.param(
                PLAIN,
                ny(2026, 1, 5, 9),
                400 * HOUR,
                ny(2026, 3, 13, 17),
                id="ten-weeks-end-on-friday-closing",
            ),
            pytest.param(
                OFFICE, ny(2026, 1, 5, 9), 400 * HOUR, ny(2026, 3, 17, 17), id="ten-weeks-over-two-holidays"
            ),
            pytest.param(LUNCH_BREAK, ny(2026, 5, 5, 11), 2 * HOUR, ny(2026, 5, 5, 14), id="over-lunch"),
            pytest.param(LUNCH_BREAK, ny(2026, 5, 5, 12, 30), HOUR, ny(2026, 5, 5, 14), id="during-lunch"),
            pytest.param(LUNCH_BREAK, ny(2026, 5, 5, 11), HOUR, ny(2026, 5, 5, 12), id="ending-at-lunch"),
            pytest.param(LUNCH_BREAK, ny(2026, 5, 5, 14), HOUR, ny(2026, 5, 5, 15), id="in-the-afternoon"),
            pytest.param(EVENINGS, ny(2026, 5, 5, 22), 2 * HOUR, ny(2026, 5, 6), id="ending-at-24h"),
            pytest.param(EVENINGS, ny(2026, 5, 5, 23), 2 * HOUR, ny(2026, 5, 6, 17), id="past-24h"),
            pytest.param(NIGHT_SHIFT, ny(2026, 5, 4, 23), 3 * HOUR, ny(2026, 5, 5, 2), id="night-shift"),
            pytest.param(
                NIGHT_SHIFT, ny(2026, 5, 4, 22), 8 * HOUR, ny(2026, 5, 5, 6), id="whole-night-shift"
            ),
            pytest.param(
                NIGHT_SHIFT, ny(2026, 5, 5, 5), 2 * HOUR, ny(2026, 5, 11, 23), id="night-shift-next-week"
            ),
        ],
    )
    def test_due_times(
        self, calendar: BusinessHours, start: datetime, duration: timedelta, expected: datetime
    ) -> None:
        due = calendar.add(start, duration)
        assert due == expected
        assert due.tzinfo is UTC

    @pytest.mark.parametrize(
        "calendar",
        [OFFICE, LUNCH_BREAK, NIGHT_SHIFT, DAILY_BERLIN, ALWAYS_NEW_YORK],
        ids=["office", "lunch-break", "night-shift", "daily-berlin", "always-new-york"],
    )
    def test_a_long_duration_lands_where_many_short_ones_do(self, calendar: BusinessHours) -> None:
        start = ny(2026, 1, 2, 11, 17)
        walked = start
        for _ in range(100):
            walked = calendar.add(walked, 10 * HOUR)
        assert calendar.add(start, 1000 * HOUR) == walked

    def test_a_negative_duration_is_refused(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            OFFICE.add(ny(2026, 5, 5, 10), -MINUTE)

    def test_a_dst_change_inside_a_short_week_is_still_counted(self) -> None:
        # One hour a week, but the 01:00-02:00 interval is two real hours on the fall-back night.
        calendar = sunday_only("America/New_York", "01:00", "02:00")
        assert calendar.add(ny(2026, 10, 28), 2 * HOUR) == utc(2026, 11, 1, 7)
        assert calendar.add(ny(2026, 10, 28), 3 * HOUR) == utc(2026, 11, 8, 7)


class TestBetween:
    @pytest.mark.parametrize(
        ("calendar", "start", "end", "expected"),
        [
            pytest.param(OFFICE, ny(2026, 5, 5, 10), ny(2026, 5, 5, 12), 2 * HOUR, id="same-day"),
            pytest.param(OFFICE, ny(2026, 5, 1, 16), ny(2026, 5, 4, 12), 4 * HOUR, id="over-a-weekend"),
            pytest.param(
                OFFICE, ny(2026, 5, 4, 12), ny(2026, 5, 1, 16), -4 * HOUR, id="reversed-is-negative"
            ),
            pytest.param(OFFICE, ny(2026, 5, 5, 18), ny(2026, 5, 6, 8), ZERO, id="overnight"),
            pytest.param(OFFICE, ny(2026, 5, 5, 10), ny(2026, 5, 5, 10), ZERO, id="empty-span"),
            pytest.param(OFFICE, ny(2026, 7, 2), ny(2026, 7, 7), 16 * HOUR, id="over-july-4th-observed"),
            pytest.param(PLAIN, ny(2026, 1, 1), ny(2027, 1, 1), 261 * 8 * HOUR, id="a-year-of-weekdays"),
            pytest.param(OFFICE, ny(2026, 1, 1), ny(2027, 1, 1), 249 * 8 * HOUR, id="a-year-less-holidays"),
            pytest.param(LUNCH_BREAK, ny(2026, 5, 5), ny(2026, 5, 6), 7 * HOUR, id="lunch-not-counted"),
            pytest.param(NIGHT_SHIFT, ny(2026, 5, 4, 23), ny(2026, 5, 5, 1), 2 * HOUR, id="across-midnight"),
            pytest.param(EVENINGS, ny(2026, 5, 5, 23), ny(2026, 5, 6, 17), 2 * HOUR, id="24h-end"),
            pytest.param(
                ALWAYS_NEW_YORK, ny(2026, 1, 1), ny(2027, 1, 1), 365 * 24 * HOUR, id="a-year-round-the-clock"
            ),
        ],
    )
    def test_open_time(
        self, calendar: BusinessHours, start: datetime, end: datetime, expected: timedelta
    ) -> None:
        assert calendar.between(start, end) == expected

    @pytest.mark.parametrize(
        "calendar",
        [
            OFFICE,
            LUNCH_BREAK,
            NIGHT_SHIFT,
            DAILY_BERLIN,
            ALWAYS_NEW_YORK,
            sunday_only("Europe/Berlin", "02:30", "03:30"),
        ],
        ids=["office", "lunch-break", "night-shift", "daily-berlin", "always-new-york", "in-the-dst-gap"],
    )
    def test_a_long_span_counts_what_its_pieces_count(self, calendar: BusinessHours) -> None:
        # 23-hour steps, so the pieces start at every time of day and each covers at most two days.
        instants = [utc(2025, 12, 1, 5, 7) + n * 23 * HOUR for n in range(420)]
        pieces = sum((calendar.between(a, b) for a, b in itertools.pairwise(instants)), ZERO)
        assert calendar.between(instants[0], instants[-1]) == pieces

    def test_a_closed_dst_day_counts_nothing(self) -> None:
        calendar = business_hours("America/New_York", ROUND_THE_CLOCK, custom_holidays=[date(2026, 3, 8)])
        assert calendar.between(ny(2026, 1, 1), ny(2027, 1, 1)) == (365 * 24 - 23) * HOUR


class TestIsOpen:
    @pytest.mark.parametrize(
        ("calendar", "at", "expected"),
        [
            pytest.param(OFFICE, ny(2026, 5, 5, 9), True, id="at-opening"),
            pytest.param(OFFICE, ny(2026, 5, 5, 16, 59), True, id="before-closing"),
            pytest.param(OFFICE, ny(2026, 5, 5, 17), False, id="at-closing"),
            pytest.param(OFFICE, ny(2026, 5, 5, 8, 59), False, id="before-opening"),
            pytest.param(OFFICE, ny(2026, 5, 9, 12), False, id="saturday"),
            pytest.param(OFFICE, ny(2026, 7, 3, 12), False, id="holiday"),
            pytest.param(OFFICE, ny(2026, 12, 24, 12), False, id="custom-holiday"),
            pytest.param(NIGHT_SHIFT, ny(2026, 5, 4, 23, 59), True, id="night-shift-before-midnight"),
            pytest.param(NIGHT_SHIFT, ny(2026, 5, 5), True, id="night-shift-at-midnight"),
            pytest.param(NIGHT_SHIFT, ny(2026, 5, 5, 6), False, id="night-shift-over"),
        ],
    )
    def test_opening_hours(self, calendar: BusinessHours, at: datetime, expected: bool) -> None:
        assert calendar.is_open(at) is expected


class TestDaylightSaving:
    @pytest.mark.parametrize(
        ("calendar", "day"),
        [
            pytest.param(DAILY_NEW_YORK, date(2026, 3, 8), id="new-york-spring-forward"),
            pytest.param(DAILY_NEW_YORK, date(2026, 11, 1), id="new-york-fall-back"),
            pytest.param(DAILY_BERLIN, date(2026, 3, 29), id="berlin-spring-forward"),
            pytest.param(DAILY_BERLIN, date(2026, 10, 25), id="berlin-fall-back"),
        ],
    )
    def test_a_nine_to_five_day_stays_eight_hours(self, calendar: BusinessHours, day: date) -> None:
        midnight = datetime(day.year, day.month, day.day, tzinfo=calendar.zone)
        assert calendar.between(midnight, midnight + timedelta(days=1)) == 8 * HOUR

    @pytest.mark.parametrize(
        ("calendar", "start", "expected_local", "expected_utc"),
        [
            pytest.param(
                DAILY_NEW_YORK, ny(2026, 3, 7, 16), ny(2026, 3, 8, 10), utc(2026, 3, 8, 14), id="ny-spring"
            ),
            pytest.param(
                DAILY_NEW_YORK, ny(2026, 10, 31, 16), ny(2026, 11, 1, 10), utc(2026, 11, 1, 15), id="ny-fall"
            ),
            pytest.param(
                DAILY_BERLIN,
                berlin(2026, 3, 28, 16),
                berlin(2026, 3, 29, 10),
                utc(2026, 3, 29, 8),
                id="berlin-spring",
            ),
            pytest.param(
                DAILY_BERLIN,
                berlin(2026, 10, 24, 16),
                berlin(2026, 10, 25, 10),
                utc(2026, 10, 25, 9),
                id="berlin-fall",
            ),
        ],
    )
    def test_due_times_keep_the_local_wall_clock(
        self, calendar: BusinessHours, start: datetime, expected_local: datetime, expected_utc: datetime
    ) -> None:
        due = calendar.add(start, 2 * HOUR)
        assert due == expected_local == expected_utc
        assert due.astimezone(calendar.zone).hour == 10

    @pytest.mark.parametrize(
        ("calendar", "day", "hours"),
        [
            pytest.param(ALWAYS_NEW_YORK, date(2026, 3, 7), 24, id="new-york-ordinary-day"),
            pytest.param(ALWAYS_NEW_YORK, date(2026, 3, 8), 23, id="new-york-spring-forward"),
            pytest.param(ALWAYS_NEW_YORK, date(2026, 11, 1), 25, id="new-york-fall-back"),
            pytest.param(ALWAYS_BERLIN, date(2026, 3, 29), 23, id="berlin-spring-forward"),
            pytest.param(ALWAYS_BERLIN, date(2026, 10, 25), 25, id="berlin-fall-back"),
        ],
    )
    def test_a_whole_day_counts_real_time(self, calendar: BusinessHours, day: date, hours: int) -> None:
        midnight = datetime(day.year, day.month, day.day, tzinfo=calendar.zone)
        next_midnight = midnight + timedelta(days=1)  # wall-clock arithmetic: the next local midnight
        assert calendar.between(midnight, next_midnight) == hours * HOUR
        assert calendar.add(midnight, hours * HOUR) == next_midnight

    @pytest.mark.parametrize(
        ("start", "end", "day", "opens", "closes"),
        [
            # Skipped times (Berlin, 29 March: 02:00-03:00 does not exist) become the moment of the change.
            pytest.param(
                "02:30",
                "03:30",
                date(2026, 3, 29),
                utc(2026, 3, 29, 1),
                utc(2026, 3, 29, 1, 30),
                id="gap-start",
            ),
            pytest.param(
                "01:00", "02:30", date(2026, 3, 29), utc(2026, 3, 29), utc(2026, 3, 29, 1), id="gap-end"
            ),
            pytest.param(
                "01:00", "04:00", date(2026, 3, 29), utc(2026, 3, 29), utc(2026, 3, 29, 2), id="over-the-gap"
            ),
            # Repeated times (Berlin, 25 October: 02:00-03:00 happens twice) mean their first occurrence.
            pytest.param(
                "02:00",
                "02:30",
                date(2026, 10, 25),
                utc(2026, 10, 25),
                utc(2026, 10, 25, 0, 30),
                id="repeated",
            ),
            pytest.param(
                "02:30",
                "03:00",
                date(2026, 10, 25),
                utc(2026, 10, 25, 0, 30),
                utc(2026, 10, 25, 2),
                id="into-repeat",
            ),
            pytest.param(
                "01:00",
                "04:00",
                date(2026, 10, 25),
                utc(2026, 10, 24, 23),
                utc(2026, 10, 25, 3),
                id="over-repeat",
            ),
        ],
    )
    def test_skipped_and_repeated_times(
        self, start: str, end: str, day: date, opens: datetime, closes: datetime
    ) -> None:
        calendar = sunday_only("Europe/Berlin", start, end)
        week_before = datetime(day.year, day.month, day.day, tzinfo=BERLIN) - timedelta(days=6)
        assert calendar.add(week_before, MINUTE) == opens + MINUTE
        assert calendar.add(week_before, closes - opens) == closes
        assert calendar.between(opens - HOUR, closes + HOUR) == closes - opens
        assert calendar.is_open(opens)
        assert not calendar.is_open(opens - MINUTE)
        assert not calendar.is_open(closes)

    def test_an_interval_inside_the_gap_is_closed(self) -> None:
        calendar = sunday_only("Europe/Berlin", "02:00", "03:00")
        assert calendar.between(berlin(2026, 3, 29), berlin(2026, 3, 30)) == ZERO
        assert calendar.add(berlin(2026, 3, 28, 12), HOUR) == berlin(2026, 4, 5, 3)

    def test_the_second_pass_of_a_repeated_hour_is_closed(self) -> None:
        calendar = sunday_only("Europe/Berlin", "02:00", "02:30")
        assert calendar.is_open(utc(2026, 10, 25, 0, 15))  # 02:15 summer time
        assert not calendar.is_open(utc(2026, 10, 25, 1, 15))  # 02:15 winter time

    def test_a_fall_back_across_midnight(self) -> None:
        # Chile turns its clocks from 00:00 back to 23:00 the day before.
        calendar = business_hours("America/Santiago", {5: [(23 * 60, 24 * 60)], 6: [(0, 60)]})
        saturday = datetime(2026, 4, 4, 12, tzinfo=ZoneInfo("America/Santiago"))
        assert calendar.between(saturday, saturday + timedelta(days=1)) == 3 * HOUR
        assert calendar.add(saturday, 3 * HOUR) == utc(2026, 4, 5, 5)


class TestClosedDates:
    def test_a_plain_set_of_dates_works_like_custom_holidays(self) -> None:
        days = [date(2026, month, 1) for month in range(1, 13)]
        built = business_hours("America/New_York", NINE_TO_FIVE, custom_holidays=days)
        direct = BusinessHours(NEW_YORK, built.weekly, frozenset(days))
        assert direct.between(ny(2026, 1, 1), ny(2027, 1, 1)) == built.between(ny(2026, 1, 1), ny(2027, 1, 1))
        assert direct.add(ny(2026, 1, 1), 1000 * HOUR) == built.add(ny(2026, 1, 1), 1000 * HOUR)

    def test_any_container_of_dates_works(self) -> None:
        class FirstOfTheMonth:
            def __contains__(self, item: object) -> bool:
                return isinstance(item, date) and item.day == 1

        built = business_hours(
            "America/New_York", NINE_TO_FIVE, custom_holidays=[date(2026, m, 1) for m in range(1, 13)]
        )
        direct = BusinessHours(NEW_YORK, built.weekly, FirstOfTheMonth())
        assert direct.between(ny(2026, 1, 1), ny(2027, 1, 1)) == built.between(ny(2026, 1, 1), ny(2027, 1, 1))

    @pytest.mark.parametrize(
        ("country", "subdivision", "closed", "open_"),
        [
            pytest.param("US", "CA", date(2026, 3, 31), date(2026, 4, 1), id="california-cesar-chavez-day"),
            pytest.param("DE", "BY", date(2026, 1, 6), date(2026, 1, 7), id="bavaria-epiphany"),
            pytest.param("DE", None, date(2026, 10, 3), date(2026, 10, 2), id="germany-unity-day"),
        ],
    )
    def test_regional_holidays(
        self, country: str, subdivision: str | None, closed: date, open_: date
    ) -> None:
        calendar = business_hours(
            "UTC", ROUND_THE_CLOCK, holiday_country=country, holiday_subdivision=subdivision
        )
        assert not calendar.is_open(datetime(closed.year, closed.month, closed.day, 12, tzinfo=UTC))
        assert calendar.is_open(datetime(open_.year, open_.month, open_.day, 12, tzinfo=UTC))

    def test_calendars_from_the_same_input_are_equal(self) -> None:
        assert business_hours("America/New_York", NINE_TO_FIVE, holiday_country="US") == business_hours(
            "America/New_York", dict(NINE_TO_FIVE), holiday_country="US"
        )


class TestCalendarTime:
    def test_counts_every_instant_in_utc(self) -> None:
        saturday_noon = ny(2026, 3, 7, 12)
        assert CALENDAR_TIME.add(saturday_noon, 24 * HOUR) == ny(2026, 3, 8, 13)
        assert CALENDAR_TIME.add(saturday_noon, 24 * HOUR).tzinfo is UTC
        assert CALENDAR_TIME.between(ny(2026, 3, 8), ny(2026, 3, 9)) == 23 * HOUR
        assert CALENDAR_TIME.between(ny(2026, 3, 9), ny(2026, 3, 8)) == -23 * HOUR
        assert CALENDAR_TIME.is_open(saturday_noon)

    def test_is_one_shared_instance(self) -> None:
        assert isinstance(CALENDAR_TIME, CalendarTime)
        assert repr(CALENDAR_TIME) == "CalendarTime()"

    def test_a_negative_duration_is_refused(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            CALENDAR_TIME.add(utc(2026, 1, 1), -MINUTE)


NAIVE = datetime(2026, 5, 5, 10)
AWARE = utc(2026, 5, 5, 10)


@pytest.mark.parametrize("calendar", [CALENDAR_TIME, OFFICE], ids=["calendar-time", "business-hours"])
class TestNaiveDatetimes:
    def test_add(self, calendar: Calendar) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            calendar.add(NAIVE, HOUR)

    @pytest.mark.parametrize(("start", "end"), [(NAIVE, AWARE), (AWARE, NAIVE)], ids=["start", "end"])
    def test_between(self, calendar: Calendar, start: datetime, end: datetime) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            calendar.between(start, end)

    def test_is_open(self, calendar: Calendar) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            calendar.is_open(NAIVE)


def _invalid(
    timezone: str = "America/New_York",
    weekly_hours: Mapping[int, Sequence[tuple[int, int]]] | None = None,
    **options: Any,
) -> InvalidCalendar:
    with pytest.raises(InvalidCalendar) as caught:
        business_hours(timezone, NINE_TO_FIVE if weekly_hours is None else weekly_hours, **options)
    return caught.value


class TestValidation:
    @pytest.mark.parametrize(
        ("arguments", "field", "reason"),
        [
            pytest.param({"timezone": "Mars/Olympus"}, "timezone", "unknown-timezone", id="unknown-zone"),
            pytest.param({"timezone": ""}, "timezone", "unknown-timezone", id="empty-zone"),
            pytest.param({"timezone": "/etc/localtime"}, "timezone", "unknown-timezone", id="zone-path"),
            pytest.param({"timezone": "localtime"}, "timezone", "unknown-timezone", id="host-zone"),
            pytest.param({"timezone": "right/UTC"}, "timezone", "unknown-timezone", id="leap-second-zone"),
            pytest.param({"weekly_hours": {0: [(600, 540)]}}, "weekly_hours", "bad-interval", id="end-first"),
            pytest.param(
                {"weekly_hours": {0: [(540, 540)]}}, "weekly_hours", "bad-interval", id="empty-interval"
            ),
            pytest.param(
                {"weekly_hours": {0: [(540, 600, 660)]}}, "weekly_hours", "bad-interval", id="triple"
            ),
            pytest.param(
                {"weekly_hours": {0: [(9.0, 17.0)]}}, "weekly_hours", "bad-interval", id="not-minutes"
            ),
            pytest.param(
                {"weekly_hours": {0: [(540, 1441)]}}, "weekly_hours", "minute-out-of-range", id="past-24h"
            ),
            pytest.param(
                {"weekly_hours": {0: [(-1, 60)]}}, "weekly_hours", "minute-out-of-range", id="negative"
            ),
            pytest.param(
                {"weekly_hours": {0: [(540, 720), (700, 1020)]}},
                "weekly_hours",
                "overlapping-hours",
                id="overlap",
            ),
            pytest.param(
                {"weekly_hours": {0: [(700, 1020), (540, 720)]}},
                "weekly_hours",
                "overlapping-hours",
                id="overlap-out-of-order",
            ),
            pytest.param({"weekly_hours": {}}, "weekly_hours", "empty-week", id="no-days"),
            pytest.param({"weekly_hours": {0: [], 3: []}}, "weekly_hours", "empty-week", id="no-hours"),
            pytest.param(
                {"weekly_hours": {7: [(540, 600)]}}, "weekly_hours", "unknown-weekday", id="weekday-7"
            ),
            pytest.param(
                {"weekly_hours": {"0": [(540, 600)]}}, "weekly_hours", "unknown-weekday", id="text-day"
            ),
            pytest.param(
                {"holiday_country": "XX"}, "holiday_country", "unknown-country", id="unknown-country"
            ),
            pytest.param(
                {"holiday_country": "US", "holiday_subdivision": "ZZ"},
                "holiday_subdivision",
                "unknown-subdivision",
                id="unknown-subdivision",
            ),
            pytest.param(
                {"holiday_subdivision": "CA"},
                "holiday_subdivision",
                "subdivision-without-country",
                id="subdivision-without-country",
            ),
            pytest.param(
                {"custom_holidays": [datetime(2026, 12, 24)]},
                "custom_holidays",
                "not-a-date",
                id="datetime-holiday",
            ),
        ],
    )
    def test_refused_input(self, arguments: dict[str, Any], field: str, reason: str) -> None:
        error = _invalid(**arguments)
        assert isinstance(error, ValueError)
        assert (error.field, error.reason) == (field, reason)
        assert str(error) == error.message
        assert error.message.endswith(".")

    def test_the_same_unknown_country_is_refused_every_time(self) -> None:
        assert (
            _invalid(holiday_country="XX").reason
            == _invalid(holiday_country="XX").reason
            == "unknown-country"
        )

    def test_a_week_of_other_than_seven_days_is_refused(self) -> None:
        with pytest.raises(InvalidCalendar) as caught:
            BusinessHours(NEW_YORK, ((),) * 6)
        assert (caught.value.field, caught.value.reason) == ("weekly_hours", "bad-week")

    def test_touching_intervals_are_accepted_and_sorted(self) -> None:
        calendar = business_hours("Europe/Berlin", {2: [(720, 1020), (540, 720)]})
        assert calendar.weekly[2] == ((540, 720), (720, 1020))
        assert calendar.weekly[0] == ()


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        pytest.param("00:00", 0, id="midnight"),
        pytest.param("09:00", 9 * 60, id="nine"),
        pytest.param("9:00", 9 * 60, id="one-digit-hour"),
        pytest.param("12:30", 12 * 60 + 30, id="half-past-twelve"),
        pytest.param("23:59", 23 * 60 + 59, id="last-minute"),
        pytest.param("24:00", 24 * 60, id="end-of-day"),
    ],
)
def test_parse_clock_time(text: str, minutes: int) -> None:
    assert parse_clock_time(text) == minutes


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("25:00", id="hour-25"),
        pytest.param("24:01", id="past-end-of-day"),
        pytest.param("12:60", id="minute-60"),
        pytest.param("9", id="hour-only"),
        pytest.param("0900", id="no-colon"),
        pytest.param("9:5", id="one-digit-minute"),
        pytest.param("009:00", id="three-digit-hour"),
        pytest.param("09:00:00", id="seconds"),
        pytest.param(" 09:00", id="leading-space"),
        pytest.param("09:00\n", id="trailing-newline"),
        pytest.param("-1:00", id="negative"),
        pytest.param("\u0660\u0669:\u0660\u0660", id="arabic-indic-digits"),
    ],
)
def test_parse_clock_time_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_clock_time(text)


# --- Properties -------------------------------------------------------------------------------------

ZONE_NAMES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "America/Santiago",  # changes at midnight
    "Australia/Lord_Howe",  # changes by half an hour
    "Asia/Kolkata",  # no changes, odd offset
]
_QUARTERS_PER_DAY = 96
# Opening and closing times in quarter hours from Monday 00:00: quarter hours land on DST changes
# (02:00, 02:30, 24:00), and intervals that run past midnight are split as a user would enter them.
_WEEK_BOUNDARIES = st.sets(st.integers(0, 7 * _QUARTERS_PER_DAY), min_size=2, max_size=14)


def _week(boundaries: set[int]) -> dict[int, list[tuple[int, int]]]:
    ordered = sorted(boundaries)
    week: dict[int, list[tuple[int, int]]] = {weekday: [] for weekday in range(7)}
    for opens, closes in zip(ordered[::2], ordered[1::2], strict=False):
        for weekday in range(opens // _QUARTERS_PER_DAY, (closes - 1) // _QUARTERS_PER_DAY + 1):
            midnight = weekday * _QUARTERS_PER_DAY
            start = max(opens, midnight) - midnight
            end = min(closes, midnight + _QUARTERS_PER_DAY) - midnight
            week[weekday].append((start * 15, end * 15))
    return week


_CUSTOM_HOLIDAYS = st.lists(st.integers(0, 6 * 366), max_size=6).map(
    lambda offsets: [date(2024, 1, 1) + timedelta(days=n) for n in offsets]
)


@st.composite
def _business_calendars(draw: st.DrawFn) -> BusinessHours:
    return business_hours(
        draw(st.sampled_from(ZONE_NAMES)),
        _week(draw(_WEEK_BOUNDARIES)),
        holiday_country=draw(st.sampled_from([None, "US", "DE"])),
        custom_holidays=draw(_CUSTOM_HOLIDAYS),
    )


CALENDARS: dict[str, st.SearchStrategy[Calendar]] = {
    "calendar-time": st.just(CALENDAR_TIME),
    "business-hours": _business_calendars(),
}
INSTANTS = st.datetimes(
    min_value=datetime(2024, 1, 1),
    max_value=datetime(2028, 12, 31),
    timezones=st.sampled_from([UTC, *(ZoneInfo(name) for name in ZONE_NAMES)]),
)
DURATIONS = st.timedeltas(min_value=ZERO, max_value=timedelta(hours=400))


def _instant(value: datetime) -> datetime:
    # Aware datetimes sharing a tzinfo compare and subtract by wall clock; UTC ones do not.
    return value.astimezone(UTC)


properties = pytest.mark.parametrize("kind", list(CALENDARS))


@properties
@hypothesis_settings(database=None, deadline=None)
@given(data=st.data(), start=INSTANTS, duration=DURATIONS)
def test_a_due_time_is_never_before_its_start(
    kind: str, data: st.DataObject, start: datetime, duration: timedelta
) -> None:
    calendar = data.draw(CALENDARS[kind])
    assert calendar.add(start, duration) >= start


@properties
@hypothesis_settings(database=None, deadline=None)
@given(data=st.data(), start=INSTANTS, durations=st.lists(DURATIONS, min_size=2, max_size=2))
def test_add_grows_with_the_duration(
    kind: str, data: st.DataObject, start: datetime, durations: list[timedelta]
) -> None:
    calendar = data.draw(CALENDARS[kind])
    shorter, longer = sorted(durations)
    assert calendar.add(start, shorter) <= calendar.add(start, longer)


@properties
@hypothesis_settings(database=None, deadline=None)
@given(data=st.data(), starts=st.lists(INSTANTS, min_size=2, max_size=2), duration=DURATIONS)
def test_add_grows_with_the_start(
    kind: str, data: st.DataObject, starts: list[datetime], duration: timedelta
) -> None:
    calendar = data.draw(CALENDARS[kind])
    earlier, later = sorted(starts, key=_instant)
    assert calendar.add(earlier, duration) <= calendar.add(later, duration)


@properties
@hypothesis_settings(database=None, deadline=None)
@given(data=st.data(), start=INSTANTS, first=DURATIONS, second=DURATIONS)
def test_a_duration_split_in_two_ends_at_the_same_time(
    kind: str, data: st.DataObject, start: datetime, first: timedelta, second: timedelta
) -> None:
    calendar = data.draw(CALENDARS[kind])
    assert calendar.add(calendar.add(start, first), second) == calendar.add(start, first + second)


@properties
@hypothesis_settings(database=None, deadline=None)
@given(data=st.data(), start=INSTANTS, duration=DURATIONS)
def test_between_measures_what_add_added(
    kind: str, data: st.DataObject, start: datetime, duration: timedelta
) -> None:
    calendar = data.draw(CALENDARS[kind])
    assert calendar.between(start, calendar.add(start, duration)) == duration


@properties
@hypothesis_settings(database=None, deadline=None)
@given(data=st.data(), instants=st.lists(INSTANTS, min_size=3, max_size=3))
def test_between_is_antisymmetric_and_additive(
    kind: str, data: st.DataObject, instants: list[datetime]
) -> None:
    calendar = data.draw(CALENDARS[kind])
    a, b, c = instants
    assert calendar.between(a, b) == -calendar.between(b, a)
    assert calendar.between(a, b) + calendar.between(b, c) == calendar.between(a, c)
    earlier, later = sorted((a, b), key=_instant)
    assert ZERO <= calendar.between(earlier, later) <= _instant(later) - _instant(earlier)


@properties
@hypothesis_settings(database=None, deadline=None)
@given(data=st.data(), at=INSTANTS)
def test_is_open_agrees_with_between(kind: str, data: st.DataObject, at: datetime) -> None:
    calendar = data.draw(CALENDARS[kind])
    tick = timedelta(microseconds=1)
    assert calendar.between(at, _instant(at) + tick) == (tick if calendar.is_open(at) else ZERO)


@hypothesis_settings(database=None, deadline=None)
@given(zone=st.sampled_from(ZONE_NAMES), start=INSTANTS, end=INSTANTS, duration=DURATIONS)
def test_a_calendar_that_never_closes_counts_calendar_time(
    zone: str, start: datetime, end: datetime, duration: timedelta
) -> None:
    calendar = business_hours(zone, ROUND_THE_CLOCK)
    assert calendar.add(start, duration) == CALENDAR_TIME.add(start, duration)
    assert calendar.between(start, end) == CALENDAR_TIME.between(start, end)
