"""Business-time arithmetic for SLA due times: calendar time (24/7) and business hours. No I/O.

Business hours are weekly opening intervals in local wall-clock time plus dates on which the desk is
closed. Every local time is turned into the first instant at which the local clock shows that time or
a later one: a time skipped by a spring-forward change becomes the moment of the change, and a time
repeated by a fall-back change means its first occurrence. That mapping never runs backwards, so
intervals keep their order and an interval never ends before it starts in UTC.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_left
from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

MINUTES_PER_DAY: Final = 24 * 60

_ZERO: Final = timedelta(0)
_ONE_DAY: Final = timedelta(days=1)
_RESOLUTION: Final = timedelta(microseconds=1)
_NOON: Final = time(12)
_HALF_DAY: Final = timedelta(hours=12)
# Days of opening intervals a calendar keeps (about ten years' worth).
_SPAN_CACHE_DAYS: Final = 4096
_CLOCK_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])|24:00", re.ASCII)


class Calendar(Protocol):
    """Counts time that matters for an SLA between instants."""

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which ``duration`` of counted time has passed since ``start``."""
        ...

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Counted time in ``[start, end)``; negative when ``end`` is before ``start``."""
        ...

    def is_open(self, at: datetime) -> bool:
        """Whether time counts at the instant ``at``."""
        ...


class InvalidCalendar(ValueError):
    """A business-hours calendar that cannot be built, with the input at fault and a stable reason code."""

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason
        self.message = message


def _as_utc(value: datetime, name: str) -> datetime:
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def _check_duration(duration: timedelta) -> None:
    if duration < _ZERO:
        raise ValueError(f"duration must not be negative, got {duration!r}")


class CalendarTime:
    """Every instant counts (24/7). Arithmetic is done in UTC, so DST changes never matter."""

    __slots__ = ()

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """``start + duration``, in UTC."""
        _check_duration(duration)
        return _as_utc(start, "start") + duration

    def between(self, start: datetime, end: datetime) -> timedelta:
        """``end - start``."""
        return _as_utc(end, "end") - _as_utc(start, "start")

    def is_open(self, at: datetime) -> bool:
        """Always true."""
        _as_utc(at, "at")
        return True

    def __repr__(self) -> str:
        return "CalendarTime()"


CALENDAR_TIME: Final[CalendarTime] = CalendarTime()


def parse_clock_time(text: str) -> int:
    """Minutes since midnight for ``"H:MM"`` or ``"HH:MM"`` between ``00:00`` and ``24:00``."""
    match = _CLOCK_TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a time of day between 00:00 and 24:00 written as HH:MM")
    if match.group(1) is None:
        return MINUTES_PER_DAY
    return int(match.group(1)) * 60 + int(match.group(2))


# --- Time zones -------------------------------------------------------------------------------------


def _local_wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


@functools.lru_cache(maxsize=8192)
def _first_instant(zone: ZoneInfo, wall: datetime) -> datetime:
    """The first UTC instant at which the clock in ``zone`` shows ``wall`` (naive) or a later time."""
    # fold=0 is the earlier of two readings of a repeated time, which is the one we want.
    guess = wall.replace(tzinfo=zone).astimezone(UTC)
    if _local_wall(guess, zone) == wall:
        return guess
    # ``wall`` was skipped: the clocks jumped over it somewhere between its two possible readings.
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    before, after = min(guess, other), max(guess, other)
    while after - before > _RESOLUTION:
        middle = before + (after - before) // 2
        if _local_wall(middle, zone) >= wall:
            after = middle
        else:
            before = middle
    return after


@functools.lru_cache(maxsize=1024)
def _unsteady_days(zone: ZoneInfo, year: int) -> frozenset[date]:
    """Local dates of ``year`` on or next to which the zone's UTC offset changes.

    Sampling the offset once per UTC day is enough: since 1970 no zone has had two changes less than
    a day and a half apart. A day too many only costs an exact computation, never a wrong answer.
    """
    days: set[date] = set()
    sample = datetime(year, 1, 1, tzinfo=UTC) - 3 * _ONE_DAY
    local = sample.astimezone(zone)
    stop = datetime(year + 1, 1, 1, tzinfo=UTC) + 3 * _ONE_DAY
    while sample < stop:
        sample += _ONE_DAY
        following = sample.astimezone(zone)
        if following.utcoffset() != local.utcoffset():
            first = local.date() - _ONE_DAY
            days.update(first + n * _ONE_DAY for n in range((following.date() - first).days + 2))
        local = following
    return frozenset(day for day in days if day.year == year)


def _unsteady_within(zone: ZoneInfo, first: date, stop: date) -> list[date]:
    return sorted(
        day
        for year in range(first.year, stop.year + 1)
        for day in _unsteady_days(zone, year)
        if first <= day < stop
    )


# --- Closed dates -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    found = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return frozenset(day for day in found if day.year == year)


@dataclass(frozen=True, slots=True)
class _ClosedDates:
    """Public holidays of a country (and subdivision) plus custom dates."""

    country: str | None
    subdivision: str | None
    custom: frozenset[date]
    _custom: tuple[date, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_custom", tuple(sorted(self.custom)))

    def __contains__(self, item: object) -> bool:
        if item in self.custom:
            return True
        return isinstance(item, date) and item in self._public(item.year)

    def _public(self, year: int) -> frozenset[date]:
        if self.country is None:
            return frozenset()
        return _public_holidays(self.country, self.subdivision, year)

    def within(self, first: date, stop: date) -> set[date]:
        found = set(self._custom[bisect_left(self._custom, first) : bisect_left(self._custom, stop)])
        for year in range(first.year, stop.year + 1):
            found.update(day for day in self._public(year) if first <= day < stop)
        return found


class _DateIndex(Protocol):
    def within(self, first: date, stop: date) -> Iterable[date]: ...


@dataclass(frozen=True, slots=True)
class _SortedDates:
    dates: tuple[date, ...]

    def within(self, first: date, stop: date) -> Iterable[date]:
        return self.dates[bisect_left(self.dates, first) : bisect_left(self.dates, stop)]


@dataclass(frozen=True, slots=True)
class _ProbedDates:
    """For containers that cannot be listed: ask about every date of the range."""

    dates: Container[date]

    def within(self, first: date, stop: date) -> Iterable[date]:
        return [day for n in range((stop - first).days) if (day := first + n * _ONE_DAY) in self.dates]


def _index(closed: Container[date]) -> _DateIndex:
    if isinstance(closed, _ClosedDates):
        return closed
    if isinstance(closed, Collection):
        return _SortedDates(tuple(sorted({day for day in closed if type(day) is date})))
    return _ProbedDates(closed)


# --- Business hours ---------------------------------------------------------------------------------

Intervals = tuple[tuple[int, int], ...]


def _check_week(weekly: tuple[Intervals, ...]) -> None:
    if len(weekly) != 7:
        raise InvalidCalendar("weekly_hours", "bad-week", f"A week has 7 days, not {len(weekly)}.")
    for weekday, intervals in enumerate(weekly):
        previous_end = 0
        for start, end in intervals:
            if not (0 <= start <= MINUTES_PER_DAY and 0 <= end <= MINUTES_PER_DAY):
                raise InvalidCalendar(
                    "weekly_hours",
                    "minute-out-of-range",
                    f"Opening hours of weekday {weekday} must lie between 00:00 (0) and 24:00 "
                    f"({MINUTES_PER_DAY}); got {start}-{end}.",
                )
            if start >= end:
                raise InvalidCalendar(
                    "weekly_hours",
                    "bad-interval",
                    f"Opening hours of weekday {weekday} must end after they start; got {start}-{end}.",
                )
            if start < previous_end:
                raise InvalidCalendar(
                    "weekly_hours",
                    "overlapping-hours",
                    f"Opening hours of weekday {weekday} must be in order and must not overlap.",
                )
            previous_end = end
    if not any(weekly):
        raise InvalidCalendar("weekly_hours", "empty-week", "The desk must be open at some time of the week.")


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Weekly opening hours in local time, minus the local dates on which the desk is closed.

    ``weekly`` has 7 entries, Monday first, each a sorted tuple of non-overlapping ``(start, end)``
    minute intervals with ``0 <= start < end <= 1440``.
    """

    zone: ZoneInfo
    weekly: tuple[Intervals, ...]
    closed_dates: Container[date] = frozenset()
    _bounds: tuple[tuple[tuple[timedelta, timedelta], ...], ...] = field(
        init=False, repr=False, compare=False
    )
    _nominal: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _week_open: timedelta = field(init=False, repr=False, compare=False)
    _closed: _DateIndex = field(init=False, repr=False, compare=False)
    # Local date -> its opening intervals in UTC. A calendar lives as long as its workspace's SLA setup,
    # and every due time walks the same few days, so each is worked out once.
    _span_cache: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        _check_week(self.weekly)
        bounds = tuple(
            tuple((timedelta(minutes=start), timedelta(minutes=end)) for start, end in day)
            for day in self.weekly
        )
        nominal = tuple(sum(end - start for start, end in day) for day in self.weekly)
        object.__setattr__(self, "_bounds", bounds)
        object.__setattr__(self, "_nominal", nominal)
        object.__setattr__(self, "_week_open", timedelta(minutes=sum(nominal)))
        object.__setattr__(self, "_closed", _index(self.closed_dates))
        object.__setattr__(self, "_span_cache", {})

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which ``duration`` of open time has passed, counting from ``start`` or from
        the next opening. Time that runs out at a closing time gives that closing time."""
        _check_duration(duration)
        cursor = _as_utc(start, "start")
        left = duration
        if not left:
            return cursor
        day = self._local_date(cursor)
        # The first two days are walked: a fall-back change can put the next day's first minutes before
        # ``start``. From then on whole weeks may be skipped while the time left is long.
        may_skip_from = day + 2 * _ONE_DAY
        skipping = True
        while True:
            if skipping and day >= may_skip_from and left >= 2 * self._week_open:
                weeks = left // self._week_open - 1
                skipped = self._open_on_days(day, 7 * weeks)
                if skipped < left:
                    left -= skipped
                    day += 7 * weeks * _ONE_DAY
                    continue
                # Only a DST change inside a very short week gets here; walking is still correct.
                skipping = False
            for opens, closes in self._spans(day):
                if closes <= cursor:
                    continue
                opens = max(opens, cursor)
                if closes - opens >= left:
                    return opens + left
                left -= closes - opens
                cursor = closes
            day += _ONE_DAY

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Open time in ``[start, end)``; the negative of ``between(end, start)`` when ``end < start``."""
        start, end = _as_utc(start, "start"), _as_utc(end, "end")
        if end < start:
            return -self._open_between(end, start)
        return self._open_between(start, end)

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` falls in an opening interval (which includes its start but not its end)."""
        at = _as_utc(at, "at")
        day = self._local_date(at)
        return any(opens <= at < closes for d in (day, day + _ONE_DAY) for opens, closes in self._spans(d))

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def _open_between(self, start: datetime, end: datetime) -> timedelta:
        first, last = self._local_date(start), self._local_date(end)
        # Days strictly inside the span count whole; the two days at each end are clipped, which also
        # covers a fall-back change that moves a neighbouring day's minutes across an end.
        total = self._open_on_days(first + 2 * _ONE_DAY, max(0, (last - first).days - 2))
        for day in {first, first + _ONE_DAY, last, last + _ONE_DAY}:
            for opens, closes in self._spans(day):
                if max(opens, start) < min(closes, end):
                    total += min(closes, end) - max(opens, start)
        return total

    def _spans(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The opening intervals of the local date ``day`` as UTC instants, empty ones left out."""
        spans = self._span_cache.get(day)
        if spans is None:
            if len(self._span_cache) >= _SPAN_CACHE_DAYS:
                self._span_cache.clear()
            spans = self._span_cache[day] = self._compute_spans(day)
        return spans

    def _compute_spans(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        bounds = self._bounds[day.weekday()]
        if not bounds or day in self.closed_dates:
            return ()
        if day in _unsteady_days(self.zone, day.year):
            return self._exact_spans(day)
        midnight = datetime.combine(day, _NOON, tzinfo=self.zone).astimezone(UTC) - _HALF_DAY
        return tuple((midnight + opens, midnight + closes) for opens, closes in bounds)

    def _exact_spans(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        midnight = datetime.combine(day, time())
        spans = (
            (_first_instant(self.zone, midnight + opens), _first_instant(self.zone, midnight + closes))
            for opens, closes in self._bounds[day.weekday()]
        )
        return tuple((opens, closes) for opens, closes in spans if opens < closes)

    def _open_on_days(self, first: date, days: int) -> timedelta:
        """Open time of ``days`` whole local days from ``first``, without walking them one by one."""
        weeks, rest = divmod(days, 7)
        weekday = first.weekday()
        minutes = sum(self._nominal[(weekday + n) % 7] for n in range(rest))
        stop = first + days * _ONE_DAY
        closed = set(self._closed.within(first, stop))
        minutes -= sum(self._nominal[day.weekday()] for day in closed)
        total = weeks * self._week_open + timedelta(minutes=minutes)
        # Where the offset changes, the real length of the day's intervals may differ from their
        # wall-clock length; only those few days are computed exactly.
        for day in _unsteady_within(self.zone, first, stop):
            if day not in closed:
                exact = sum((closes - opens for opens, closes in self._spans(day)), _ZERO)
                total += exact - timedelta(minutes=self._nominal[day.weekday()])
        return total


# --- Building a calendar from user input ------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    # "localtime" is whatever the host is set to, and "right/" zones count leap seconds.
    if name == "localtime" or name.startswith("right/"):
        raise InvalidCalendar("timezone", "unknown-timezone", f"Unknown time zone {name!r}.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # ValueError: keys that are not plain relative paths, such as "" or "/etc/localtime".
        raise InvalidCalendar("timezone", "unknown-timezone", f"Unknown time zone {name!r}.") from None


def _weekly_intervals(weekly_hours: Mapping[int, Sequence[tuple[int, int]]]) -> tuple[Intervals, ...]:
    for weekday, intervals in weekly_hours.items():
        if type(weekday) is not int or not 0 <= weekday <= 6:
            raise InvalidCalendar(
                "weekly_hours", "unknown-weekday", f"Weekdays are 0 (Monday) to 6 (Sunday), not {weekday!r}."
            )
        for interval in intervals:
            if len(interval) != 2 or any(type(minute) is not int for minute in interval):
                raise InvalidCalendar(
                    "weekly_hours",
                    "bad-interval",
                    f"Opening hours are (start, end) pairs of minutes, not {interval!r}.",
                )
    return tuple(tuple(sorted(weekly_hours.get(weekday, ()))) for weekday in range(7))


@functools.lru_cache(maxsize=256)
def _holiday_region_problem(country: str, subdivision: str | None) -> InvalidCalendar | None:
    # Cached because building a holiday table takes a few hundred microseconds.
    try:
        holidays.country_holidays(country)
    except NotImplementedError:
        return InvalidCalendar(
            "holiday_country", "unknown-country", f"No public holidays are known for country {country!r}."
        )
    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        return InvalidCalendar(
            "holiday_subdivision",
            "unknown-subdivision",
            f"Country {country!r} has no subdivision {subdivision!r}.",
        )
    return None


def _check_holiday_region(country: str | None, subdivision: str | None) -> None:
    if country is None:
        if subdivision is not None:
            raise InvalidCalendar(
                "holiday_subdivision",
                "subdivision-without-country",
                "A holiday subdivision needs a holiday country.",
            )
        return
    problem = _holiday_region_problem(country, subdivision)
    if problem is not None:
        raise InvalidCalendar(problem.field, problem.reason, problem.message)


def business_hours(
    timezone: str,
    weekly_hours: Mapping[int, Sequence[tuple[int, int]]],
    *,
    holiday_country: str | None = None,
    holiday_subdivision: str | None = None,
    custom_holidays: Iterable[date] = (),
) -> BusinessHours:
    """A validated business-hours calendar; raises `InvalidCalendar` naming the input at fault.

    ``weekly_hours`` maps weekdays (0 = Monday) to ``(start, end)`` minutes in local time; a missing
    day is closed. Public holidays of the country and subdivision and the custom dates are closed.
    """
    zone = _zone(timezone)
    weekly = _weekly_intervals(weekly_hours)
    _check_holiday_region(holiday_country, holiday_subdivision)
    custom = frozenset(custom_holidays)
    for day in custom:
        if type(day) is not date:
            raise InvalidCalendar(
                "custom_holidays", "not-a-date", f"Holidays are calendar dates, not {day!r}."
            )
    return BusinessHours(zone, weekly, _ClosedDates(holiday_country, holiday_subdivision, custom))
