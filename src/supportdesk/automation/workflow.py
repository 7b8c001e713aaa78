"""A ticket's way through the desk: the ticket service's change, then the workspace's triggers.

Every entry point (API today, inbound mail and the portal later) goes through these, so triggers cannot
be skipped by one that forgets them. All of it is one unit of work: the caller commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.automation import service as automation_service
from supportdesk.automation.models import TriggerEvent
from supportdesk.core.clock import Clock
from supportdesk.people.models import Staff
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Comment, Ticket
from supportdesk.tickets.schemas import CommentAuthor


async def process_new_ticket(
    session: AsyncSession, clock: Clock, *, actor: Staff, workspace_id: int, **fields: Any
) -> Ticket:
    """Open a ticket (customer, SLA, automatic assignment) and run the ``created`` triggers."""
    ticket = await ticket_service.create_ticket(session, clock, workspace_id=workspace_id, **fields)
    await automation_service.run_triggers(session, clock, ticket, TriggerEvent.created, actor=actor)
    return ticket


async def process_ticket_update(
    session: AsyncSession,
    clock: Clock,
    ticket: Ticket,
    changes: dict[str, Any],
    *,
    actor: Staff,
    expected_version: int | None = None,
) -> Ticket:
    """Apply a partial update and, if anything changed, run the ``updated`` triggers."""
    version = ticket.version
    ticket = await ticket_service.update_ticket(
        session, clock, ticket, changes, actor=actor, expected_version=expected_version
    )
    if ticket.version != version:
        await automation_service.run_triggers(session, clock, ticket, TriggerEvent.updated, actor=actor)
    return ticket


async def process_comment(
    session: AsyncSession,
    clock: Clock,
    ticket: Ticket,
    *,
    actor: Staff,
    content: str,
    is_public: bool = True,
    author: CommentAuthor = CommentAuthor.agent,
) -> Comment:
    """Add a comment and run the ``commented`` triggers."""
    comment = await ticket_service.add_comment(
        session, clock, ticket, actor=actor, content=content, is_public=is_public, author=author
    )
    await automation_service.run_triggers(
        session, clock, ticket, TriggerEvent.commented, actor=actor, comment=comment
    )
    return comment
