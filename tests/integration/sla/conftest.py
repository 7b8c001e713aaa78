"""Helpers for SLA tests: stored calendars and policies, and tickets read back as stored."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import pytest

from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people.models import Tier
from supportdesk.sla import config_service
from supportdesk.sla.models import BusinessCalendar, SlaPolicy
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Ticket
from supportdesk.workspaces.models import Workspace
from tests.integration.sla.helpers import OFFICE_HOURS, CalendarFactory, PolicyFactory, ReadTicket

_counter = itertools.count(1)


@pytest.fixture
def calendar_factory(database: Database, clock: FrozenClock, workspace: Workspace) -> CalendarFactory:
    """Store a calendar through the service: ``await calendar_factory(timezone="Europe/Berlin")``."""

    async def make(
        *,
        workspace: Workspace = workspace,
        name: str | None = None,
        timezone: str = "UTC",
        weekly_hours: Mapping[str, Sequence[Sequence[str]]] = OFFICE_HOURS,
    ) -> BusinessCalendar:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            return await config_service.create_calendar(
                session,
                clock,
                workspace_id=workspace.id,
                name=name or f"Calendar {next(_counter)}",
                timezone=timezone,
                weekly_hours=weekly_hours,
            )

    return make


@pytest.fixture
def policy_factory(database: Database, clock: FrozenClock, workspace: Workspace) -> PolicyFactory:
    """Store a policy through the service: ``await policy_factory(category="billing")``."""

    async def make(
        *,
        workspace: Workspace = workspace,
        name: str | None = None,
        tier: Tier | None = None,
        category: str | None = None,
        calendar: BusinessCalendar | None = None,
        first_response_minutes: Mapping[str, int] | None = None,
        resolution_minutes: Mapping[str, int] | None = None,
    ) -> SlaPolicy:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            return await config_service.create_policy(
                session,
                clock,
                workspace_id=workspace.id,
                name=name or f"Policy {next(_counter)}",
                tier=tier,
                category=category,
                calendar_id=calendar.id if calendar is not None else None,
                first_response_minutes=first_response_minutes,
                resolution_minutes=resolution_minutes,
            )

    return make


@pytest.fixture
def read_ticket(database: Database) -> ReadTicket:
    """The ticket with an id as committed, with its SLA columns (not through the ticket API)."""

    async def read(ticket_id: int) -> Ticket:
        async with database.new_session() as session:
            return await ticket_service.get_ticket(session, ticket_id)

    return read
