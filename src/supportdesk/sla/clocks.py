"""Keeps every ticket's SLA clocks in step with the ticket, inside the flush that writes it.

Tickets change through the ticket service (the API, macros and triggers use it), the scheduled tasks, the
demo loader, and code that works on a plain session (a notebook, a data migration). Every one of them
ends in a flush, so the clocks follow all of them from here, and the ticket package needs to know nothing
about SLAs. ``db/session.py`` imports this module so its hooks are in place whenever a database is used;
``db/defaults.py`` runs them in a fixed order within its ``before_flush`` hook:

- a new ticket left without its SLA columns gets the due times of the policy that matches it, after the
  ticket package's own filler has chosen the category, priority and status they depend on;
- a ticket whose status, priority, category or customer changed since the last flush has its
  resolution clock paused or resumed by the status change (moving into progress is the first response),
  and its policy matched and due times computed again;
- a customer whose tier changed (an agent's edit, the CRM's answer) has the policy and due times of
  their tickets that are neither resolved nor closed computed again, since a policy may be scoped by
  tier; pauses and first responses already made are facts the due times are computed from, and stay.
  Resolved and closed tickets keep theirs: their targets were settled under the tier of the day. A
  reopened ticket is matched again by the ticket hook above, with the tier of that day.

The flush runs synchronously (inside the async session's greenlet), so the lookups here use the
session's synchronous ``execute``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from supportdesk.db.defaults import FillStage, fills_new, follows_changes, given
from supportdesk.people.models import Customer, Tier
from supportdesk.sla import service as sla_service
from supportdesk.sla.rules import STOPPED_STATUSES
from supportdesk.tickets import defaults as ticket_defaults
from supportdesk.tickets.models import Ticket, TicketStatus

_SLA_FIELDS = (
    "sla_policy_id",
    "first_response_due_at",
    "resolution_due_at",
    "first_response_at_risk_at",
    "resolution_at_risk_at",
)
# What the policy and the due times are computed from: the status (pauses), the priority (targets), the
# category and the customer (whose tier picks the policy).
_FOLLOWED = ("status", "priority", "category", "customer_id")


def _by_workspace(tickets: Iterable[Ticket]) -> dict[int, list[Ticket]]:
    groups: dict[int, list[Ticket]] = {}
    for ticket in tickets:
        if ticket.workspace_id is not None:  # else the flush fails on it, as it would have anyway
            groups.setdefault(ticket.workspace_id, []).append(ticket)
    return groups


def _tiers(session: Session, setup: sla_service.SlaSetup, tickets: list[Ticket]) -> list[Tier | None]:
    """Each ticket's customer's tier, read only when some policy is scoped by tier."""
    if not setup.uses_tiers:
        return [None] * len(tickets)
    known = ticket_defaults.read_customers(session, tickets)
    customers = [ticket_defaults.customer_of(ticket, known) for ticket in tickets]
    return [customer[1] if customer is not None else None for customer in customers]


@fills_new(Ticket, FillStage.derived)
def _fill_due_times(session: Session, tickets: list[Ticket]) -> None:
    for workspace_id, group in _by_workspace(tickets).items():
        missing = [(ticket, [key for key in _SLA_FIELDS if not given(ticket, key)]) for ticket in group]
        missing = [(ticket, keys) for ticket, keys in missing if keys]
        if not missing:
            continue
        # Read afresh, not from the cache: a ticket added to a plain session often comes with policies
        # added the same way (a data migration, a notebook), which change no revision. No service adds
        # tickets through a flush, so this read is never on a request's path.
        setup = sla_service.read_setup(session, workspace_id, revision=0)
        tiers = _tiers(session, setup, [ticket for ticket, _ in missing])
        for (ticket, keys), tier in zip(missing, tiers, strict=True):
            due = sla_service.due_fields(setup, tier, ticket.category, sla_service.facts_of(ticket))
            for key in keys:
                setattr(ticket, key, due[key])


def _status_before(session: Session, ticket: Ticket) -> TicketStatus | None:
    """The status the ticket had before this flush's change of it; None if it did not change."""
    history = inspect(ticket).attrs.status.history
    if not history.added:
        return None
    if history.deleted:
        before = history.deleted[0]
    else:
        # The status was set without being loaded first (its session had expired it, say), so the
        # change does not know what it replaced; the stored row does.
        before = session.execute(select(Ticket.status).where(Ticket.id == ticket.id)).scalar_one()
    # A value loaded or set before the enum conversion may still be its plain string.
    return TicketStatus(before)


def _changed_at(ticket: Ticket) -> datetime:
    """When the change was made: the time it was stamped with. A service stamps ``updated_at`` with its
    own clock, the one it stops other clocks with (``resolved_at``); for a caller that did not, db.defaults
    has stamped it from the session's clock before followers run."""
    return ticket.updated_at


@follows_changes(Ticket, _FOLLOWED)
def _keep_clocks(session: Session, tickets: list[Ticket]) -> None:
    for workspace_id, group in _by_workspace(tickets).items():
        # The cache the services read, checked against the revision this unit of work read.
        setup = sla_service.load_setup_sync(session, workspace_id)
        for ticket in group:
            before = _status_before(session, ticket)
            if before is not None and before != ticket.status:
                sla_service.track_status_change(ticket, before, setup, _changed_at(ticket))
        for ticket, tier in zip(group, _tiers(session, setup, group), strict=True):
            sla_service.refresh_due_times(ticket, setup, tier)


@follows_changes(Customer, ("tier",))
def _retime_customers_tickets(session: Session, customers: list[Customer]) -> None:
    # A ticket this flush changes too is matched by the ticket hook with the tier written now, whichever
    # hook runs first: it reads its customer's tier from the flush's memo.
    ticket_defaults.note_customers(session, customers)
    by_workspace: dict[int, dict[int, Tier]] = {}
    for customer in customers:
        by_workspace.setdefault(customer.workspace_id, {})[customer.id] = Tier(customer.tier)
    for workspace_id, tiers in by_workspace.items():
        setup = sla_service.load_setup_sync(session, workspace_id)
        if not setup.uses_tiers:
            continue  # every tier gets the same policy, so nothing moves; nothing needs reading
        # Customer ids are never reused, so they name the tickets in an unscoped session as well.
        query = (
            select(Ticket)
            .where(Ticket.customer_id.in_(tiers), Ticket.status.not_in(STOPPED_STATUSES))
            .order_by(Ticket.id)
        )
        for ticket in session.scalars(query):
            # A ticket loaded earlier keeps its own unflushed changes: it may be being resolved, or
            # moved to another customer, in this flush (the ticket hook takes care of it then).
            tier = tiers.get(ticket.customer_id) if ticket.customer_id is not None else None
            if tier is None or ticket.status in STOPPED_STATUSES:
                continue
            sla_service.refresh_due_times(ticket, setup, tier)
