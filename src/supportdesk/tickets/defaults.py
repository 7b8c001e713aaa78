"""What a flush fills in for tickets and comments added without the ticket service.

``create_ticket`` sets every column of a ticket itself (and writes it with one statement the flush never
sees). A ticket added straight to a session gets the same from here, inside the flush: its number from
the workspace's counter (the one the service reserves from, so the two never hand out a number twice),
the workspace's default category, the status and priority a new ticket starts with, and its customer's
address. The SLA package fills its due times after this (sla.clocks, a later stage of the same flush).
A comment gets its author's address. Whatever the caller set is kept.

The flush runs synchronously (inside the async session's greenlet), so the lookups here use the
session's synchronous ``execute``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, case, literal, select, update
from sqlalchemy.orm import Session

from supportdesk.db.defaults import FillStage, fills_new, flush_memo, given, value_or_default
from supportdesk.db.tenancy import check_write
from supportdesk.people.models import Customer, Tier, User
from supportdesk.tickets import rules
from supportdesk.tickets.models import Comment, Ticket, TicketStatus
from supportdesk.workspaces.models import Workspace

_workspace = cast(Table, Workspace.__table__)
# Where a flush keeps the customers read for its tickets (db.defaults.flush_memo): id -> (address, tier).
_CUSTOMERS_READ = "ticket_customers"


def _linked_customer(ticket: Ticket) -> Customer | None:
    customer: Customer | None = ticket.__dict__.get("customer")
    # A customer id set after the relationship was loaded names another customer than the loaded one.
    if customer is not None and ticket.customer_id not in (None, customer.id):
        return None
    return customer


def read_customers(session: Session, tickets: Iterable[Ticket]) -> dict[int, tuple[str, Tier]]:
    """The address and tier of the stored customer of each of ``tickets`` (by id), read inside a flush.

    Each customer is read at most once per flush: this package's filler wants a new ticket's customer's
    address, the SLA package's hooks want the tier, and one row holds both.
    """
    known: dict[int, tuple[str, Tier]] = flush_memo(session).setdefault(_CUSTOMERS_READ, {})
    wanted = {
        ticket.customer_id
        for ticket in tickets
        if _linked_customer(ticket) is None and ticket.customer_id is not None
    } - known.keys()
    if wanted:
        rows = session.execute(
            select(Customer.id, Customer.email, Customer.tier).where(Customer.id.in_(wanted))
        )
        known.update({row.id: (row.email, Tier(row.tier)) for row in rows})
    return known


def note_customers(session: Session, customers: Iterable[Customer]) -> None:
    """Take ``customers`` as they are about to be written for what :func:`read_customers` answers in the
    flush running now, so that what a ticket follows of them (their tier) is what this flush writes and
    not what the stored rows still say."""
    known: dict[int, tuple[str, Tier]] = flush_memo(session).setdefault(_CUSTOMERS_READ, {})
    known.update({customer.id: (customer.email, Tier(customer.tier)) for customer in customers})


def customer_of(ticket: Ticket, known: dict[int, tuple[str, Tier]]) -> tuple[str, Tier] | None:
    """The address and tier of the ticket's customer: the object it links to, else the row
    :func:`read_customers` read; None for a ticket without a customer."""
    customer = _linked_customer(ticket)
    if customer is not None:
        return customer.email, value_or_default(customer, "tier")
    if ticket.customer_id is not None:
        return known.get(ticket.customer_id)
    return None


def _wants_address(ticket: Ticket) -> bool:
    values = ticket.__dict__
    customer_given = values.get("customer") is not None or values.get("customer_id") is not None
    return customer_given and not given(ticket, "customer_email")


@dataclass(slots=True)
class _Intake:
    """What a workspace contributes to its new tickets in one flush."""

    numbers: list[int]
    categories: list[str]


def _reserve(session: Session, workspace_id: int, tickets: Sequence[Ticket]) -> _Intake:
    """Take a number from the workspace counter for each ticket without one, and read the categories.

    A number the caller chose raises the counter to it first, so the service, which counts on from the
    counter, never hands it out again. The row lock the update takes keeps concurrent reservations apart.
    """
    wanted = sum(1 for ticket in tickets if ticket.number is None)
    chosen = max((ticket.number for ticket in tickets if ticket.number is not None), default=0)
    counter = _workspace.c.ticket_counter
    floor = literal(chosen)
    statement = (
        update(_workspace)
        .where(_workspace.c.id == workspace_id)
        .values(ticket_counter=case((counter < floor, floor), else_=counter) + wanted)
        .returning(_workspace.c.ticket_counter, _workspace.c.categories)
    )
    row = session.connection().execute(statement).one()
    last = int(row.ticket_counter)
    return _Intake(numbers=list(range(last - wanted + 1, last + 1)), categories=list(row.categories))


def _fill(
    ticket: Ticket, intake: _Intake, numbers: list[int], customers: dict[int, tuple[str, Tier]]
) -> None:
    values = ticket.__dict__
    if ticket.number is None:
        ticket.number = numbers.pop(0)
    if values.get("category") is None:
        ticket.category = rules.default_category(intake.categories)
    if values.get("priority") is None:
        ticket.priority = value_or_default(ticket, "priority")
    if values.get("status") is None:
        ticket.status = rules.status_after_assignment(TicketStatus.open, ticket.assigned_agent_id)
    if not given(ticket, "customer_email"):
        customer = customer_of(ticket, customers)
        if customer is not None:
            ticket.customer_email = customer[0]


# The ticket's own columns come first: what other packages fill for a new ticket (its SLA due times)
# depends on the category, priority and status chosen here.
@fills_new(Ticket, FillStage.own)
def _fill_tickets(session: Session, tickets: list[Ticket]) -> None:
    by_workspace: dict[int, list[Ticket]] = {}
    # Every new ticket passes the counter, even one with a number of its own (see _reserve). No service
    # flushes a new ticket: creation inserts with a statement of its own, so this is never on its path.
    for ticket in tickets:
        if ticket.workspace_id is not None:  # else the flush fails on it, as it would have anyway
            by_workspace.setdefault(ticket.workspace_id, []).append(ticket)
    for workspace_id, group in by_workspace.items():
        # Before anything is written to the workspace row: a foreign ticket stops the flush here.
        check_write(session, "Ticket", workspace_id)
        intake = _reserve(session, workspace_id, group)
        numbers = list(intake.numbers)
        customers = read_customers(session, [ticket for ticket in group if _wants_address(ticket)])
        for ticket in group:
            _fill(ticket, intake, numbers, customers)


@fills_new(Comment)
def _fill_comments(session: Session, comments: list[Comment]) -> None:
    for comment in comments:
        if given(comment, "author_email"):
            continue
        author: Any = None
        if comment.author_user_id is not None:
            author = select(User.email).where(User.id == comment.author_user_id)
        elif comment.author_customer_id is not None:
            author = select(Customer.email).where(Customer.id == comment.author_customer_id)
        if author is not None:
            comment.author_email = session.execute(author).scalar_one_or_none()
