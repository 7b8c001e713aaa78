"""What a change to a ticket announces to webhook subscriptions, decided from the ticket before and after.

The flows call these at the end of their unit of work, so the event carries the ticket as it was
committed, triggers' changes included, and its outbox messages commit with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.core.clock import Clock
from supportdesk.tickets.models import Comment, Ticket, TicketStatus
from supportdesk.tickets.schemas import CommentOut
from supportdesk.tickets.views import ticket_view
from supportdesk.webhooks import service as webhooks
from supportdesk.webhooks.models import WebhookEvent


@dataclass(frozen=True, slots=True)
class Before:
    """The fields whose change is an event of its own, as they were before a change."""

    status: TicketStatus
    assigned_agent_id: int | None
    escalated: bool
    version: int

    @classmethod
    def of(cls, ticket: Ticket) -> Before:
        return cls(ticket.status, ticket.assigned_agent_id, ticket.escalated, ticket.version)


def update_events(before: Before, ticket: Ticket) -> list[WebhookEvent]:
    """The events a change from ``before`` to ``ticket`` announces: none when nothing changed."""
    if ticket.version == before.version:
        return []
    events = [WebhookEvent.ticket_updated]
    if ticket.status != before.status:
        events.append(WebhookEvent.ticket_status_changed)
    if ticket.assigned_agent_id is not None and ticket.assigned_agent_id != before.assigned_agent_id:
        events.append(WebhookEvent.ticket_assigned)
    if ticket.escalated and not before.escalated:
        events.append(WebhookEvent.ticket_escalated)
    return events


def _previous(before: Before, ticket: Ticket) -> dict[str, Any]:
    previous: dict[str, Any] = {}
    if ticket.status != before.status:
        previous["status"] = before.status.value
    if ticket.assigned_agent_id != before.assigned_agent_id:
        previous["assigned_agent_id"] = before.assigned_agent_id
    if ticket.escalated != before.escalated:
        previous["escalated"] = before.escalated
    return previous


async def announce_created(session: AsyncSession, clock: Clock, ticket: Ticket) -> None:
    """``ticket.created``, and ``ticket.assigned`` when it was assigned as it was opened."""
    events = [WebhookEvent.ticket_created]
    if ticket.assigned_agent_id is not None:
        events.append(WebhookEvent.ticket_assigned)

    async def data() -> Mapping[str, Any]:
        view = await ticket_view(session, ticket, clock.now())
        return {"ticket": view.model_dump(mode="json")}

    await webhooks.announce(
        session,
        clock,
        ticket.workspace_id,
        events,
        cause=f"ticket:{ticket.id}:created",
        data=data,
        ticket_id=ticket.id,
    )


async def announce_update(session: AsyncSession, clock: Clock, before: Before, ticket: Ticket) -> None:
    """The events of a change to ``ticket``, with the previous values of the fields that changed."""
    events = update_events(before, ticket)
    if not events:
        return

    async def data() -> Mapping[str, Any]:
        view = await ticket_view(session, ticket, clock.now())
        return {"ticket": view.model_dump(mode="json"), "previous": _previous(before, ticket)}

    await webhooks.announce(
        session,
        clock,
        ticket.workspace_id,
        events,
        cause=f"ticket:{ticket.id}:v{ticket.version}",
        data=data,
        ticket_id=ticket.id,
    )


async def announce_comment(session: AsyncSession, clock: Clock, ticket: Ticket, comment: Comment) -> None:
    """``comment.created``, with the ticket it is on."""

    async def data() -> Mapping[str, Any]:
        view = await ticket_view(session, ticket, clock.now())
        return {
            "comment": CommentOut.model_validate(comment).model_dump(mode="json"),
            "ticket": view.model_dump(mode="json"),
        }

    await webhooks.announce(
        session,
        clock,
        ticket.workspace_id,
        [WebhookEvent.comment_created],
        cause=f"comment:{comment.id}",
        data=data,
        ticket_id=ticket.id,
    )
