"""What the threading rules need to know of an arrived message, looked up in its workspace: which
tickets it names (by the desk's Message-IDs, the reply address, the subject token) and the sender's
recent tickets, read as candidates in one statement with their tags and participants.

The statements are built once, with the message's values as parameters: processing sends them for
every message, and building them anew cost more than their parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import BindParameter, ColumnElement, Select, bindparam, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from supportdesk.channels.email import parsing, rules
from supportdesk.jobs.models import DeliveryChannel, OutboxMessage
from supportdesk.notifications.mail import threading
from supportdesk.tickets.models import Ticket, TicketParticipant, TicketStatus

if TYPE_CHECKING:
    from supportdesk.channels.email.service import Desk

# How many of a sender's e-mails from the desk are searched for the Message-ID a reply names.
_SENT_LOOKBACK = 200
# The sender's address and the start of the threading window, as the statements here and the one that
# reads a message with its history (service.load_message) name them.
SENDER: BindParameter[str] = bindparam("sender")
THREAD_SINCE: BindParameter[datetime] = bindparam("thread_since")

_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_NUMBER: BindParameter[int] = bindparam("number")

# The sender's most recent e-mails from the desk with the ticket of each: their Message-IDs are made
# again from the dedupe keys (an indexed look-up by target).
_SENT_TO_SENDER = (
    select(OutboxMessage.dedupe_key, OutboxMessage.ticket_id)
    .where(
        OutboxMessage.channel == DeliveryChannel.email,
        OutboxMessage.target == SENDER,
        OutboxMessage.ticket_id.is_not(None),
    )
    .order_by(OutboxMessage.id.desc())
    .limit(_SENT_LOOKBACK)
)


@functools.cache
def _candidates(by_ids: bool, by_number: bool, by_recent: bool) -> Select[Ticket, bool, str]:
    """The candidate tickets of a message in one statement: those named by id, the one with the subject
    token's number and the sender's recent ones, as the message has each, with their tags, whether each
    is among the sender's recent ones (their order is made again by the caller, by the query's keys)
    and the address of each participant. Built once for each combination of the three."""
    wanted: list[ColumnElement[bool]] = []
    if by_ids:
        wanted.append(Ticket.id.in_(_IDS))
    if by_number:
        wanted.append(Ticket.number == _NUMBER)
    recent_flag: ColumnElement[bool] = literal(False)
    if by_recent:
        recent_ids = (
            recent_of_sender().order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(5).correlate(None)
        )
        wanted.append(Ticket.id.in_(recent_ids))
        recent_flag = Ticket.id.in_(recent_ids)
    return (
        select(Ticket, recent_flag.label("recent"), TicketParticipant.email)
        .outerjoin(TicketParticipant, TicketParticipant.ticket_id == Ticket.id)
        .where(or_(*wanted))
        .options(joinedload(Ticket.tag_rows))
    )


async def _sent_ids(
    session: AsyncSession, workspace_id: int, sender: str, wanted: Sequence[str]
) -> dict[str, int]:
    """Which of the ``wanted`` Message-IDs the desk made for e-mails it sent ``sender``, and the ticket
    of each. An id is a digest of its outbox message's dedupe key, so the sender's recent e-mails are
    read (an indexed look-up by target) and their ids made again."""
    digests = {}
    for message_id in wanted:
        local = message_id.strip("<>").partition("@")[0].lower()
        if local.endswith(f".w{workspace_id}") and not local.startswith("ticket-"):
            digests[local] = message_id
    if not digests or not sender:
        return {}
    rows = await session.execute(_SENT_TO_SENDER, {"sender": sender})
    found: dict[str, int] = {}
    for dedupe_key, ticket_id in rows.all():
        key = threading.message_key(workspace_id, dedupe_key)
        if key in digests and ticket_id is not None:
            found[digests[key]] = ticket_id
    return found


def _known(ticket: Ticket, participants: frozenset[str]) -> rules.KnownTicket:
    return rules.KnownTicket(
        id=ticket.id,
        number=ticket.number,
        subject=ticket.title,
        customer_email=ticket.customer_email,
        participants=participants,
        closed=ticket.status == TicketStatus.closed,
        last_activity_at=ticket.updated_at,
    )


def recent_of_sender() -> Select[int]:
    """The sender's tickets active within the threading window (the heuristic's candidates)."""
    return select(Ticket.id).where(Ticket.customer_email == SENDER, Ticket.updated_at >= THREAD_SINCE)


async def thread_facts(
    session: AsyncSession,
    desk: Desk,
    parsed: parsing.ParsedEmail,
    recipients: Sequence[str],
    *,
    now: datetime,
    window: timedelta,
    sender_has_recent: bool | None = None,
) -> tuple[rules.ThreadFacts, dict[int, Ticket]]:
    """Look up what the threading rules need for ``parsed``, in its workspace, and the candidate tickets.

    The candidates (those the ids and the reply address name, the subject token's and the sender's
    recent ones) are read in one statement, as the tickets themselves with their tags, and with their
    participants' addresses: the one a reply lands on is not read again. ``sender_has_recent`` is whether
    the caller found any ticket of the sender's active within ``window`` (``None``: not looked at); when
    it found none and nothing else names a ticket, no statement is sent."""
    sender = parsed.sender.email.lower() if parsed.sender else ""
    referenced = rules.referenced_ids(parsed)
    named: set[int] = set()
    for message_id in referenced:
        root = rules.root_ticket(message_id, desk.workspace_id)
        if root is not None:
            named.add(root)
    sent = await _sent_ids(session, desk.workspace_id, sender, referenced)
    named.update(sent.values())
    reply_ticket = None
    addresses = [*recipients, *(address.email for address in (*parsed.to, *parsed.cc))]
    for address in addresses:
        reply_ticket = threading.ticket_of_reply_address(address, desk.reply_key, desk.workspace_id)
        if reply_ticket is not None:
            named.add(reply_ticket)
            break
    number = rules.subject_token_number(parsed.subject)
    by_recent = bool(sender) and sender_has_recent is not False
    found: dict[int, Ticket] = {}
    recent_rows: list[Ticket] = []
    copied: dict[int, set[str]] = {}
    if named or number is not None or by_recent:
        parameters: dict[str, Any] = {}
        if named:
            parameters["ids"] = sorted(named)
        if number is not None:
            parameters["number"] = number
        if by_recent:
            parameters |= {"sender": sender, "thread_since": now - window}
        statement = _candidates(bool(named), number is not None, by_recent)
        rows = await session.execute(statement, parameters)
        for ticket, is_recent, participant in rows.unique().all():
            if ticket.id not in found:
                found[ticket.id] = ticket
                if is_recent:
                    recent_rows.append(ticket)
            if participant is not None:
                copied.setdefault(ticket.id, set()).add(participant)
    recent = [
        ticket.id for ticket in sorted(recent_rows, key=lambda one: (one.updated_at, one.id), reverse=True)
    ]
    token_ticket = next((ticket.id for ticket in found.values() if ticket.number == number), None)
    facts = rules.ThreadFacts(
        workspace_id=desk.workspace_id,
        sent_ids=sent,
        reply_address_ticket=reply_ticket,
        tickets={
            ticket.id: _known(ticket, frozenset(copied.get(ticket.id, ()))) for ticket in found.values()
        },
        token_ticket=token_ticket,
        recent_of_sender=recent,
    )
    return facts, found
