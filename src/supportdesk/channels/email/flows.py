"""Processing an arrived e-mail: the use case that turns it into a ticket, a reply, a follow-up or a
record of a message that is never answered.

It reads the message (``parsing``), decides with the pure rules (``rules``) whether it must never be
answered and where it belongs, with what was looked up (``candidates.thread_facts``), and acts
through the ticket flows as the desk itself (no staff user set it off): a new ticket, the customer's
reply on theirs (which reopens it when it was resolved), a follow-up to a closed one, or an internal
note of what someone else wrote. The rule that placed it and its evidence are kept on the message and
written into the ticket's audit trail. One unit of work, which the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.channels.email import parsing, repository, rules
from supportdesk.channels.email.candidates import thread_facts
from supportdesk.channels.email.models import InboundMessage, InboundOutcome, InboundState
from supportdesk.channels.email.service import (
    Desk,
    History,
    InboundRules,
    earlier_copy,
    from_sender_recently,
    header_id_of,
    mailbox_defaults,
    read_desk,
    sender_of,
)
from supportdesk.core.clock import Clock
from supportdesk.core.storage import FileStore
from supportdesk.jobs import outbox
from supportdesk.people import service as people_service
from supportdesk.tickets import attachments as ticket_attachments
from supportdesk.tickets import flows
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Channel, Comment, Priority, Ticket, TicketStatus
from supportdesk.tickets.schemas import CommentAuthor

_TITLE_CHARS = 300
_NO_SUBJECT = "(no subject)"


def _uploads(parsed: parsing.ParsedEmail) -> list[ticket_attachments.Upload]:
    return [
        ticket_attachments.Upload(filename=item.filename, content_type=item.content_type, data=item.data)
        for item in parsed.attachments
    ]


async def _checked_uploads(
    parsed: parsing.ParsedEmail, rules_: ticket_attachments.AttachmentRules, defects: list[str]
) -> list[ticket_attachments.Upload]:
    """The message's attachments that may be kept: one the scanner refuses is left out and listed in
    ``defects``; a scanner that cannot check raises, and the message is processed again later."""
    kept = []
    for upload in _uploads(parsed)[: rules_.max_count]:
        if len(upload.data) > rules_.max_bytes:
            defects.append(f"attachment {upload.filename} dropped: larger than {rules_.max_bytes} bytes")
            continue
        try:
            await ticket_attachments.scan([upload], rules_.scan_command)
        except ticket_attachments.AttachmentInfected:
            defects.append(f"attachment {upload.filename} dropped: refused by the virus scanner")
            continue
        kept.append(upload)
    if len(parsed.attachments) > rules_.max_count:
        defects.append(f"{len(parsed.attachments) - rules_.max_count} attachments dropped: too many")
    return kept


def _threading_changes(message: InboundMessage) -> dict[str, tuple[Any, Any]]:
    """What the ticket's audit trail says of the e-mail: which rule brought it to the ticket, and why."""
    return {
        "email_received": (
            None,
            {
                "inbound_message_id": message.id,
                "outcome": message.outcome.value if message.outcome else None,
                "rule": message.thread_rule,
                "evidence": message.thread_evidence,
                "sender": message.sender,
            },
        )
    }


async def process_inbound(
    session: AsyncSession,
    clock: Clock,
    store: FileStore,
    settings: InboundRules,
    message: InboundMessage,
    parsed: parsing.ParsedEmail,
    *,
    desk: Desk | None = None,
    history: History | None = None,
) -> InboundMessage:
    """Make of ``message`` what it is, in the session's unit of work (scoped to its workspace).
    ``desk`` is what the workspace's settings and mailboxes were when the caller read them for a batch
    of messages; without it they are read here. ``history`` is what earlier messages say about this one
    when the caller read it with the message (``service.load_message``); without it, it is read here."""
    now = clock.now()
    # Every way out below ends with the message's own statement, which writes the outbox's messages too.
    outbox.hold_until_taken(session)
    if desk is None:
        desk = await read_desk(session, message.workspace_id, settings.default_from)
    sender = sender_of(parsed, message.envelope_sender)
    # What the headers say is written on the message at the end, with what became of it: the ticket
    # flows below flush several times, and each flush would otherwise update the message's row again.
    read = _Read(
        message_id=header_id_of(parsed),
        sender=sender[:254] or None,
        subject=parsed.subject[:300] or None,
        defects=[*parsed.defects, *(f"{item.what} dropped: {item.reason}" for item in parsed.dropped)],
    )

    if history is not None:
        earlier = history.earlier
    else:
        earlier = await earlier_copy(session, message, read.message_id)
    if earlier is not None:
        message.outcome = InboundOutcome.duplicate
        message.ticket_id = earlier.ticket_id
        message.thread_evidence = f"the same Message-ID arrived before as message {earlier.id}"
        return await _done(session, message, read, now)

    if history is not None:
        recently = history.from_sender_recently
    else:
        recently = await from_sender_recently(session, message, sender, now) if sender else 0
    machine = rules.automated(
        parsed,
        own_domains=desk.own_domains,
        own_addresses=desk.own_addresses,
        from_sender_recently=recently,
        sender_limit=settings.sender_hourly_limit,
    )
    authenticity = rules.authenticity(parsed, settings.trusted_servers).value
    if machine is not None:
        message.authenticity = authenticity
        message.outcome = InboundOutcome.automated
        message.automated_reason = f"{machine.kind.value}: {machine.evidence}"[:500]
        if machine.kind is rules.Automated.bounce and parsed.bounce is not None:
            await people_service.mark_bouncing(
                session, clock, parsed.bounce.failed_recipients, parsed.bounce.diagnostic or machine.evidence
            )
        return await _done(session, message, read, now)

    customer = None
    if sender:
        # A person wrote from the address: it works again, whatever bounced before.
        customer = await people_service.clear_bouncing(
            session,
            clock,
            sender,
            found=history.customer if history is not None else people_service.NOT_LOOKED_UP,
        )
    facts, candidates = await thread_facts(
        session,
        desk,
        parsed,
        message.recipients,
        now=now,
        window=settings.thread_window,
        sender_has_recent=history.sender_has_recent if history is not None else None,
    )
    reason = rules.decide_thread(parsed, facts, now=now, window=settings.thread_window)
    thread_evidence = reason.evidence[:1000]
    uploads = await _checked_uploads(parsed, settings.attachment_rules, read.defects)
    # The files go into the store before the ticket is written: opening one holds the workspace's row
    # until the commit, and other tickets of the workspace wait for it meanwhile.
    kept = await ticket_attachments.keep(store, uploads) if uploads else []
    text = (parsed.reply or parsed.text).strip()
    ticket: Ticket | None = None
    if reason.ticket_id is not None:
        # Read with its tags among the candidates (the session keeps only a weak reference to it).
        ticket = candidates.get(reason.ticket_id) or await ticket_service.get_ticket(
            session, reason.ticket_id
        )
    comment: Comment | None = None
    if ticket is not None and ticket.status != TicketStatus.closed:
        comment = await _add_reply(session, clock, ticket, sender, text or _NO_SUBJECT)
        outcome = InboundOutcome.reply
    else:
        follow_up_of = ticket
        mailbox = await mailbox_defaults(session, desk, message.mailbox_id)
        ticket = await flows.process_new_ticket(
            session,
            clock,
            actor=None,
            workspace_id=message.workspace_id,
            title=(" ".join(parsed.subject.split()) or _NO_SUBJECT)[:_TITLE_CHARS],
            description=text,
            priority=(mailbox.default_priority if mailbox else None) or Priority.medium,
            category=mailbox.default_category if mailbox else None,
            customer_email=sender or None,
            customer_name=(parsed.sender.name if parsed.sender else None) or None,
            found_customer=customer if sender else people_service.NOT_LOOKED_UP,
            channel=Channel.email,
            follow_up_of_id=follow_up_of.id if follow_up_of else None,
        )
        if follow_up_of is not None:
            outcome = InboundOutcome.follow_up
            why = "that ticket is closed, so this follow-up was opened"
            thread_evidence = f"{reason.evidence}; {why}"[:1000]
        else:
            outcome = InboundOutcome.new_ticket
        if uploads:
            names = ", ".join(upload.filename for upload in uploads)
            comment = await _add_reply(
                session, clock, ticket, sender, f"Attached to the e-mail that opened this ticket: {names}"
            )
    if comment is not None and kept:
        ticket_attachments.record(session, clock, comment, kept)
    message.authenticity = authenticity
    message.thread_rule = reason.rule.value
    message.thread_evidence = thread_evidence
    message.outcome = outcome
    message.ticket_id = ticket.id
    message.comment_id = comment.id if comment else None
    return await _done(session, message, read, now, placed=True)


async def _add_reply(session: AsyncSession, clock: Clock, ticket: Ticket, sender: str, text: str) -> Comment:
    """The sender's message on ``ticket``: the customer's reply when the customer wrote it, otherwise an
    internal note of what arrived (someone on copy, a forward): a stranger's words are never shown to the
    customer as the customer's, and writing does not make the stranger someone the ticket answers."""
    if sender and sender == (ticket.customer_email or "").lower():
        return await flows.process_comment(
            session, clock, ticket, actor=None, content=text, author=CommentAuthor.customer
        )
    comment = await flows.process_comment(
        session,
        clock,
        ticket,
        actor=None,
        content=f"E-mail from {sender or 'an unknown sender'}:\n\n{text}",
        is_public=False,
    )
    comment.author_email = sender[:254] or None
    return comment


@dataclass(slots=True)
class _Read:
    """What processing read from a message's headers, written on it when it is done."""

    message_id: str | None
    sender: str | None
    subject: str | None
    # What reading found wrong or left out; processing adds the attachments it dropped.
    defects: list[str]


async def _done(
    session: AsyncSession,
    message: InboundMessage,
    read: _Read,
    now: datetime,
    *,
    placed: bool = False,
) -> InboundMessage:
    """Write what became of ``message`` and, when processing ``placed`` it on a ticket, the event that
    tells the ticket's audit trail which rule did (made from the message as written)."""
    message.message_id = read.message_id
    message.sender = read.sender
    message.subject = read.subject
    message.attempts += 1
    message.defects = read.defects[:50]
    message.state = InboundState.processed
    message.processed_at = now
    message.last_error = None
    changes = _threading_changes(message) if placed else None
    await repository.finish_message(session, message, now, ticket_changes=changes)
    return message
