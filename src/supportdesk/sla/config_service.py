"""Keeping SLA calendars and policies. Services flush; the caller (request or job) commits.

Every change re-times the workspace's tickets in the same transaction: the revision is bumped (so every
process drops its cached setup), then each ticket still in play gets its due times from the new setup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.core.clock import Clock
from supportdesk.core.errors import Conflict, InvalidInput
from supportdesk.core.http import require_version
from supportdesk.db.lookups import get_in_workspace, name_taken
from supportdesk.people.models import Tier
from supportdesk.sla import service as sla_service
from supportdesk.sla.calendar import InvalidCalendar, business_hours, parse_clock_time
from supportdesk.sla.models import BusinessCalendar, SlaPolicy
from supportdesk.sla.service import WEEKDAYS
from supportdesk.tickets.models import Priority
from supportdesk.workspaces import service as workspace_service

# Day name -> its opening intervals as ("HH:MM", "HH:MM") pairs, in local time.
WeeklyHours = Mapping[str, Sequence[Sequence[str]]]

_CALENDAR_FIELDS = frozenset(
    {"name", "timezone", "weekly_hours", "holiday_country", "holiday_subdivision", "custom_holidays"}
)
_POLICY_FIELDS = frozenset(
    {"name", "tier", "category", "calendar_id", "first_response_minutes", "resolution_minutes"}
)
_WEEKDAY_NUMBER = re.compile(r"\bweekday ([0-6])\b")


class DuplicateName(Conflict):
    code = "duplicate-name"
    title = "Another calendar or policy has this name"


class DuplicateScope(Conflict):
    code = "duplicate-scope"
    title = "Another policy covers the same tier and category"


class CalendarInUse(Conflict):
    code = "calendar-in-use"
    title = "A policy counts in this calendar"


async def _lock_setup(session: AsyncSession, workspace_id: int) -> None:
    # The revision is bumped before anything is checked: writing the workspace row locks it until
    # commit, so concurrent SLA changes and ticket intake (which reserves its number on that row) queue
    # behind this change, and the checks below see what the changes before it committed. Two requests
    # cannot both find a name or a scope free.
    await sla_service.bump_revision(session, workspace_id)


async def _retime(session: AsyncSession, workspace_id: int) -> None:
    """Give every ticket still in play its due times from the changed setup."""
    await session.flush()
    await sla_service.recompute_due_times(session, workspace_id)


# --- calendars -------------------------------------------------------------------------------------


def _named_days(message: str) -> str:
    # The calendar module numbers weekdays; API users name them.
    return _WEEKDAY_NUMBER.sub(lambda match: WEEKDAYS[int(match.group(1))].title(), message)


def check_calendar(
    timezone: str,
    weekly_hours: WeeklyHours,
    *,
    holiday_country: str | None,
    holiday_subdivision: str | None,
    custom_holidays: Iterable[date],
) -> None:
    """Refuse a calendar that cannot be built, naming the input at fault."""
    weekly: dict[int, list[tuple[int, int]]] = {}
    for day, intervals in weekly_hours.items():
        if day not in WEEKDAYS:
            raise InvalidInput(
                "weekly_hours", f"Weekdays are monday to sunday, not {day!r}.", reason="unknown-weekday"
            )
        try:
            weekly[WEEKDAYS.index(day)] = [
                (parse_clock_time(start), parse_clock_time(end)) for start, end in intervals
            ]
        except ValueError as error:
            raise InvalidInput(f"weekly_hours.{day}", str(error), reason="bad-time") from None
    try:
        business_hours(
            timezone,
            weekly,
            holiday_country=holiday_country,
            holiday_subdivision=holiday_subdivision,
            custom_holidays=custom_holidays,
        )
    except InvalidCalendar as error:
        raise InvalidInput(error.field, _named_days(error.message), reason=error.reason) from None


def _stored_hours(weekly_hours: WeeklyHours) -> dict[str, list[list[str]]]:
    return {
        day: [[start, end] for start, end in weekly_hours[day]] for day in WEEKDAYS if weekly_hours.get(day)
    }


def _stored_dates(days: Iterable[date]) -> list[str]:
    return [day.isoformat() for day in sorted(set(days))]


async def _check_calendar_name(
    session: AsyncSession, workspace_id: int, name: str, except_id: int | None = None
) -> None:
    if await name_taken(session, BusinessCalendar, workspace_id, name, except_id):
        raise DuplicateName(f"Another calendar is called {name!r}")


async def list_calendars(session: AsyncSession) -> list[BusinessCalendar]:
    """The workspace's calendars by name."""
    query = select(BusinessCalendar).order_by(BusinessCalendar.name, BusinessCalendar.id)
    return list((await session.execute(query)).scalars())


async def get_calendar(session: AsyncSession, calendar_id: int) -> BusinessCalendar:
    """The calendar with ``calendar_id`` in the session's workspace."""
    return await get_in_workspace(session, BusinessCalendar, calendar_id, "calendar")


async def create_calendar(
    session: AsyncSession,
    clock: Clock,
    *,
    workspace_id: int,
    name: str,
    timezone: str,
    weekly_hours: WeeklyHours,
    holiday_country: str | None = None,
    holiday_subdivision: str | None = None,
    custom_holidays: Sequence[date] = (),
) -> BusinessCalendar:
    """Add a business-hours calendar."""
    check_calendar(
        timezone,
        weekly_hours,
        holiday_country=holiday_country,
        holiday_subdivision=holiday_subdivision,
        custom_holidays=custom_holidays,
    )
    await _lock_setup(session, workspace_id)
    await _check_calendar_name(session, workspace_id, name)
    now = clock.now()
    calendar = BusinessCalendar(
        workspace_id=workspace_id,
        name=name,
        timezone=timezone,
        weekly_hours=_stored_hours(weekly_hours),
        holiday_country=holiday_country,
        holiday_subdivision=holiday_subdivision,
        custom_holidays=_stored_dates(custom_holidays),
        created_at=now,
        updated_at=now,
    )
    session.add(calendar)
    await _retime(session, workspace_id)
    return calendar


async def update_calendar(
    session: AsyncSession,
    clock: Clock,
    calendar: BusinessCalendar,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> BusinessCalendar:
    """Apply a partial update; the calendar as changed is checked whole.

    ``changes`` holds ``weekly_hours`` as day name -> (start, end) pairs and ``custom_holidays`` as dates.
    """
    unknown = set(changes) - _CALENDAR_FIELDS
    if unknown:
        raise ValueError(f"not calendar fields: {sorted(unknown)}")
    require_version(calendar.version, expected_version)
    await _lock_setup(session, calendar.workspace_id)
    weekly_hours: WeeklyHours = changes.get("weekly_hours", calendar.weekly_hours)
    custom_holidays: list[date] = changes.get(
        "custom_holidays", [date.fromisoformat(day) for day in calendar.custom_holidays]
    )
    country = changes.get("holiday_country", calendar.holiday_country)
    subdivision = changes.get("holiday_subdivision", calendar.holiday_subdivision)
    check_calendar(
        changes.get("timezone", calendar.timezone),
        weekly_hours,
        holiday_country=country,
        holiday_subdivision=subdivision,
        custom_holidays=custom_holidays,
    )
    if "name" in changes and changes["name"] != calendar.name:
        await _check_calendar_name(session, calendar.workspace_id, changes["name"], except_id=calendar.id)
    for key, value in changes.items():
        if key == "weekly_hours":
            value = _stored_hours(value)
        elif key == "custom_holidays":
            value = _stored_dates(value)
        setattr(calendar, key, value)
    if session.sync_session.is_modified(calendar):
        calendar.updated_at = clock.now()
    await _retime(session, calendar.workspace_id)
    return calendar


async def delete_calendar(session: AsyncSession, calendar: BusinessCalendar) -> None:
    """Delete a calendar no policy counts in."""
    workspace_id = calendar.workspace_id
    await _lock_setup(session, workspace_id)
    query = select(SlaPolicy.name).where(SlaPolicy.calendar_id == calendar.id).order_by(SlaPolicy.id)
    users = list((await session.execute(query)).scalars())
    if users:
        raise CalendarInUse(
            f"The calendar is used by the policies {', '.join(map(repr, users))}", policies=users
        )
    await session.delete(calendar)
    await _retime(session, workspace_id)


# --- policies --------------------------------------------------------------------------------------


def _stored_minutes(field: str, minutes: Mapping[str, int]) -> dict[str, int]:
    known = {priority.value for priority in Priority}
    for key, value in minutes.items():
        if key not in known:
            raise InvalidInput(
                f"{field}.{key}", "Priorities are low, medium, high and critical.", reason="unknown-priority"
            )
        if type(value) is not int or value < 1:
            raise InvalidInput(
                f"{field}.{key}", "Give a whole number of minutes above 0.", reason="not-positive"
            )
    return {priority.value: minutes[priority.value] for priority in Priority if priority.value in minutes}


async def _check_category(session: AsyncSession, workspace_id: int, category: str) -> None:
    categories = (await workspace_service.get_workspace(session, workspace_id)).categories
    if category not in categories:
        raise InvalidInput(
            "category", f"Unknown category; use one of: {', '.join(categories)}.", reason="unknown-category"
        )


async def _check_calendar_id(session: AsyncSession, calendar_id: int) -> None:
    query = select(BusinessCalendar.id).where(BusinessCalendar.id == calendar_id)
    if (await session.execute(query)).first() is None:
        raise InvalidInput(
            "calendar_id", "No calendar of this workspace has this id.", reason="unknown-calendar"
        )


async def _check_policy_name(
    session: AsyncSession, workspace_id: int, name: str, except_id: int | None = None
) -> None:
    if await name_taken(session, SlaPolicy, workspace_id, name, except_id):
        raise DuplicateName(f"Another policy is called {name!r}")


async def _check_scope(
    session: AsyncSession,
    workspace_id: int,
    tier: Tier | None,
    category: str | None,
    except_id: int | None = None,
) -> None:
    # The unique constraint cannot do this: to SQL, NULL never equals NULL, but here "any tier" is one
    # scope, and two policies for it would leave the choice between them to their ids.
    query = select(SlaPolicy.name).where(
        SlaPolicy.workspace_id == workspace_id,
        SlaPolicy.tier.is_(None) if tier is None else SlaPolicy.tier == tier,
        SlaPolicy.category.is_(None) if category is None else SlaPolicy.category == category,
    )
    if except_id is not None:
        query = query.where(SlaPolicy.id != except_id)
    other = (await session.execute(query.limit(1))).scalar_one_or_none()
    if other is not None:
        raise DuplicateScope(
            f"The policy {other!r} covers the same tier and category", tier=tier, category=category
        )


async def list_policies(session: AsyncSession) -> list[SlaPolicy]:
    """The workspace's policies by name."""
    query = select(SlaPolicy).order_by(SlaPolicy.name, SlaPolicy.id)
    return list((await session.execute(query)).scalars())


async def get_policy(session: AsyncSession, policy_id: int) -> SlaPolicy:
    """The policy with ``policy_id`` in the session's workspace."""
    return await get_in_workspace(session, SlaPolicy, policy_id, "policy")


async def create_policy(
    session: AsyncSession,
    clock: Clock,
    *,
    workspace_id: int,
    name: str,
    tier: Tier | None = None,
    category: str | None = None,
    calendar_id: int | None = None,
    first_response_minutes: Mapping[str, int] | None = None,
    resolution_minutes: Mapping[str, int] | None = None,
) -> SlaPolicy:
    """Add a policy; targets map priority names to minutes, priorities left out take the defaults."""
    first_response = _stored_minutes("first_response_minutes", first_response_minutes or {})
    resolution = _stored_minutes("resolution_minutes", resolution_minutes or {})
    await _lock_setup(session, workspace_id)
    if category is not None:
        await _check_category(session, workspace_id, category)
    if calendar_id is not None:
        await _check_calendar_id(session, calendar_id)
    await _check_policy_name(session, workspace_id, name)
    await _check_scope(session, workspace_id, tier, category)
    now = clock.now()
    policy = SlaPolicy(
        workspace_id=workspace_id,
        name=name,
        tier=tier,
        category=category,
        calendar_id=calendar_id,
        first_response_minutes=first_response,
        resolution_minutes=resolution,
        created_at=now,
        updated_at=now,
    )
    session.add(policy)
    await _retime(session, workspace_id)
    return policy


async def update_policy(
    session: AsyncSession,
    clock: Clock,
    policy: SlaPolicy,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> SlaPolicy:
    """Apply a partial update; a targets mapping given replaces the stored one whole.

    Only what changes is checked against the workspace, so a policy for a category that was since
    removed can still be renamed or re-timed.
    """
    unknown = set(changes) - _POLICY_FIELDS
    if unknown:
        raise ValueError(f"not policy fields: {sorted(unknown)}")
    require_version(policy.version, expected_version)
    workspace_id = policy.workspace_id
    await _lock_setup(session, workspace_id)
    values = dict(changes)
    for key in ("first_response_minutes", "resolution_minutes"):
        if key in values:
            values[key] = _stored_minutes(key, values[key])
    if values.get("category") is not None and values["category"] != policy.category:
        await _check_category(session, workspace_id, values["category"])
    if values.get("calendar_id") is not None and values["calendar_id"] != policy.calendar_id:
        await _check_calendar_id(session, values["calendar_id"])
    if "name" in values and values["name"] != policy.name:
        await _check_policy_name(session, workspace_id, values["name"], except_id=policy.id)
    if "tier" in values or "category" in values:
        tier = values.get("tier", policy.tier)
        category = values.get("category", policy.category)
        await _check_scope(session, workspace_id, tier, category, except_id=policy.id)
    for key, value in values.items():
        setattr(policy, key, value)
    if session.sync_session.is_modified(policy):
        policy.updated_at = clock.now()
    await _retime(session, workspace_id)
    return policy


async def delete_policy(session: AsyncSession, policy: SlaPolicy) -> None:
    """Delete a policy; its tickets fall back to the next policy that applies, or to the defaults."""
    workspace_id = policy.workspace_id
    await _lock_setup(session, workspace_id)
    await session.delete(policy)
    await _retime(session, workspace_id)
