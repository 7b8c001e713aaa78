"""Pure ticket rules: the lifecycle table and urgency. No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from supportdesk.tickets.models import Priority, TicketStatus

S = TicketStatus

# Every allowed status change, in one table. Anything else is refused with `invalid-transition`.
TRANSITIONS: Mapping[TicketStatus, frozenset[TicketStatus]] = {
    S.open: frozenset({S.assigned, S.in_progress, S.resolved}),
    S.assigned: frozenset({S.open, S.in_progress, S.pending, S.resolved}),
    S.in_progress: frozenset({S.assigned, S.pending, S.resolved}),
    S.pending: frozenset({S.in_progress, S.resolved}),
    S.resolved: frozenset({S.open, S.assigned, S.closed}),
    S.closed: frozenset(),
}

# Statuses in which somebody must be working the ticket.
NEEDS_ASSIGNEE: frozenset[TicketStatus] = frozenset({S.assigned, S.in_progress, S.pending})

URGENT_PRIORITIES: frozenset[Priority] = frozenset({Priority.high, Priority.critical})

PRIORITY_RANK: Mapping[Priority, int] = {
    Priority.low: 0,
    Priority.medium: 1,
    Priority.high: 2,
    Priority.critical: 3,
}


def default_category(categories: Sequence[str]) -> str:
    """The category of a ticket that names none: ``general`` where the workspace has it, else its first."""
    return "general" if "general" in categories else categories[0]


def can_transition(current: TicketStatus, target: TicketStatus) -> bool:
    """Whether a ticket may move from ``current`` to ``target``."""
    return target in TRANSITIONS[current]


def is_urgent(status: TicketStatus, priority: Priority, assigned_agent_id: int | None) -> bool:
    """A ticket is urgent when it is open, unassigned and high or critical."""
    return status == TicketStatus.open and assigned_agent_id is None and priority in URGENT_PRIORITIES


def status_after_assignment(status: TicketStatus, assigned_agent_id: int | None) -> TicketStatus:
    """The status a ticket takes when its assignee changes: open tickets become assigned, and
    assigned tickets that lose their agent go back to open. Other statuses are kept."""
    if assigned_agent_id is not None and status == TicketStatus.open:
        return TicketStatus.assigned
    if assigned_agent_id is None and status == TicketStatus.assigned:
        return TicketStatus.open
    return status


def status_after_customer_reply(status: TicketStatus, assigned_agent_id: int | None) -> TicketStatus:
    """A customer reply reopens a resolved ticket (to its agent, if it has one) and wakes a pending one."""
    if status == TicketStatus.resolved:
        return TicketStatus.open if assigned_agent_id is None else TicketStatus.assigned
    if status == TicketStatus.pending:
        return TicketStatus.in_progress
    return status
