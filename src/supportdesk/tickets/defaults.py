"""What a flush fills in for tickets and comments added without the ticket service.

``create_ticket`` sets every column of a ticket itself (and writes it with one statement the flush never
sees). A ticket added straight to a session gets the same from here, inside the flush: its number from
the workspace's counter (the one the service reserves from, so the two never hand out a number twice),
the workspace's default category, the status and priority a new ticket starts with, its customer's
address, and the due times of the SLA policy that matches it. A comment gets its author's address.
Whatever the caller set is kept.

The flush runs synchronously (inside the async session's greenlet), so the lookups here use the
session's synchronous ``execute``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, case, literal, select, update
from sqlalchemy.orm import Session

from supportdesk.db.defaults import fills_new, given, value_or_default
from supportdesk.db.tenancy import check_write
from supportdesk.people.models import Customer, Tier, User
from supportdesk.sla import service as sla_service
from supportdesk.tickets import rules
from supportdesk.tickets.models import Comment, Ticket, TicketStatus
from supportdesk.workspaces.models import Workspace

_workspace = cast(Table, Workspace.__table__)
_SLA_FIELDS = (
    "sla_policy_id",
    "first_response_due_at",
    "resolution_due_at",
    "first_response_at_risk_at",
    "resolution_at_risk_at",
)


def _customer_given(ticket: Ticket) -> bool:
    values = ticket.__dict__
    return values.get("customer") is not None or values.get("customer_id") is not None


def _wants_customer(ticket: Ticket) -> bool:
    """Whether the ticket's customer must be read: for its address, or its tier for the SLA policy."""
    return _customer_given(ticket) and (
        not given(ticket, "customer_email") or any(not given(ticket, key) for key in _SLA_FIELDS)
    )


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


def _customers(session: Session, tickets: Sequence[Ticket]) -> dict[int, tuple[str, Tier]]:
    ids = {
        ticket.customer_id
        for ticket in tickets
        if ticket.__dict__.get("customer") is None and ticket.customer_id is not None
    }
    if not ids:
        return {}
    rows = session.execute(select(Customer.id, Customer.email, Customer.tier).where(Customer.id.in_(ids)))
    return {row.id: (row.email, Tier(row.tier)) for row in rows}


def _customer_of(ticket: Ticket, known: dict[int, tuple[str, Tier]]) -> tuple[str, Tier] | None:
    customer: Customer | None = ticket.__dict__.get("customer")
    if customer is not None:
        return customer.email, value_or_default(customer, "tier")
    if ticket.customer_id is not None:
        return known.get(ticket.customer_id)
    return None


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
    customer = _customer_of(ticket, customers)
    if customer is not None and not given(ticket, "customer_email"):
        ticket.customer_email = customer[0]


@fills_new(Ticket)
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
        customers = _customers(session, [ticket for ticket in group if _wants_customer(ticket)])
        setup: sla_service.SlaSetup | None = None
        for ticket in group:
            _fill(ticket, intake, numbers, customers)
            missing = [key for key in _SLA_FIELDS if not given(ticket, key)]
            if not missing:
                continue
            # Read afresh: a flush has no revision in hand to check a cached setup against.
            setup = setup or sla_service.read_setup(session, workspace_id, revision=0)
            customer = _customer_of(ticket, customers)
            tier = customer[1] if customer is not None else None
            due = sla_service.due_fields(setup, tier, ticket.category, sla_service.facts_of(ticket))
            for key in missing:
                setattr(ticket, key, due[key])


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
