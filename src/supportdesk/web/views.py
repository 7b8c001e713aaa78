"""What the pages show, read through the same repository and services the JSON API reads through.

Nothing here writes, and nothing here builds a query: a queue is a set of the API's list filters
(``tickets.repository.TicketFilters``), a ticket page is the ticket, its comments and attachments as the
ticket service and its attachments module give them, and the SLA is the ticket's API view
(``tickets.views.ticket_out``). So a page shows what the API answers, scoped by the same session.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.automation import macros as macro_service
from supportdesk.automation.models import Macro
from supportdesk.channels.email import service as email_service
from supportdesk.channels.email.models import InboundMessage, InboundOutcome
from supportdesk.core.emails import validate_email_detailed
from supportdesk.core.pagination import encode_cursor
from supportdesk.core.permissions import Role
from supportdesk.core.schemas import MAX_ID
from supportdesk.people import service as people_service
from supportdesk.people.models import CustomerSnapshot, User
from supportdesk.sla import service as sla_service
from supportdesk.sla.rules import SlaState
from supportdesk.sla.schemas import SlaTargetOut
from supportdesk.tickets import attachments, participants, repository
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import (
    ACTIVE_STATUSES,
    Attachment,
    Channel,
    Comment,
    Priority,
    Ticket,
    TicketParticipant,
    TicketStatus,
)
from supportdesk.tickets.schemas import TicketSort
from supportdesk.tickets.views import TicketOut, ticket_out
from supportdesk.web.pages import COUNT_CAP, capped

_CONVERSATION_OUTCOMES = frozenset(
    {InboundOutcome.new_ticket, InboundOutcome.reply, InboundOutcome.follow_up}
)
RUNNING_STATES = frozenset({SlaState.ok, SlaState.at_risk, SlaState.breached})


@dataclass(frozen=True, slots=True)
class Queue:
    """A named view of the tickets: the filters it applies before the ones a person adds."""

    key: str
    title: str
    empty: str


QUEUES: tuple[Queue, ...] = (
    Queue("mine", "My tickets", "Nothing is waiting for you."),
    Queue("unassigned", "Unassigned", "Every open ticket has an agent."),
    Queue("urgent", "Urgent", "No urgent ticket is waiting."),
    Queue("at_risk", "SLA at risk", "No ticket is close to its SLA target."),
    Queue("breached", "SLA breached", "No ticket has missed its SLA target."),
    Queue("all", "All", "No tickets yet."),
)
QUEUES_BY_KEY: Mapping[str, Queue] = {queue.key: queue for queue in QUEUES}
DEFAULT_QUEUE = "mine"


def queue_filters(key: str, user_id: int, now: datetime) -> repository.TicketFilters:
    """The list filters of queue ``key`` for the staff member ``user_id`` at ``now``."""
    if key == "mine":
        return repository.TicketFilters(assignee_id=user_id, status=ACTIVE_STATUSES)
    if key == "unassigned":
        return repository.TicketFilters(unassigned=True, status=(TicketStatus.open,))
    if key == "urgent":
        return repository.TicketFilters(urgent=True)
    if key == "at_risk":
        return repository.TicketFilters(sla_condition=sla_service.sla_at_risk(now))
    if key == "breached":
        return repository.TicketFilters(sla_condition=sla_service.sla_breached(now))
    return repository.TicketFilters()


# The orders a list offers, as the API names them. SLA due first is the default: the ticket whose next
# running target falls due soonest is the one to work on.
SORTS: tuple[tuple[TicketSort, str], ...] = (
    (TicketSort.sla_due, "SLA due first"),
    (TicketSort.created_at, "Oldest first"),
    (TicketSort.created_at_desc, "Newest first"),
    (TicketSort.priority_desc, "Highest priority first"),
    (TicketSort.updated_at_desc, "Recently updated"),
    (TicketSort.number_desc, "Number, highest first"),
)
DEFAULT_SORT = TicketSort.sla_due
_NUMBER = re.compile(r"#?\s*([0-9]{1,15})")
_ID = re.compile(r"[1-9][0-9]{0,15}")


@dataclass(slots=True)
class ListRequest:
    """A queue page's query: the queue, the filters a person chose, the order and the page."""

    queue: str = DEFAULT_QUEUE
    status: TicketStatus | None = None
    priority: Priority | None = None
    category: str | None = None
    assignee: str | None = None  # "me", "none" or a user id, as the API's filter takes it
    tag: str | None = None
    channel: Channel | None = None
    sort: TicketSort = DEFAULT_SORT
    cursor: str | None = None
    search: str = ""
    # Parameters whose values were not understood and were left out, to say so on the page.
    ignored: list[str] = field(default_factory=list)

    @property
    def filtered(self) -> bool:
        """Whether the person narrowed the queue with filters of their own."""
        return any(
            value is not None
            for value in (self.status, self.priority, self.category, self.assignee, self.tag, self.channel)
        )

    def query(self, **changes: str | None) -> dict[str, str]:
        """The query string of this list, with ``changes`` (``None`` removes a parameter)."""
        values: dict[str, str | None] = {
            "queue": self.queue,
            "status": self.status.value if self.status else None,
            "priority": self.priority.value if self.priority else None,
            "category": self.category,
            "assignee": self.assignee,
            "tag": self.tag,
            "channel": self.channel.value if self.channel else None,
            "sort": self.sort.value if self.sort != DEFAULT_SORT else None,
            "q": self.search or None,
        }
        values.update(changes)
        return {name: value for name, value in values.items() if value}


_Choice = TypeVar("_Choice", TicketStatus, Priority, Channel, TicketSort)


def _choice(kind: type[_Choice], value: str | None, name: str, ignored: list[str]) -> _Choice | None:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        ignored.append(name)
        return None


def _word(value: str | None, name: str, ignored: list[str], *, pattern: str = r"[\w.\-]{1,64}") -> str | None:
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(pattern, value) is None:
        ignored.append(name)
        return None
    return value


def parse_list_request(params: Mapping[str, str]) -> ListRequest:
    """The list a queue page's query string asks for; values that make no sense are left out and named."""
    ignored: list[str] = []
    queue = params.get("queue") or DEFAULT_QUEUE
    if queue not in QUEUES_BY_KEY:
        ignored.append("queue")
        queue = DEFAULT_QUEUE
    assignee = params.get("assignee") or None
    if assignee is not None and assignee not in {"me", "none"} and _ID.fullmatch(assignee) is None:
        ignored.append("assignee")
        assignee = None
    return ListRequest(
        queue=queue,
        status=_choice(TicketStatus, params.get("status"), "status", ignored),
        priority=_choice(Priority, params.get("priority"), "priority", ignored),
        category=_word(params.get("category"), "category", ignored),
        assignee=assignee,
        tag=_word(params.get("tag"), "tag", ignored),
        channel=_choice(Channel, params.get("channel"), "channel", ignored),
        sort=_choice(TicketSort, params.get("sort"), "sort", ignored) or DEFAULT_SORT,
        cursor=params.get("cursor") or None,
        search=(params.get("q") or "").strip()[:254],
        ignored=ignored,
    )


def list_filters(request: ListRequest, user_id: int, now: datetime) -> repository.TicketFilters:
    """The queue's filters, narrowed by the ones the person chose (a chosen value replaces the queue's)."""
    filters = queue_filters(request.queue, user_id, now)
    if request.status is not None:
        filters = replace(filters, status=(request.status,))
    if request.priority is not None:
        filters = replace(filters, priority=(request.priority,))
    if request.category is not None:
        filters = replace(filters, category=request.category)
    if request.tag is not None:
        filters = replace(filters, tag=request.tag)
    if request.channel is not None:
        filters = replace(filters, channel=request.channel)
    if request.assignee == "none":
        filters = replace(filters, unassigned=True, assignee_id=None)
    elif request.assignee is not None:
        chosen = user_id if request.assignee == "me" else int(request.assignee)
        filters = replace(filters, unassigned=False, assignee_id=chosen)
    return filters


async def queue_counts(session: AsyncSession, user_id: int, now: datetime) -> dict[str, str]:
    """How many tickets each queue holds, up to :data:`COUNT_CAP` (then ``99+``)."""
    each = [queue_filters(queue.key, user_id, now) for queue in QUEUES]
    counts = await repository.count_each(session, each, cap=COUNT_CAP)
    return {queue.key: capped(count) for queue, count in zip(QUEUES, counts, strict=True)}


async def find_ticket_by_number(session: AsyncSession, number: int) -> int | None:
    """The id of the workspace's ticket with ``number``, if there is one.

    Read through the list the API serves, ordered by number: a cursor placed just after every ticket
    numbered below ``number`` makes the first row of the page the ticket with that number, if it exists.
    """
    cursor = encode_cursor(TicketSort.number.value, number - 1, MAX_ID)
    page = await repository.list_tickets(
        session, filters=repository.TicketFilters(), sort=TicketSort.number, limit=1, cursor=cursor
    )
    if page.items and page.items[0].number == number:
        return page.items[0].id
    return None


@dataclass(frozen=True, slots=True)
class Search:
    """What the search box found: a ticket to open, a customer whose tickets to list, or a note; when
    ``nothing`` is set, no ticket matches and the list is empty."""

    ticket_id: int | None = None
    customer_id: int | None = None
    # Words to find in titles.
    title: str | None = None
    nothing: bool = False
    note: str | None = None


async def search(session: AsyncSession, text: str) -> Search:
    """Read the search box: a ticket number (``#42`` or ``42``), a customer's e-mail address, or words
    of the title."""
    if (match := _NUMBER.fullmatch(text)) is not None:
        number = int(match.group(1))
        found = await find_ticket_by_number(session, number)
        if found is None:
            return Search(nothing=True, note=f"No ticket has number {number}.")
        return Search(ticket_id=found)
    if "@" in text:
        checked = validate_email_detailed(text)
        customer = (
            await people_service.find_customer_by_email(session, checked.normalized)
            if checked.normalized is not None
            else None
        )
        if customer is None:
            return Search(nothing=True, note=f"No customer has the address {text}.")
        return Search(customer_id=customer.id, note=f"Tickets of {customer.email}")
    return Search(title=text, note=f"Tickets whose title has \u201c{text}\u201d")


def next_due(view: TicketOut) -> SlaTargetOut | None:
    """The ticket's SLA target that falls due first among those still running."""
    if view.sla is None:
        return None
    running = [
        target
        for target in (view.sla.first_response, view.sla.resolution)
        if target is not None and target.state in RUNNING_STATES
    ]
    return min(running, key=lambda target: target.due_at, default=None)


@dataclass(frozen=True, slots=True)
class TicketList:
    """One page of a queue, as the page shows it."""

    rows: list[TicketOut]
    next_cursor: str | None


async def ticket_list(
    session: AsyncSession,
    *,
    workspace_id: int,
    filters: repository.TicketFilters,
    sort: TicketSort,
    limit: int,
    cursor: str | None,
    now: datetime,
) -> TicketList:
    """A page of tickets as the API lists them, with each one's SLA as of ``now``."""
    page = await repository.list_tickets(session, filters=filters, sort=sort, limit=limit, cursor=cursor)
    setup = await sla_service.load_setup(session, workspace_id)
    return TicketList([ticket_out(ticket, setup, now) for ticket in page.items], page.next_cursor)


def staff_names(staff: Sequence[User]) -> dict[int, str]:
    """Staff members' names by id, for the people a page mentions."""
    return {member.id: member.name for member in staff}


def assignable(staff: Sequence[User]) -> list[User]:
    """The staff a ticket may be given to: active, and not viewers (the ticket service says the same)."""
    return [member for member in staff if member.is_active and member.role != Role.viewer]


# How the pages word the rule that brought an e-mail to its ticket (channels.email.rules.ThreadRule).
THREAD_RULES: Mapping[str, str] = {
    "our-message-id": "it answers one of our e-mails (In-Reply-To or References)",
    "reply-address": "it was sent to this ticket's own reply address",
    "subject-token": "its subject names this ticket's number",
    "same-sender-and-subject": "the same sender wrote with the same subject shortly before",
    "new-ticket": "it matched no ticket, so it opened this one",
}


@dataclass(frozen=True, slots=True)
class EmailFacts:
    """Where an e-mail in the conversation came from and why it was threaded onto this ticket."""

    sender: str
    rule: str
    evidence: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of a ticket's conversation."""

    kind: str  # "request" (the ticket's description), "customer", "reply" or "note"
    author: str
    created_at: datetime
    content: str
    anchor: str
    files: list[Attachment] = field(default_factory=list)
    email: EmailFacts | None = None


def email_facts(messages: Sequence[InboundMessage]) -> dict[int | None, EmailFacts]:
    """The e-mails that arrived on a ticket, by the comment each became (``None``: the request that
    opened the ticket); duplicates and machine-made mail became no message of the conversation."""
    facts: dict[int | None, EmailFacts] = {}
    for message in messages:
        if message.thread_rule is None or message.outcome not in _CONVERSATION_OUTCOMES:
            continue
        facts[message.comment_id] = EmailFacts(
            sender=message.sender or "an unknown sender",
            rule=THREAD_RULES.get(message.thread_rule, message.thread_rule),
            evidence=message.thread_evidence or "",
        )
    return facts


def conversation(
    ticket: Ticket,
    comments: Sequence[Comment],
    files: Sequence[Attachment],
    names: Mapping[int, str],
    customer: CustomerSnapshot | None,
    emails: Mapping[int | None, EmailFacts] | None = None,
) -> list[Entry]:
    """The ticket's request and its comments, oldest first, each with its author and files."""
    customer_name = (customer.name or customer.email) if customer else (ticket.customer_email or "Customer")
    by_comment: dict[int, list[Attachment]] = {}
    for attachment in files:
        by_comment.setdefault(attachment.comment_id, []).append(attachment)
    entries = []
    if ticket.description.strip():
        entries.append(
            Entry(
                "request",
                customer_name,
                ticket.created_at,
                ticket.description,
                "request",
                email=(emails or {}).get(None),
            )
        )
    for comment in comments:
        if comment.author_customer_id is not None:
            kind, author = "customer", customer_name
        else:
            kind = "reply" if comment.is_public else "note"
            if comment.author_user_id is not None:
                author = names.get(comment.author_user_id) or comment.author_email or "Staff"
            else:
                author = "supportdesk"
        entries.append(
            Entry(
                kind,
                author,
                comment.created_at,
                comment.content,
                f"comment-{comment.id}",
                by_comment.get(comment.id, []),
                email=(emails or {}).get(comment.id),
            )
        )
    return entries


@dataclass(frozen=True, slots=True)
class TicketPage:
    """Everything the ticket page shows."""

    ticket: TicketOut
    entries: list[Entry]
    staff: list[User]
    names: dict[int, str]
    customer: CustomerSnapshot | None
    other_tickets: list[TicketOut]
    # Who else receives the agents' public replies by e-mail (tickets.participants).
    participants: list[TicketParticipant] = field(default_factory=list)
    # The workspace's macros, by name, for the composer's macro menu.
    macros: list[Macro] = field(default_factory=list)
    # The newest comment shown: the composer sends it back, so a reply written while someone else
    # wrote on the ticket is stopped once and shown what it missed.
    last_comment_id: int = 0


async def ticket_page(session: AsyncSession, ticket_id: int, now: datetime) -> TicketPage:
    """The ticket with its conversation, its customer and the staff it may be given to; NotFound for an
    id that is not the session's workspace's."""
    ticket = await ticket_service.get_ticket(session, ticket_id)
    setup = await sla_service.load_setup(session, ticket.workspace_id)
    comments = await ticket_service.list_comments(session, ticket)
    files = await attachments.list_attachments(session, ticket)
    staff = await people_service.list_users(session)
    names = staff_names(staff)
    customer = None
    others: list[TicketOut] = []
    if ticket.customer_id is not None:
        customer = await people_service.read_customer(session, ticket.customer_id)
        page = await repository.list_tickets(
            session,
            filters=repository.TicketFilters(customer_id=ticket.customer_id),
            sort=TicketSort.created_at_desc,
            limit=6,
        )
        others = [ticket_out(other, setup, now) for other in page.items if other.id != ticket.id][:5]
    emails = email_facts(await email_service.list_messages(session, ticket_id=ticket.id, limit=500))
    return TicketPage(
        ticket=ticket_out(ticket, setup, now),
        entries=conversation(ticket, comments, files, names, customer, emails),
        participants=await participants.list_participants(session, ticket.id),
        macros=await macro_service.list_macros(session),
        staff=staff,
        names=names,
        customer=customer,
        other_tickets=others,
        last_comment_id=max((comment.id for comment in comments), default=0),
    )


async def written_since(session: AsyncSession, ticket: Ticket, seen: int, reader_id: int) -> list[str]:
    """Who wrote on ``ticket`` after the comment ``seen``, other than the reader: each author once, in
    the order they wrote."""
    comments = [
        comment
        for comment in await ticket_service.list_comments(session, ticket)
        if comment.id > seen and comment.author_user_id != reader_id
    ]
    if not comments:
        return []
    names = staff_names(await people_service.list_users(session))
    authors: list[str] = []
    for comment in comments:
        if comment.author_customer_id is not None:
            author = "the customer"
        elif comment.author_user_id is not None:
            author = names.get(comment.author_user_id) or "a former colleague"
        else:
            author = "supportdesk"
        if author not in authors:
            authors.append(author)
    return authors
