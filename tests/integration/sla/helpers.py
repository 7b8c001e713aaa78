"""Shared values and checks of the SLA tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from supportdesk.sla.models import BusinessCalendar, SlaPolicy
from supportdesk.tickets.models import Ticket

CalendarFactory = Callable[..., Awaitable[BusinessCalendar]]
PolicyFactory = Callable[..., Awaitable[SlaPolicy]]
ReadTicket = Callable[[int], Awaitable[Ticket]]

# Monday to Friday, nine to five.
OFFICE_HOURS: dict[str, list[list[str]]] = {
    day: [["09:00", "17:00"]] for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
}


def errors_of(problem: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, type) of each error a 422 problem names."""
    return [(error["field"], error["type"]) for error in problem.get("errors") or []]
