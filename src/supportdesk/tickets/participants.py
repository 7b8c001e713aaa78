"""The people besides the customer whom an agent copies on a ticket's public replies.

Only an agent adds a participant (through the API); mail that names someone on copy adds nobody, so a
stranger cannot make the desk send them a ticket's conversation ("Ticket Trick"). Participants are
known to inbound threading too: a participant who writes ``[#12]`` in a subject reaches ticket 12.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.core.clock import Clock
from supportdesk.core.errors import Conflict, InvalidInput, NotFound
from supportdesk.tickets.models import Ticket, TicketParticipant, TicketStatus


class ParticipantExists(Conflict):
    code = "participant-exists"
    title = "The address is a participant of the ticket already"


async def list_participants(session: AsyncSession, ticket_id: int) -> list[TicketParticipant]:
    """The ticket's participants, in the order they were added."""
    query = (
        select(TicketParticipant)
        .where(TicketParticipant.ticket_id == ticket_id)
        .order_by(TicketParticipant.id)
    )
    return list((await session.execute(query)).scalars())


async def participant_addresses(
    session: AsyncSession, ticket_ids: Iterable[int]
) -> dict[int, frozenset[str]]:
    """The participants' addresses of each ticket in ``ticket_ids`` (tickets without any are left out)."""
    wanted = sorted(set(ticket_ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(TicketParticipant.ticket_id, TicketParticipant.email).where(
            TicketParticipant.ticket_id.in_(wanted)
        )
    )
    found: dict[int, set[str]] = {}
    for ticket_id, email in rows.all():
        found.setdefault(ticket_id, set()).add(email)
    return {ticket_id: frozenset(emails) for ticket_id, emails in found.items()}


async def add_participant(
    session: AsyncSession,
    clock: Clock,
    ticket: Ticket,
    *,
    email: str,
    name: str | None = None,
    added_by_user_id: int | None = None,
) -> TicketParticipant:
    """Copy ``email`` on the ticket's public replies from now on."""
    if ticket.status == TicketStatus.closed:
        raise Conflict("A closed ticket takes no more participants")
    address = email.lower()
    if address == (ticket.customer_email or "").lower():
        raise InvalidInput("email", "This is the ticket's customer.", reason="is-the-customer")
    participant = TicketParticipant(
        workspace_id=ticket.workspace_id,
        ticket_id=ticket.id,
        email=address,
        name=name,
        added_by_user_id=added_by_user_id,
        created_at=clock.now(),
    )
    try:
        async with session.begin_nested():
            session.add(participant)
            await session.flush()
    except IntegrityError:
        raise ParticipantExists(f"{address} is a participant of ticket #{ticket.number} already") from None
    return participant


async def remove_participant(session: AsyncSession, ticket: Ticket, participant_id: int) -> None:
    """Stop copying a participant; ``NotFound`` when the ticket has no such participant."""
    participant = await session.get(TicketParticipant, participant_id)
    if participant is None or participant.ticket_id != ticket.id:
        raise NotFound("No such participant of this ticket")
    await session.delete(participant)
    await session.flush()
