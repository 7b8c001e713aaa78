"""Mail in: messages are kept as they arrive, then processed into tickets and replies by a job.

Arrival (:func:`receive`) does as little as can be done safely while a sending server waits: the raw
bytes go into the file store, then one row per workspace and the outbox message that will process it
are written in one transaction. Only then does the listener or hook say "accepted", so an accepted
message is never lost: if processing fails it is tried again, and set aside (quarantined) with its
reason when it keeps failing; an admin can process it again.

Processing (:func:`process`) reads the message (``parsing``), decides with the pure rules (``rules``)
whether it must never be answered and where it belongs, and acts through the ticket flows, as the desk
itself: a new ticket, the customer's reply on theirs (which reopens it when it was resolved), a
follow-up to a closed one, or a note of what arrived. What rule placed it, and its evidence, is kept on
the message and written into the ticket's audit trail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.channels.email import candidates, parsing
from supportdesk.channels.email.mailboxes import mailbox_address
from supportdesk.channels.email.models import (
    InboundMessage,
    InboundSource,
    InboundState,
    Mailbox,
)
from supportdesk.config import Settings
from supportdesk.core.clock import Clock
from supportdesk.core.errors import Conflict
from supportdesk.core.storage import FileStore
from supportdesk.db import direct
from supportdesk.db.lookups import get_in_workspace
from supportdesk.jobs import outbox
from supportdesk.jobs.models import DeliveryChannel
from supportdesk.people.models import Customer
from supportdesk.tickets import attachments as ticket_attachments
from supportdesk.tickets.models import Priority
from supportdesk.workspaces import revisions
from supportdesk.workspaces.models import Workspace

# The outbox target of processing messages: there is one processor, not one per receiver.
PROCESSOR = "mail-in"
# The key of a processing job's payload that names the message's bytes in the file store (jobs queued
# by earlier releases name only the message).
RAW_KEY = "raw_sha256"
# The window of the per-sender rate limit.
_RATE_WINDOW = timedelta(hours=1)


# --- arrival ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arrival:
    """A message as a listener, mailbox poller or hook was given it."""

    raw: bytes
    source: InboundSource
    mailbox_id: int
    workspace_id: int
    recipients: Sequence[str] = ()
    envelope_sender: str | None = None


async def keep_raw(store: FileStore, raw: bytes) -> str:
    """Put the message's bytes in the file store (first of all: nothing is accepted unkept)."""
    return await asyncio.to_thread(store.put, raw)


async def record_arrival(
    session: AsyncSession, clock: Clock, arrival: Arrival, digest: str
) -> InboundMessage:
    """Record one kept message and the outbox message that processes it, in the session's transaction
    (scoped to the arrival's workspace); the caller commits, and only then says it was accepted."""
    message = InboundMessage(
        workspace_id=arrival.workspace_id,
        mailbox_id=arrival.mailbox_id,
        source=arrival.source,
        envelope_sender=(arrival.envelope_sender or None) and arrival.envelope_sender[:320],
        recipients=[recipient[:320] for recipient in arrival.recipients][:100],
        raw_sha256=digest,
        raw_size=len(arrival.raw),
        received_at=clock.now(),
    )
    session.add(message)
    await session.flush()
    await outbox.enqueue(session, clock, arrival.workspace_id, [_processing(message)])
    return message


def _processing(message: InboundMessage, round_: int = 0) -> outbox.Outgoing:
    key = f"mail-in:{message.id}" if round_ == 0 else f"mail-in:{message.id}:again:{round_}"
    # The job names the message's bytes too, so the processor reads and parses them before it opens its
    # transaction (and then reads the message row together with what it needs of earlier messages).
    payload = {"inbound_message_id": message.id, RAW_KEY: message.raw_sha256}
    return outbox.Outgoing(DeliveryChannel.inbound, PROCESSOR, key, payload)


# --- processing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboundRules:
    """What processing needs from the server's settings."""

    limits: parsing.Limits
    attachment_rules: ticket_attachments.AttachmentRules
    thread_window: timedelta
    sender_hourly_limit: int
    trusted_servers: frozenset[str]
    default_from: str


async def read_raw(store: FileStore, digest: str) -> bytes:
    """The bytes of a message, by their digest (``InboundMessage.raw_sha256``)."""
    return await asyncio.to_thread(store.get, digest)


def sender_of(parsed: parsing.ParsedEmail, envelope_sender: str | None) -> str:
    """Who sent a message, in lower case: its From, else the envelope's sender ("" when neither)."""
    return parsed.sender.email.lower() if parsed.sender else (envelope_sender or "").lower()


def header_id_of(parsed: parsing.ParsedEmail) -> str | None:
    """A message's Message-ID as it is stored and compared (the column's length)."""
    return (parsed.message_id or "")[:500] or None


def domain_of(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rpartition("@")[2].lower()


@dataclass(frozen=True, slots=True)
class MailboxDefaults:
    """What a ticket opened from a mailbox starts with (the workspace's defaults where unset)."""

    default_priority: Priority | None
    default_category: str | None


@dataclass(frozen=True, slots=True)
class Desk:
    """What processing needs of a workspace and its mailboxes, the same for every message that arrives
    there. The inbound processor reads it once for a batch of messages (see ``processing``)."""

    workspace_id: int
    reply_key: str
    # The addresses the desk sends from and takes replies at, and the domains of the ids it makes.
    own_addresses: frozenset[str]
    own_domains: frozenset[str]
    mailboxes: Mapping[int, MailboxDefaults]


async def read_desk(session: AsyncSession, workspace_id: int, default_from: str) -> Desk:
    """The :class:`Desk` of ``workspace_id``, in the session (scoped to it)."""
    workspace = (
        await session.execute(
            select(
                Workspace.email_from_address, Workspace.email_reply_address, Workspace.email_reply_key
            ).where(Workspace.id == workspace_id)
        )
    ).one()
    rows = (
        await session.execute(
            select(Mailbox.id, Mailbox.address, Mailbox.default_priority, Mailbox.default_category)
        )
    ).all()
    known = {
        workspace.email_from_address,
        workspace.email_reply_address,
        default_from,
        *(row.address for row in rows),
    }
    return Desk(
        workspace_id=workspace_id,
        reply_key=workspace.email_reply_key,
        own_addresses=frozenset(mailbox_address(address) for address in known if address),
        own_domains=frozenset(
            filter(None, (domain_of(workspace.email_from_address), domain_of(default_from)))
        ),
        mailboxes={row.id: MailboxDefaults(row.default_priority, row.default_category) for row in rows},
    )


async def mailbox_defaults(
    session: AsyncSession, desk: Desk, mailbox_id: int | None
) -> MailboxDefaults | None:
    """The defaults of the mailbox a message arrived in: from ``desk``, or read when the mailbox is newer
    than the desk's reading; ``None`` when the mailbox is gone."""
    if mailbox_id is None:
        return None
    found = desk.mailboxes.get(mailbox_id)
    if found is not None:
        return found
    mailbox = await session.get(Mailbox, mailbox_id)
    return None if mailbox is None else MailboxDefaults(mailbox.default_priority, mailbox.default_category)


# The statements that read an inbound message and what earlier messages say of it are built once, with
# the message's values as parameters: processing sends one for every message, and building it anew cost
# as much CPU as sending it.
_MESSAGE: BindParameter[int] = bindparam("message")
_HEADER_ID: BindParameter[str] = bindparam("header_id")
_RATE_SINCE: BindParameter[datetime] = bindparam("rate_since")
# How many other messages the sender sent within the rate window.
_FROM_SENDER_RECENTLY = (
    select(func.count())
    .select_from(InboundMessage)
    .where(
        InboundMessage.sender == candidates.SENDER,
        InboundMessage.received_at >= _RATE_SINCE,
        InboundMessage.id != _MESSAGE,
    )
)
# The messages with the same Message-ID that arrived before and were processed, the first first.
_EARLIER_COPIES = (
    select(InboundMessage.id, InboundMessage.ticket_id)
    .where(
        InboundMessage.message_id == _HEADER_ID,
        InboundMessage.id < _MESSAGE,
        InboundMessage.state == InboundState.processed,
    )
    .order_by(InboundMessage.id)
    .limit(1)
)


async def from_sender_recently(
    session: AsyncSession, message: InboundMessage, sender: str, now: datetime
) -> int:
    found = await session.execute(
        _FROM_SENDER_RECENTLY,
        {"sender": sender, "rate_since": now - _RATE_WINDOW, "message": message.id},
    )
    return int(found.scalar_one())


@dataclass(frozen=True, slots=True)
class EarlierCopy:
    """A message that arrived before with the same Message-ID, and the ticket it went to."""

    id: int
    ticket_id: int | None


async def earlier_copy(
    session: AsyncSession, message: InboundMessage, message_id: str | None
) -> EarlierCopy | None:
    """The message with the Message-ID ``message_id`` (``message``'s) that arrived before ``message``
    and was processed first, if any."""
    if not message_id:
        return None
    found = await session.execute(_EARLIER_COPIES, {"header_id": message_id, "message": message.id})
    row = found.first()
    return None if row is None else EarlierCopy(int(row.id), row.ticket_id)


@dataclass(frozen=True, slots=True)
class History:
    """What the desk knows already of a message being processed: the copy of it processed before, if
    any, how many other messages its sender sent within the rate window, and the customer with the
    sender's address (``None`` when there is none yet)."""

    earlier: EarlierCopy | None
    from_sender_recently: int
    customer: Customer | None
    # Whether any ticket of the sender's was active within the threading window.
    sender_has_recent: bool


def _message_with_history(*, earlier: bool) -> Select[Any]:
    """The statement :func:`load_message` sends: with the earlier copy's subqueries when the message has
    a Message-ID. The subqueries are not correlated: each reads other rows of the table the statement
    reads the message from."""
    copies = (
        (
            _EARLIER_COPIES.with_only_columns(InboundMessage.id).correlate(None).scalar_subquery(),
            _EARLIER_COPIES.with_only_columns(InboundMessage.ticket_id).correlate(None).scalar_subquery(),
        )
        if earlier
        else ()
    )
    return (
        select(
            InboundMessage,
            Customer,
            Workspace.sla_revision,
            Workspace.automation_revision,
            Workspace.delivery_revision,
            _FROM_SENDER_RECENTLY.correlate(None).scalar_subquery(),
            exists(candidates.recent_of_sender()).correlate(None),
            *copies,
        )
        .join(Workspace, Workspace.id == InboundMessage.workspace_id)
        .outerjoin(Customer, Customer.email == candidates.SENDER)
        .where(InboundMessage.id == _MESSAGE)
    )


_MESSAGE_WITH_HISTORY = {earlier: _message_with_history(earlier=earlier) for earlier in (False, True)}


async def load_message(
    session: AsyncSession,
    message_id: int,
    parsed: parsing.ParsedEmail,
    *,
    now: datetime,
    window: timedelta,
) -> tuple[InboundMessage, History | None] | None:
    """The inbound message ``message_id`` (``None`` when it is gone), read in one statement with its
    :class:`History`, which ``parsed`` (its bytes, read beforehand) says how to find, and with its
    workspace's configuration revisions (remembered for the unit of work). The history is
    ``None`` when the message names no sender of its own (then it is the envelope's, known only once the
    row is read): processing looks it up itself."""
    if parsed.sender is None:
        message = await session.get(InboundMessage, message_id)
        return None if message is None else (message, None)
    header_id = header_id_of(parsed)
    parameters = {
        "message": message_id,
        "sender": sender_of(parsed, None),
        "rate_since": now - _RATE_WINDOW,
        "thread_since": now - window,
        **({"header_id": header_id} if header_id else {}),
    }
    row = await direct.first(session, _MESSAGE_WITH_HISTORY[header_id is not None], parameters)
    if row is None:
        return None
    message, customer, sla, automation, delivery, recently, has_recent, *copy = row
    # The configuration's revisions, which the triggers and SLA clocks of a reply would read otherwise.
    revisions.remember(
        session, message.workspace_id, revisions.Revisions(int(sla), int(automation), int(delivery))
    )
    found = EarlierCopy(int(copy[0]), copy[1]) if copy and copy[0] is not None else None
    history = History(
        earlier=found,
        from_sender_recently=int(recently),
        customer=customer,
        sender_has_recent=bool(has_recent),
    )
    return message, history


# --- looking back -------------------------------------------------------------------------------


async def get_message(session: AsyncSession, message_id: int) -> InboundMessage:
    return await get_in_workspace(session, InboundMessage, message_id, "inbound message")


async def list_messages(
    session: AsyncSession,
    *,
    state: InboundState | None = None,
    ticket_id: int | None = None,
    limit: int = 100,
) -> list[InboundMessage]:
    query = select(InboundMessage).order_by(InboundMessage.id.desc()).limit(limit)
    if state is not None:
        query = query.where(InboundMessage.state == state)
    if ticket_id is not None:
        query = query.where(InboundMessage.ticket_id == ticket_id)
    return list((await session.execute(query)).scalars())


async def reprocess(session: AsyncSession, clock: Clock, message: InboundMessage) -> InboundMessage:
    """Process a quarantined message again, as a new job (its earlier attempts stay in the log)."""
    if message.state != InboundState.quarantined:
        raise Conflict("Only a quarantined message is processed again", current_state=message.state.value)
    message.state = InboundState.received
    message.last_error = None
    await session.flush()
    await outbox.enqueue(session, clock, message.workspace_id, [_processing(message, message.attempts)])
    return message


def inbound_rules(settings: Settings) -> InboundRules:
    """What processing takes from the server's settings."""
    return InboundRules(
        limits=parsing.Limits(max_attachment_bytes=settings.attachment_max_bytes),
        attachment_rules=ticket_attachments.AttachmentRules.of(settings),
        thread_window=timedelta(hours=settings.mail_thread_window_hours),
        sender_hourly_limit=settings.mail_sender_hourly_limit,
        trusted_servers=frozenset(server.lower() for server in settings.mail_trusted_servers),
        default_from=settings.mail_from,
    )
