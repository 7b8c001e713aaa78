"""Factories for tickets and comments."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import pytest

from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people.models import Customer, User
from supportdesk.tickets import flows as ticket_flows
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Channel, Comment, Priority, Ticket, TicketStatus
from supportdesk.tickets.schemas import CommentAuthor
from supportdesk.workspaces.models import Workspace

TicketFactory = Callable[..., Awaitable[Ticket]]
CommentFactory = Callable[..., Awaitable[Comment]]
_counter = itertools.count(1)


@pytest.fixture
def ticket_factory(database: Database, clock: FrozenClock, workspace: Workspace) -> TicketFactory:
    """Make a ticket through the ticket service, then force any state a test needs.

    ``status`` is set directly (not through the lifecycle) so a test can start from any state.
    """

    async def make(
        *,
        workspace: Workspace = workspace,
        title: str | None = None,
        description: str = "Something is wrong.",
        priority: Priority = Priority.medium,
        category: str | None = None,
        tags: Sequence[str] = (),
        customer: Customer | None = None,
        customer_email: str | None = None,
        assignee: User | None = None,
        status: TicketStatus | None = None,
        channel: Channel = Channel.api,
        external_id: str | None = None,
        created_at: datetime | None = None,
        escalated: bool = False,
    ) -> Ticket:
        moment = FrozenClock(created_at or clock.now())
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            ticket = await ticket_flows.open_ticket(
                session,
                moment,
                workspace_id=workspace.id,
                title=title or f"Ticket {next(_counter)}",
                description=description,
                priority=priority,
                category=category,
                tags=tags,
                customer_email=customer.email if customer else customer_email,
                assigned_agent_id=assignee.id if assignee else None,
                channel=channel,
                external_id=external_id,
            )
            if status is not None:
                ticket.status = status
                if status in {TicketStatus.resolved, TicketStatus.closed}:
                    ticket.resolved_at = moment.now()
                if status is TicketStatus.closed:
                    ticket.closed_at = moment.now()
                # Stamped as a real move to this status would be; the flush keeps the SLA clocks at that
                # instant (pause, first response), as it does for any status change.
                ticket.updated_at = moment.now()
            ticket.escalated = escalated
            await session.flush()
        return ticket

    return make


@pytest.fixture
def comment_factory(database: Database, clock: FrozenClock) -> CommentFactory:
    """Add a comment to a ticket: ``await comment_factory(ticket, author=agent, is_public=False)``."""

    async def make(
        ticket: Ticket,
        *,
        author: User,
        content: str = "Thanks, we are on it.",
        is_public: bool = True,
        as_customer: bool = False,
    ) -> Comment:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, ticket.workspace_id)
            fresh = await ticket_service.get_ticket(session, ticket.id)
            return await ticket_service.add_comment(
                session,
                clock,
                fresh,
                actor=author,
                content=content,
                is_public=is_public,
                author=CommentAuthor.customer if as_customer else CommentAuthor.agent,
            )

    return make
