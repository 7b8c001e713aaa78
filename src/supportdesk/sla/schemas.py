"""Request and response bodies of the SLA API, and the SLA part of a ticket view."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    computed_field,
    field_validator,
)
from pydantic_core import PydanticCustomError

from supportdesk.core.http import named_fields
from supportdesk.core.schemas import BodyId, Category, Integer, PatchModel, RequestModel, ResponseModel, Text
from supportdesk.people.models import Tier
from supportdesk.sla import rules
from supportdesk.sla.calendar import parse_clock_time
from supportdesk.sla.rules import SlaState
from supportdesk.sla.service import WEEKDAYS, SlaView
from supportdesk.tickets.models import Priority

Name = Annotated[str, Text(strip_whitespace=True, min_length=1, max_length=100)]
TimeZoneName = Annotated[
    str,
    Text(strip_whitespace=True, min_length=1, max_length=64),
    Field(description='An IANA time zone name, e.g. "Europe/Berlin".'),
]
# ISO 3166 codes as the `holidays` package knows them ("DE", "USA"); it only knows them upper-cased.
HolidayCountry = Annotated[
    str,
    Text(strip_whitespace=True, to_upper=True, min_length=2, max_length=8),
    Field(description='A country code for public holidays, e.g. "DE".'),
]
# Not upper-cased: some subdivisions are names ("Zone A") and the package matches them exactly.
HolidaySubdivision = Annotated[
    str,
    Text(strip_whitespace=True, min_length=1, max_length=16),
    Field(description='A subdivision of the holiday country, e.g. "BY".'),
]
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _iso_date(value: object) -> object:
    # Only "YYYY-MM-DD": pydantic would also take a number of seconds, or "20261224".
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise PydanticCustomError("date_format", "Give a date as YYYY-MM-DD.")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("date_format", "{value} is not a date.", {"value": value}) from None


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
CustomHolidays = Annotated[
    list[IsoDate],
    Field(max_length=1000, description="Dates (YYYY-MM-DD) on which the desk is closed as well."),
]
MAX_TARGET_MINUTES = 525_600  # a year
Minutes = Annotated[int, Integer(ge=1, le=MAX_TARGET_MINUTES)]


def _clock_time(value: str) -> str:
    try:
        minutes = parse_clock_time(value)
    except ValueError:
        raise PydanticCustomError(
            "clock_time", "Give a time of day between 00:00 and 24:00 as HH:MM."
        ) from None
    # One spelling per time ("9:00" is kept as "09:00"), so stored calendars compare and read alike.
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


ClockTime = Annotated[
    str,
    Text(strip_whitespace=True, max_length=5),
    AfterValidator(_clock_time),
    Field(description='A local time of day, "HH:MM"; "24:00" ends a day.', examples=["09:00"]),
]


class OpeningHours(RequestModel):
    """One opening interval of a day, in the calendar's local time."""

    start: ClockTime
    end: ClockTime


DayHours = Annotated[list[OpeningHours], Field(max_length=24)]


class WeeklyHours(RequestModel):
    """Opening hours per weekday; a day left out (or empty) is closed."""

    monday: DayHours = Field(default_factory=list)
    tuesday: DayHours = Field(default_factory=list)
    wednesday: DayHours = Field(default_factory=list)
    thursday: DayHours = Field(default_factory=list)
    friday: DayHours = Field(default_factory=list)
    saturday: DayHours = Field(default_factory=list)
    sunday: DayHours = Field(default_factory=list)

    def stored(self) -> dict[str, list[list[str]]]:
        """The model's JSON shape: ``{"monday": [["09:00", "17:00"]]}``, closed days left out."""
        return {
            day: [[interval.start, interval.end] for interval in intervals]
            for day in WEEKDAYS
            if (intervals := getattr(self, day))
        }


class CalendarCreate(RequestModel):
    name: Name
    timezone: TimeZoneName
    weekly_hours: WeeklyHours
    holiday_country: HolidayCountry | None = None
    holiday_subdivision: HolidaySubdivision | None = None
    custom_holidays: CustomHolidays = Field(default_factory=list)

    def service_fields(self) -> dict[str, Any]:
        """The calendar as ``config_service.create_calendar`` takes it: weekly hours as stored pairs."""
        return {
            "name": self.name,
            "timezone": self.timezone,
            "weekly_hours": self.weekly_hours.stored(),
            "holiday_country": self.holiday_country,
            "holiday_subdivision": self.holiday_subdivision,
            "custom_holidays": self.custom_holidays,
        }


class CalendarUpdate(PatchModel):
    __nullable__ = frozenset({"holiday_country", "holiday_subdivision"})

    name: Name | None = None
    timezone: TimeZoneName | None = None
    weekly_hours: WeeklyHours | None = None
    holiday_country: HolidayCountry | None = None
    holiday_subdivision: HolidaySubdivision | None = None
    custom_holidays: CustomHolidays | None = None

    def changes(self) -> dict[str, Any]:
        """The fields given, as ``config_service.update_calendar`` takes them: weekly hours as stored
        pairs."""
        changes = named_fields(self)
        if self.weekly_hours is not None:
            changes["weekly_hours"] = self.weekly_hours.stored()
        return changes


class OpeningHoursOut(ResponseModel):
    start: str
    end: str


class CalendarOut(ResponseModel):
    id: int
    name: str
    timezone: str
    weekly_hours: dict[str, list[OpeningHoursOut]] = Field(description="Open days only, Monday first.")
    holiday_country: str | None
    holiday_subdivision: str | None
    custom_holidays: list[date]
    created_at: datetime
    updated_at: datetime
    version: int

    @field_validator("weekly_hours", mode="before")
    @classmethod
    def _as_objects(cls, stored: Any) -> Any:
        # Stored as [["09:00", "17:00"]]; shown as a request writes it, [{"start": ..., "end": ...}].
        if not isinstance(stored, dict):
            return stored
        return {
            day: [{"start": start, "end": end} for start, end in stored[day]]
            for day in WEEKDAYS
            if day in stored
        }


class PriorityMinutes(RequestModel):
    """Targets in minutes per priority; a priority left out (or null) takes the built-in default."""

    low: Minutes | None = None
    medium: Minutes | None = None
    high: Minutes | None = None
    critical: Minutes | None = None

    def stored(self) -> dict[str, int]:
        """The overrides as stored: ``{"critical": 30}``."""
        return {
            priority.value: minutes
            for priority in Priority
            if (minutes := getattr(self, priority.value)) is not None
        }


class PolicyCreate(RequestModel):
    name: Name
    tier: Tier | None = Field(default=None, description="Only tickets of customers in this tier.")
    category: Category | None = Field(default=None, description="Only tickets of this category.")
    calendar_id: BodyId | None = Field(
        default=None, description="Count business hours of this calendar; none counts 24/7."
    )
    first_response_minutes: PriorityMinutes = Field(default_factory=PriorityMinutes)
    resolution_minutes: PriorityMinutes = Field(default_factory=PriorityMinutes)

    def service_fields(self) -> dict[str, Any]:
        """The policy as ``config_service.create_policy`` takes it: targets as stored overrides."""
        return {
            "name": self.name,
            "tier": self.tier,
            "category": self.category,
            "calendar_id": self.calendar_id,
            "first_response_minutes": self.first_response_minutes.stored(),
            "resolution_minutes": self.resolution_minutes.stored(),
        }


class PolicyUpdate(PatchModel):
    """A partial update; a targets object given replaces the stored one whole."""

    __nullable__ = frozenset({"tier", "category", "calendar_id"})

    name: Name | None = None
    tier: Tier | None = None
    category: Category | None = None
    calendar_id: BodyId | None = None
    first_response_minutes: PriorityMinutes | None = None
    resolution_minutes: PriorityMinutes | None = None

    def changes(self) -> dict[str, Any]:
        """The fields given, as ``config_service.update_policy`` takes them: targets as stored overrides."""
        changes = named_fields(self)
        for key in ("first_response_minutes", "resolution_minutes"):
            if (targets := getattr(self, key)) is not None:
                changes[key] = targets.stored()
        return changes


class TargetsOut(ResponseModel):
    first_response_minutes: int
    resolution_minutes: int


# The order targets are shown in: the most urgent first.
_PRIORITIES_SHOWN = (Priority.critical, Priority.high, Priority.medium, Priority.low)


class PolicyOut(ResponseModel):
    id: int
    name: str
    tier: Tier | None
    category: str | None
    calendar_id: int | None
    first_response_minutes: dict[Priority, int] = Field(description="The overrides stored on the policy.")
    resolution_minutes: dict[Priority, int] = Field(description="The overrides stored on the policy.")
    created_at: datetime
    updated_at: datetime
    version: int

    @computed_field(description="The targets in force for every priority: overrides, else the defaults.")  # type: ignore[prop-decorator]
    @property
    def targets(self) -> dict[Priority, TargetsOut]:
        policy = rules.Policy(
            first_response_minutes=self.first_response_minutes, resolution_minutes=self.resolution_minutes
        )
        return {
            priority: TargetsOut(
                first_response_minutes=int(policy.first_response_target(priority).total_seconds()) // 60,
                resolution_minutes=int(policy.resolution_target(priority).total_seconds()) // 60,
            )
            for priority in _PRIORITIES_SHOWN
        }


# --- breaches and the SLA part of a ticket view ----------------------------------------------------


class SlaTargetOut(ResponseModel):
    due_at: datetime
    remaining_seconds: int = Field(description="Negative once the target is breached (by that much).")
    state: SlaState


class TicketSlaOut(ResponseModel):
    policy_id: int | None
    first_response: SlaTargetOut | None
    resolution: SlaTargetOut | None


def sla_out(view: SlaView) -> TicketSlaOut:
    """The API view of a ticket's SLA."""

    def target(status: rules.TargetStatus | None) -> SlaTargetOut | None:
        if status is None:
            return None
        return SlaTargetOut(
            due_at=status.due_at, remaining_seconds=status.remaining_seconds, state=status.state
        )

    return TicketSlaOut(
        policy_id=view.policy_id,
        first_response=target(view.first_response),
        resolution=target(view.resolution),
    )
