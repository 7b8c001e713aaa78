"""What a change to a ticket announces to webhook subscriptions, e-mails to its customer and pushes to
the workspace's open screens, decided from the ticket before and after.

The flows call these at the end of their unit of work, so the event carries the ticket as it was
committed, triggers' changes included, and its outbox messages commit with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from supportdesk.core.clock import Clock
from supportdesk.core.pushes import Push, push_after_commit
from supportdesk.jobs import outbox
from supportdesk.notifications.mail import service as mail
from supportdesk.notifications.mail.compose import Thread
from supportdesk.notifications.mail.models import EmailKind
from supportdesk.people.models import Customer, User
from supportdesk.realtime.pubsub import desk_channel
from supportdesk.tickets import participants
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


def customer_mail_for(
    before: TicketStatus, after: TicketStatus, *, by_customer: bool = False
) -> EmailKind | None:
    """The e-mail a change of status sends the customer, if any.

    The customer hears of what concerns them: a resolution (with the question whether they are
    satisfied), a ticket waiting for their answer, and a closing they did not see coming. The desk's
    own steps (assigned, in progress) are not worth an e-mail, nor is a reopening, which mostly follows
    the customer's own reply. A resolution the customer made themselves (``by_customer``: "my problem
    is solved" in the portal) sends nothing: the page they did it on asks how the desk did already.
    """
    if after == before:
        return None
    if after == TicketStatus.resolved:
        return None if by_customer else EmailKind.satisfaction_request
    if after == TicketStatus.pending:
        return EmailKind.status_changed
    if after == TicketStatus.closed:
        # After a resolution the customer was told already; closing then is bookkeeping.
        return None if before == TicketStatus.resolved else EmailKind.status_changed
    return None


def _status_text(status: TicketStatus) -> str:
    return status.value.replace("_", " ")


async def _customer_mail(
    session: AsyncSession,
    clock: Clock,
    ticket: Ticket,
    kind: EmailKind,
    *,
    cause: str,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[outbox.Outgoing]:
    """The e-mail ``kind`` to the ticket's customer, when it has one and the workspace sends e-mail."""
    if ticket.customer_email is None:
        return []
    if not (await mail.mail_setup(session, ticket.workspace_id)).enabled:
        # Asked first, from this process's cache: a workspace that sends no e-mail looks nobody up.
        return []
    name = None
    if ticket.customer_id is not None:
        customer = await _customer(session, ticket.customer_id)
        if customer is not None and customer.email_bounced_at is not None:
            # Mail to the address came back undeliverable: more of it would only bounce again and hurt
            # the sender's reputation. The mark goes when the customer writes again or gets a new address.
            return []
        name = customer.name if customer is not None else None
    context = _mail_context(ticket, name, ticket.customer_email, extra)
    message = await mail.customer_message(
        session,
        clock,
        kind,
        workspace_id=ticket.workspace_id,
        thread=Thread(ticket.id, ticket.number, ticket.title, ticket.created_at),
        to=ticket.customer_email,
        cause=cause,
        context=context,
    )
    return [message] if message is not None else []


# What the customer's e-mail reads of the customer (it must be loaded to be read without a query).
_READ_OF_CUSTOMER = frozenset({"name", "email_bounced_at"})


async def _customer(session: AsyncSession, customer_id: int) -> Customer | None:
    """The customer with ``customer_id``: from the session's identity map when the flow found or created
    it, without the trip into the session's greenlet that ``get`` takes even then, or else read."""
    found = session.identity_map.get(identity_key(Customer, customer_id))
    if isinstance(found, Customer) and not inspect(found).unloaded & _READ_OF_CUSTOMER:
        return found
    return await session.get(Customer, customer_id)


def _previous(before: Before, ticket: Ticket) -> dict[str, Any]:
    previous: dict[str, Any] = {}
    if ticket.status != before.status:
        previous["status"] = before.status.value
    if ticket.assigned_agent_id != before.assigned_agent_id:
        previous["assigned_agent_id"] = before.assigned_agent_id
    if ticket.escalated != before.escalated:
        previous["escalated"] = before.escalated
    return previous


def _tell_desk(session: AsyncSession, ticket: Ticket, event: str, **details: Any) -> None:
    """Push to the workspace's open screens that ``ticket`` changed, once the change commits: a queue
    that lists it and a page that shows it read it again. Only ids travel; the screens read the rest
    through the pages, with their own permissions."""
    message = {
        "type": "ticket",
        "event": event,
        "ticket_id": ticket.id,
        "number": ticket.number,
        "version": ticket.version,
        **details,
    }
    push_after_commit(session, [Push(desk_channel(ticket.workspace_id), message)])


async def announce_created(session: AsyncSession, clock: Clock, ticket: Ticket) -> None:
    """``ticket.created``, and ``ticket.assigned`` when it was assigned as it was opened."""
    _tell_desk(session, ticket, "created")
    events = [WebhookEvent.ticket_created]
    if ticket.assigned_agent_id is not None:
        events.append(WebhookEvent.ticket_assigned)

    async def data() -> Mapping[str, Any]:
        view = await ticket_view(session, ticket, clock.now())
        return {"ticket": view.model_dump(mode="json")}

    cause = f"ticket:{ticket.id}:created"
    # Webhook events and the customer's e-mail go into the outbox in one statement.
    messages = await webhooks.event_messages(
        session, clock, ticket.workspace_id, events, cause=cause, data=data, ticket_id=ticket.id
    )
    messages += await _customer_mail(session, clock, ticket, EmailKind.ticket_received, cause=cause)
    await outbox.enqueue(session, clock, ticket.workspace_id, messages)


async def announce_update(
    session: AsyncSession, clock: Clock, before: Before, ticket: Ticket, *, by_customer: bool = False
) -> None:
    """The events of a change to ``ticket``, with the previous values of the fields that changed, and
    the customer's e-mail about a change of status (see :func:`customer_mail_for` for ``by_customer``)."""
    events = update_events(before, ticket)
    if not events:
        return
    _tell_desk(session, ticket, "updated")
    cause = f"ticket:{ticket.id}:v{ticket.version}"
    messages: list[outbox.Outgoing] = []
    kind = customer_mail_for(before.status, ticket.status, by_customer=by_customer)
    if kind is not None:
        previous = {"previous": {"status": _status_text(before.status)}}
        messages += await _customer_mail(session, clock, ticket, kind, cause=cause, extra=previous)

    async def data() -> Mapping[str, Any]:
        view = await ticket_view(session, ticket, clock.now())
        return {"ticket": view.model_dump(mode="json"), "previous": _previous(before, ticket)}

    messages += await webhooks.event_messages(
        session, clock, ticket.workspace_id, events, cause=cause, data=data, ticket_id=ticket.id
    )
    await outbox.enqueue(session, clock, ticket.workspace_id, messages)


async def announce_comment(session: AsyncSession, clock: Clock, ticket: Ticket, comment: Comment) -> None:
    """``comment.created``, with the ticket it is on."""
    _tell_desk(
        session,
        ticket,
        "commented",
        comment_id=comment.id,
        is_public=comment.is_public,
        author_user_id=comment.author_user_id,
    )

    async def data() -> Mapping[str, Any]:
        view = await ticket_view(session, ticket, clock.now())
        return {
            "comment": CommentOut.model_validate(comment).model_dump(mode="json"),
            "ticket": view.model_dump(mode="json"),
        }

    cause = f"comment:{comment.id}"
    messages = await webhooks.event_messages(
        session,
        clock,
        ticket.workspace_id,
        [WebhookEvent.comment_created],
        cause=cause,
        data=data,
        ticket_id=ticket.id,
    )
    # Customers get an agent's public replies, never an internal note, nor their own words back.
    if comment.is_public and comment.author_user_id is not None:
        agent = await session.get(User, comment.author_user_id)
        extra = {"agent": {"name": agent.name if agent else ""}, "comment": {"content": comment.content}}
        messages += await _customer_mail(
            session, clock, ticket, EmailKind.agent_reply, cause=cause, extra=extra
        )
        messages += await _participant_mail(session, clock, ticket, cause=cause, extra=extra)
    await outbox.enqueue(session, clock, ticket.workspace_id, messages)


def _mail_context(
    ticket: Ticket, name: str | None, email: str, extra: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, Mapping[str, Any]]:
    """What a customer's e-mail about ``ticket`` may say, addressed to ``name`` at ``email``."""
    return {
        "ticket": {
            "number": ticket.number,
            "title": ticket.title,
            "status": _status_text(ticket.status),
            "priority": ticket.priority.value,
        },
        "customer": {"name": name, "email": email},
        **(extra or {}),
    }


async def _participant_mail(
    session: AsyncSession, clock: Clock, ticket: Ticket, *, cause: str, extra: Mapping[str, Mapping[str, Any]]
) -> list[outbox.Outgoing]:
    """An agent's public reply to each of the ticket's participants, one e-mail each (an address on copy
    would show every participant's address to the others)."""
    found = []
    for participant in await participants.list_participants(session, ticket.id):
        context = _mail_context(ticket, participant.name, participant.email, extra)
        message = await mail.customer_message(
            session,
            clock,
            EmailKind.agent_reply,
            workspace_id=ticket.workspace_id,
            thread=Thread(ticket.id, ticket.number, ticket.title, ticket.created_at),
            to=participant.email,
            cause=f"{cause}:to:{participant.email}",
            context=context,
        )
        if message is not None:
            found.append(message)
    return found
