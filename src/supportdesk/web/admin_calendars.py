"""The business-hours calendars admin page, for admins only: every calendar with its weekly hours and
holidays, the form that adds one, a page that edits one, and deleting one no policy counts in.

The pages act through the SLA configuration service the API uses (``/api/v1/sla/calendars``), with its
rules and permission: a known time zone, opening hours in order within each day, a known holiday
country and subdivision, names unique, and the due times of every ticket in play computed again with
each change. Opening hours are typed per day as ``09:00-12:00, 13:00-17:00``; custom holidays as dates,
one per line. A refused form is shown again with the message beside the field and what was typed kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from supportdesk.auth.dependencies import Context, get_context
from supportdesk.core.errors import PreconditionFailed, SupportdeskError
from supportdesk.core.permissions import Action
from supportdesk.sla import config_service
from supportdesk.sla.models import BusinessCalendar
from supportdesk.sla.schemas import CalendarCreate, CalendarUpdate
from supportdesk.sla.service import WEEKDAYS
from supportdesk.web.admin_edits import MISSING_VERSION, STALE, attempt, posted_version
from supportdesk.web.admin_parts import admin_page, in_range
from supportdesk.web.pages import WEB_PREFIX, PageRoute, checked_form, text

CALENDARS_PATH = f"{WEB_PREFIX}/admin/sla/calendars"
_NOTICES = {
    "added": "The calendar was added.",
    "changed": "The calendar was changed; the due times of the tickets counted in it follow it now.",
    "deleted": "The calendar was deleted.",
}
_MESSAGES = {
    "name": "Enter a name of up to 100 characters.",
    "timezone": 'Enter a time zone name, like "Europe/Berlin".',
    "holiday_country": 'Enter a country code, like "DE", or leave it empty.',
    "holiday_subdivision": 'Enter a region of the country, like "BY", or leave it empty.',
    "hours": "Write opening hours as 09:00-17:00, several separated by commas; leave a closed day empty.",
}
# Intervals are separated by commas (or semicolons), dates by commas or any white space.
_INTERVALS = re.compile(r"[,;]")
_DATES = re.compile(r"[\s,;]+")

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=PageRoute)
SignedIn = Annotated[Context, Depends(get_context)]


@dataclass(slots=True)
class CalendarForm:
    """The form that adds or edits a calendar, as shown: what was typed, and why it was refused."""

    name: str = ""
    timezone: str = "UTC"
    # "monday" -> "09:00-17:00": the day's opening hours as typed; empty is closed.
    hours: dict[str, str] = field(default_factory=dict)
    holiday_country: str = ""
    holiday_subdivision: str = ""
    # The custom holidays as typed: dates separated by lines, commas or spaces.
    custom_holidays: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    problem: str | None = None

    @classmethod
    def posted(cls, posted: FormData) -> CalendarForm:
        """The form as it was sent."""
        return cls(
            name=text(posted, "name").strip(),
            timezone=text(posted, "timezone").strip(),
            hours={day: text(posted, f"hours.{day}").strip() for day in WEEKDAYS},
            holiday_country=text(posted, "holiday_country").strip(),
            holiday_subdivision=text(posted, "holiday_subdivision").strip(),
            custom_holidays=text(posted, "custom_holidays").strip(),
        )

    @classmethod
    def of(cls, calendar: BusinessCalendar) -> CalendarForm:
        """The form showing a stored calendar."""
        return cls(
            name=calendar.name,
            timezone=calendar.timezone,
            hours={day: opening_hours(calendar, day) for day in WEEKDAYS},
            holiday_country=calendar.holiday_country or "",
            holiday_subdivision=calendar.holiday_subdivision or "",
            custom_holidays="\n".join(calendar.custom_holidays),
        )

    def body(self) -> dict[str, Any]:
        """The form as the API's body gives it; what cannot be read is passed on as typed, for the
        schema to refuse."""
        weekly: dict[str, list[dict[str, str]]] = {}
        for day in WEEKDAYS:
            intervals = [part.strip() for part in _INTERVALS.split(self.hours.get(day, ""))]
            weekly[day] = [_interval(part) for part in intervals if part]
        return {
            "name": self.name,
            "timezone": self.timezone,
            "weekly_hours": weekly,
            "holiday_country": self.holiday_country or None,
            "holiday_subdivision": self.holiday_subdivision or None,
            "custom_holidays": [day for day in _DATES.split(self.custom_holidays) if day],
        }

    def refused_by_schema(self, error: ValidationError) -> None:
        """Put each of the schema's complaints beside the field it is about."""
        for item in error.errors():
            location = [str(part) for part in item["loc"]]
            if location[:1] == ["weekly_hours"] and len(location) > 1:
                self.errors.setdefault(f"hours.{location[1]}", _MESSAGES["hours"])
            elif location[:1] == ["custom_holidays"]:
                typed = item.get("input")
                self.errors.setdefault(
                    "custom_holidays", f"Write each date as YYYY-MM-DD; {typed!s} is not one."
                )
            elif location:
                self.errors.setdefault(location[0], _MESSAGES.get(location[0], "Check this field."))

    def refused_by_service(self, refusal: SupportdeskError) -> None:
        """Put the service's refusal beside its field, or say the calendar changed meanwhile."""
        if isinstance(refusal, PreconditionFailed):
            self.problem = STALE
            return
        where = str(getattr(refusal, "field", "name"))
        if where.startswith("weekly_hours"):
            # The whole week (an empty one) is refused at the fieldset; one day's hours at that day.
            where = where.replace("weekly_hours", "hours")
        self.errors[where] = refusal.detail


def _interval(typed: str) -> dict[str, str]:
    start, dash, end = typed.replace("\N{EN DASH}", "-").partition("-")
    # Without a dash, the start is the whole text and the missing end makes the schema refuse the day.
    return {"start": start.strip(), "end": end.strip() if dash else ""}


def opening_hours(calendar: BusinessCalendar, day: str) -> str:
    """A day's stored opening hours as the form writes them: ``09:00-12:00, 13:00-17:00``."""
    return ", ".join(f"{start}-{end}" for start, end in calendar.weekly_hours.get(day, []))


async def _calendars_page(
    request: Request,
    context: Context,
    *,
    form: CalendarForm | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    session = context.session
    calendars = await config_service.list_calendars(session)
    policies = await config_service.list_policies(session)
    return await admin_page(
        request,
        context,
        "admin_calendars.html",
        status_code=status_code,
        calendars=calendars,
        used_by={
            calendar.id: [policy.name for policy in policies if policy.calendar_id == calendar.id]
            for calendar in calendars
        },
        weekdays=WEEKDAYS,
        opening_hours=opening_hours,
        form=form or _new_calendar(),
        problem=problem,
        notice=_NOTICES.get(request.query_params.get("saved", "")),
    )


def _new_calendar() -> CalendarForm:
    # A new calendar starts from office hours on weekdays, the most common week, ready to adjust.
    return CalendarForm(hours=dict.fromkeys(WEEKDAYS[:5], "09:00-17:00"))


@router.get("/admin/sla/calendars")
async def calendars_page(request: Request, context: SignedIn) -> Response:
    """The workspace's business-hours calendars, the policies counting in each, and the form that adds
    one."""
    context.require(Action.manage_sla)
    return await _calendars_page(request, context)


@router.post("/admin/sla/calendars")
async def add_calendar(request: Request, context: SignedIn) -> Response:
    """Add a calendar, as ``POST /api/v1/sla/calendars`` does."""
    posted = await checked_form(request, context.settings)
    context.require(Action.manage_sla)
    form = CalendarForm.posted(posted)
    refused = await attempt(
        context,
        form,
        lambda: CalendarCreate.model_validate(form.body()),
        lambda body: config_service.create_calendar(
            context.session, context.clock, workspace_id=context.workspace_id, **body.service_fields()
        ),
    )
    if refused is not None:
        return await _calendars_page(request, context, form=form, status_code=refused)
    return await context.commit(RedirectResponse(f"{CALENDARS_PATH}?saved=added", status_code=303))


async def _calendar_page(
    request: Request,
    context: Context,
    calendar: BusinessCalendar,
    *,
    form: CalendarForm | None = None,
    version: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return await admin_page(
        request,
        context,
        "admin_calendar.html",
        status_code=status_code,
        calendar=calendar,
        version=calendar.version if version is None else version,
        weekdays=WEEKDAYS,
        form=form or CalendarForm.of(calendar),
    )


@router.get("/admin/sla/calendars/{calendar_id:int}")
async def calendar_page(calendar_id: int, request: Request, context: SignedIn) -> Response:
    """The form that changes one calendar, showing it as stored."""
    context.require(Action.manage_sla)
    calendar = await config_service.get_calendar(context.session, in_range(calendar_id, "calendar"))
    return await _calendar_page(request, context, calendar)


@router.post("/admin/sla/calendars/{calendar_id:int}")
async def change_calendar(calendar_id: int, request: Request, context: SignedIn) -> Response:
    """Change a calendar, as ``PATCH /api/v1/sla/calendars/{id}`` does with the whole calendar given."""
    posted = await checked_form(request, context.settings)
    context.require(Action.manage_sla)
    # Another workspace's calendar is not found, as in the API.
    calendar = await config_service.get_calendar(context.session, in_range(calendar_id, "calendar"))
    form = CalendarForm.posted(posted)
    version = posted_version(posted)
    if version is None:
        form.problem = MISSING_VERSION
        return await _calendar_page(request, context, calendar, form=form, status_code=422)
    refused = await attempt(
        context,
        form,
        lambda: CalendarUpdate.model_validate(form.body()).changes(),
        lambda changes: config_service.update_calendar(
            context.session, context.clock, calendar, changes, expected_version=version
        ),
    )
    if refused is not None:
        calendar = await config_service.get_calendar(context.session, calendar_id)
        return await _calendar_page(
            request, context, calendar, form=form, version=version, status_code=refused
        )
    return await context.commit(RedirectResponse(f"{CALENDARS_PATH}?saved=changed", status_code=303))


@router.post("/admin/sla/calendars/{calendar_id:int}/delete")
async def delete_calendar(calendar_id: int, request: Request, context: SignedIn) -> Response:
    """Delete a calendar, as ``DELETE /api/v1/sla/calendars/{id}`` does: not while a policy counts in it."""
    await checked_form(request, context.settings)
    context.require(Action.manage_sla)
    calendar = await config_service.get_calendar(context.session, in_range(calendar_id, "calendar"))
    try:
        await config_service.delete_calendar(context.session, calendar)
    except SupportdeskError as refusal:
        await context.session.rollback()
        return await _calendars_page(
            request, context, problem=refusal.detail, status_code=refusal.status_code
        )
    return await context.commit(RedirectResponse(f"{CALENDARS_PATH}?saved=deleted", status_code=303))
