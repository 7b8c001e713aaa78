"""Ticket use cases. Services flush; the caller (request or job) commits.

The SLA clocks follow what changes here from inside the flush (sla.clocks), as they follow a change made
any other way, so nothing here keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from supportdesk.core.clock import Clock
from supportdesk.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from supportdesk.core.http import require_version
from supportdesk.core.permissions import Action, Role, check_permission
from supportdesk.db import objects
from supportdesk.people import service as people_service
from supportdesk.people.models import Staff, StaffSnapshot
from supportdesk.tickets import comment_writes, rules
from supportdesk.tickets.models import Comment, ListedTicket, Ticket, TicketStatus, TicketTag
from supportdesk.tickets.schemas import CommentAuthor
from supportdesk.workspaces import service as workspace_service


class InvalidTransition(Conflict):
    code = "invalid-transition"
    title = "The ticket cannot move to that status"


class TicketClosed(Conflict):
    code = "ticket-closed"
    title = "A closed ticket cannot change"


class DuplicateTicketExternalId(Conflict):
    code = "duplicate-external-id"
    title = "Another ticket has this external id"


# What the object cache keeps of a ticket, under the name its model gives (db.objects).
TICKETS = objects.ObjectKind("ticket", ListedTicket)
_LISTED_COLUMNS = tuple(getattr(Ticket, name) for name in ListedTicket.__dataclass_fields__ if name != "tags")


def _with_tags(query: Select[Ticket]) -> Select[Ticket]:
    return query.options(selectinload(Ticket.tag_rows))


async def get_ticket(session: AsyncSession, ticket_id: int) -> Ticket:
    """The ticket with ``ticket_id`` in the session's workspace, with its tags."""
    result = await session.execute(_with_tags(select(Ticket).where(Ticket.id == ticket_id)))
    ticket = result.scalar_one_or_none()
    if ticket is None:
        raise NotFound("No such ticket")
    return ticket


async def read_ticket(session: AsyncSession, ticket_id: int) -> ListedTicket:
    """The ticket with ``ticket_id`` in the session's workspace, as read for answering: its columns and
    tags, through the object cache; NotFound when there is none. Changes go through :func:`get_ticket`."""

    async def load() -> ListedTicket | None:
        row = (await session.execute(select(*_LISTED_COLUMNS).where(Ticket.id == ticket_id))).first()
        if row is None:
            return None
        tags = await session.execute(select(TicketTag.name).where(TicketTag.ticket_id == ticket_id))
        # Sorted as Ticket.tags sorts them, not by the database's collation.
        return ListedTicket(**row._mapping, tags=sorted(tags.scalars()))

    ticket = await objects.read_through(session, TICKETS, ticket_id, load)
    if ticket is None:
        raise NotFound("No such ticket")
    return ticket


def require_known_category(category: str, categories: Sequence[str]) -> None:
    if category not in categories:
        allowed = ", ".join(categories)
        raise InvalidInput("category", f"Unknown category; use one of: {allowed}.", reason="unknown-category")


async def _check_category(session: AsyncSession, workspace_id: int, category: str) -> None:
    workspace = await workspace_service.get_workspace(session, workspace_id)
    require_known_category(category, workspace.categories)


async def check_assignee(session: AsyncSession, agent_id: int) -> StaffSnapshot:
    """The active staff member who may take tickets with ``agent_id``, or InvalidInput. Read through the
    object cache: a desk assigns by hand all day, and each assignment checks its agent."""
    agent = await people_service.staff_member(session, agent_id)
    if agent is None or not agent.is_active:
        raise InvalidInput("assigned_agent_id", "No active staff user has this id.", reason="unknown-agent")
    if agent.role == Role.viewer:
        raise InvalidInput("assigned_agent_id", "Viewers cannot be assigned tickets.", reason="not-an-agent")
    return agent


async def check_external_id(session: AsyncSession, external_id: str, except_id: int | None = None) -> None:
    query = select(Ticket.id).where(Ticket.external_id == external_id)
    if except_id is not None:
        query = query.where(Ticket.id != except_id)
    if (await session.execute(query)).first() is not None:
        raise DuplicateTicketExternalId(f"Another ticket has the external id {external_id!r}")


def _apply_status(ticket: Ticket, target: TicketStatus, now: datetime) -> None:
    if target == ticket.status:
        return
    if not rules.can_transition(ticket.status, target):
        raise InvalidTransition(
            f"A ticket cannot go from {ticket.status.value} to {target.value}",
            current_status=ticket.status.value,
            allowed=sorted(status.value for status in rules.TRANSITIONS[ticket.status]),
        )
    if target in rules.NEEDS_ASSIGNEE and ticket.assigned_agent_id is None:
        raise InvalidInput(
            "status", f"Assign the ticket before moving it to {target.value}.", reason="needs-assignee"
        )
    if ticket.status == TicketStatus.resolved and target != TicketStatus.closed:
        ticket.resolved_at = None  # reopened
    if target == TicketStatus.resolved:
        ticket.resolved_at = now
    if target == TicketStatus.closed:
        ticket.closed_at = now
    ticket.status = target


async def update_ticket(
    session: AsyncSession,
    clock: Clock,
    ticket: Ticket,
    changes: dict[str, Any],
    *,
    actor: Staff | None,
    expected_version: int | None = None,
) -> Ticket:
    """Apply a partial update. Only fields present in ``changes`` are touched. ``actor`` ``None`` is the
    desk acting on rules an admin set (a trigger on arriving mail), which may do what they say."""
    require_version(ticket.version, expected_version)
    if ticket.status == TicketStatus.closed:
        raise TicketClosed()
    now = clock.now()
    if "category" in changes and changes["category"] is not None:
        await _check_category(session, ticket.workspace_id, changes["category"])
    if "external_id" in changes and changes["external_id"] is not None:
        await check_external_id(session, changes["external_id"], except_id=ticket.id)
    if "assigned_agent_id" in changes and changes["assigned_agent_id"] != ticket.assigned_agent_id:
        if actor is not None and not check_permission(actor.role, Action.reassign_ticket):
            raise PermissionDenied("Your role may not reassign tickets")
        new_agent = changes["assigned_agent_id"]
        if new_agent is not None:
            await check_assignee(session, new_agent)
        ticket.assigned_agent_id = new_agent
        ticket.assignment_seq = None  # a hand-made choice is not a turn of the round robin
        if "status" not in changes:
            ticket.status = rules.status_after_assignment(ticket.status, new_agent)
    for name in ("title", "description", "priority", "category", "external_id"):
        if name in changes:
            value = changes[name]
            if value is None and name in {"title", "description", "priority", "category"}:
                raise InvalidInput(name, f"{name} cannot be null.", reason="null")
            setattr(ticket, name, value)
    if "tags" in changes:
        wanted = list(dict.fromkeys(changes["tags"] or []))
        ticket.tag_rows = [
            next((row for row in ticket.tag_rows if row.name == tag), None)
            or TicketTag(workspace_id=ticket.workspace_id, name=tag)
            for tag in wanted
        ]
    if "status" in changes:
        if changes["status"] is None:
            raise InvalidInput("status", "status cannot be null.", reason="null")
        _apply_status(ticket, changes["status"], now)
    if ticket.status in rules.NEEDS_ASSIGNEE and ticket.assigned_agent_id is None:
        raise InvalidInput(
            "assigned_agent_id",
            f"A ticket that is {ticket.status.value} needs an assignee; change its status first.",
            reason="needs-assignee",
        )
    if session.sync_session.is_modified(ticket) or "tags" in changes:
        ticket.updated_at = now
    await session.flush()
    return ticket


async def delete_ticket(session: AsyncSession, ticket: Ticket) -> None:
    """Delete a ticket with its comments and tags."""
    await session.delete(ticket)
    await session.flush()


async def add_comment(
    session: AsyncSession,
    clock: Clock,
    ticket: Ticket,
    *,
    actor: Staff | None,
    content: str,
    is_public: bool = True,
    author: CommentAuthor = CommentAuthor.agent,
) -> Comment:
    """Add a comment. An agent's first public reply marks the first response; a customer's reply
    reopens a resolved ticket. Without an ``actor`` (the desk acting on its own rules) only the
    customer's message or an internal note can be written: the desk never answers a customer by itself."""
    if ticket.status == TicketStatus.closed:
        raise TicketClosed("A closed ticket takes no more comments")
    now = clock.now()
    by_customer = author == CommentAuthor.customer
    if by_customer and ticket.customer_id is None:
        raise InvalidInput("author", "This ticket has no customer.", reason="no-customer")
    if actor is None and not by_customer and is_public:
        raise PermissionDenied("Only a person answers a customer")
    comment = Comment(
        workspace_id=ticket.workspace_id,
        ticket_id=ticket.id,
        author_user_id=None if by_customer or actor is None else actor.id,
        author_customer_id=ticket.customer_id if by_customer else None,
        author_email=ticket.customer_email if by_customer else actor.email if actor else None,
        content=content,
        is_public=True if by_customer else is_public,  # what a customer writes is always public
        created_at=now,
    )
    if by_customer:
        new_status = rules.status_after_customer_reply(ticket.status, ticket.assigned_agent_id)
        if ticket.status == TicketStatus.resolved and new_status != ticket.status:
            ticket.resolved_at = None
        ticket.status = new_status
    elif is_public and ticket.first_responded_at is None:
        ticket.first_responded_at = now
    ticket.updated_at = now
    return await comment_writes.insert_comment(session, ticket, comment)


async def list_comments(
    session: AsyncSession, ticket: Ticket, *, include_internal: bool = True
) -> list[Comment]:
    """The ticket's comments, oldest first."""
    query = select(Comment).where(Comment.ticket_id == ticket.id).order_by(Comment.created_at, Comment.id)
    if not include_internal:
        query = query.where(Comment.is_public.is_(True))
    return list((await session.execute(query)).scalars())
