"""The customer's rating of how their request was resolved: one answer per ticket, which they may
change; the ticket's audit trail keeps each answer (the row's changes are filed under the ticket)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.core.clock import Clock
from supportdesk.core.errors import InvalidInput
from supportdesk.tickets.models import SatisfactionRating, Ticket, TicketSatisfaction, TicketStatus

RATEABLE = frozenset({TicketStatus.resolved, TicketStatus.closed})


async def satisfaction_of(session: AsyncSession, ticket_id: int) -> TicketSatisfaction | None:
    """The rating of ticket ``ticket_id``, if its customer gave one (the session is scoped)."""
    query = select(TicketSatisfaction).where(TicketSatisfaction.ticket_id == ticket_id)
    return (await session.execute(query)).scalar_one_or_none()


async def rate(
    session: AsyncSession,
    clock: Clock,
    ticket: Ticket,
    *,
    customer_id: int,
    rating: SatisfactionRating,
    comment: str | None,
) -> TicketSatisfaction:
    """Record the customer's rating of ``ticket``, or change the one they gave."""
    if ticket.status not in RATEABLE:
        raise InvalidInput("rating", "A request is rated once it is resolved.", reason="not-resolved")
    now = clock.now()
    found = await satisfaction_of(session, ticket.id)
    if found is None:
        found = TicketSatisfaction(
            workspace_id=ticket.workspace_id,
            ticket_id=ticket.id,
            customer_id=customer_id,
            rating=rating,
            comment=comment or None,
            rated_at=now,
            updated_at=now,
        )
        session.add(found)
    elif found.rating != rating or found.comment != (comment or None):
        found.rating, found.comment = rating, comment or None
        found.rated_at = found.updated_at = now
    await session.flush()
    return found
