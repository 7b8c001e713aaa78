"""Helpers for automation tests: run triggers as a request would, and read back what they did."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from supportdesk.audit.models import ActorType, AuditEvent
from supportdesk.audit.recorder import Actor, act_as
from supportdesk.automation import engine as automation_engine
from supportdesk.automation.models import TriggerEvent
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.notifications.models import Notification
from supportdesk.people.models import User
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Comment, Ticket
from tests.factories.people import UserFactory


@dataclass
class TicketState:
    """A ticket as stored, with what hangs off it."""

    ticket: Ticket
    comments: list[Comment]
    notifications: list[Notification]
    audit: list[AuditEvent]


Fire = Callable[..., Awaitable[list[int]]]
Reload = Callable[[Ticket], Awaitable[TicketState]]


@pytest.fixture
async def agent(user_factory: UserFactory) -> User:
    """An agent of the test's workspace."""
    return await user_factory(role=Role.agent)


@pytest.fixture
def fire(database: Database, clock: FrozenClock) -> Fire:
    """Run the triggers of ``event`` on a ticket in a unit of work of its own, acting as ``actor``
    (scoped and attributed as a request's session is); returns the ids of the triggers that fired."""

    async def run(
        ticket: Ticket, event: TriggerEvent, *, actor: User, comment: Comment | None = None
    ) -> list[int]:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, ticket.workspace_id)
            act_as(session.sync_session, Actor(ActorType.user, actor.id), clock)
            fresh = await ticket_service.get_ticket(session, ticket.id)
            fresh_comment = await session.get(Comment, comment.id) if comment is not None else None
            return await automation_engine.run_triggers(
                session, clock, fresh, event, actor=actor, comment=fresh_comment
            )

    return run


@pytest.fixture
def reload(database: Database) -> Reload:
    """The ticket as committed, with its comments, notifications and audit trail."""

    async def read(ticket: Ticket) -> TicketState:
        async with database.new_session() as session:
            fresh = await ticket_service.get_ticket(session, ticket.id)
            comments = await ticket_service.list_comments(session, fresh)
            notifications = (
                await session.execute(
                    select(Notification).where(Notification.ticket_id == ticket.id).order_by(Notification.id)
                )
            ).scalars()
            audit = (
                await session.execute(
                    select(AuditEvent)
                    .where(AuditEvent.object_type == "ticket", AuditEvent.object_id == ticket.id)
                    .order_by(AuditEvent.id)
                )
            ).scalars()
            return TicketState(fresh, comments, list(notifications), list(audit))

    return read
