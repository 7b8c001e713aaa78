"""The one source of the current time, so rules and tests agree on what "now" is."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


class Clock(Protocol):
    """Tells the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that stands still until it is moved; used by tests and simulations."""

    def __init__(self, at: datetime) -> None:
        self._at = ensure_utc(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        """Jump to ``at``."""
        self._at = ensure_utc(at)

    def advance(self, delta: timedelta) -> None:
        """Move forward (or back, with a negative delta)."""
        self._at += delta


# Where a unit of work keeps the clock its changes are stamped with, in ``Session.info``; the audit
# recorder's ``act_as`` puts it there.
SESSION_CLOCK_KEY = "clock"


def session_clock(info: Mapping[str, Any]) -> Clock:
    """The clock a session was given (its ``info``), else the wall clock."""
    clock: Clock | None = info.get(SESSION_CLOCK_KEY)
    return clock if clock is not None else SystemClock()


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` as aware UTC; naive values are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
