"""Automatic assignment: reads the candidates, lets the rules choose, records the choice."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.assignment import rules
from supportdesk.assignment.rules import AssignmentSettings, Candidate
from supportdesk.core.clock import Clock
from supportdesk.db.tenancy import required_workspace_id
from supportdesk.notifications import service as notifications
from supportdesk.notifications.models import NotificationKind
from supportdesk.people.models import Availability, User
from supportdesk.tickets import rules as ticket_rules
from supportdesk.tickets.models import Priority, Ticket, TicketStatus
from supportdesk.workspaces.models import AssignmentStrategy, Workspace

# Statuses in which a ticket counts against its agent's load.
LOAD_STATUSES = (TicketStatus.assigned, TicketStatus.in_progress, TicketStatus.pending)

_workspace = cast(Table, Workspace.__table__)
# Taking the next assignment number locks the workspace row (PostgreSQL) until commit, so concurrent
# assignments in one workspace queue here and each sees the previous one's choice: that is what keeps
# round robin fair under concurrency. (SQLite has one writer at a time anyway.)
_NEXT_ASSIGNMENT = (
    update(_workspace)
    .where(_workspace.c.id == bindparam("workspace_id"))
    .values(assignment_counter=_workspace.c.assignment_counter + 1)
    .returning(
        _workspace.c.assignment_counter,
        _workspace.c.assignment_strategy,
        _workspace.c.category_strategies,
        _workspace.c.agent_capacity,
    )
)


async def _next_assignment(session: AsyncSession, workspace_id: int) -> tuple[int, AssignmentSettings]:
    connection = await session.connection()
    row = (await connection.execute(_NEXT_ASSIGNMENT, {"workspace_id": workspace_id})).one()
    settings = settings_from(
        AssignmentStrategy(row.assignment_strategy), row.category_strategies, row.agent_capacity
    )
    return int(row.assignment_counter), settings


# Each agent's latest automatic assignment, read from the tickets they hold (through the partial index
# on marked tickets): marking a ticket costs nothing extra, since it is written anyway.
_LATEST_ASSIGNMENT = (
    select(func.max(Ticket.assignment_seq))
    .where(
        Ticket.workspace_id == User.workspace_id,
        Ticket.assigned_agent_id == User.id,
        Ticket.assignment_seq.is_not(None),
    )
    .correlate(User)
    .scalar_subquery()
)
# Built once and run below the ORM, naming its workspace: this runs for every ticket created, inside
# the window in which the workspace's ticket numbers are locked. Columns, not users: the rules need
# only these.
_CANDIDATES = select(
    User.id,
    User.role,
    User.skills,
    User.capacity,
    func.coalesce(_LATEST_ASSIGNMENT, 0).label("last_assignment_seq"),
).where(
    User.workspace_id == bindparam("workspace_id"),
    User.is_active.is_(True),
    User.availability == Availability.available,
    # Equalities rather than IN: an IN list is re-rendered at every execution.
    or_(*(User.role == role for role in rules.ASSIGNABLE_ROLES)),
)


async def open_ticket_counts(session: AsyncSession, agent_ids: list[int]) -> dict[int, int]:
    """How many tickets each agent is working on (assigned, in progress or pending)."""
    if not agent_ids:
        return {}
    query = (
        select(Ticket.assigned_agent_id, func.count())
        .where(Ticket.assigned_agent_id.in_(agent_ids), Ticket.status.in_(LOAD_STATUSES))
        .group_by(Ticket.assigned_agent_id)
    )
    rows = (await session.execute(query)).all()
    return {agent_id: count for agent_id, count in rows if agent_id is not None}


async def candidates(
    session: AsyncSession, settings: AssignmentSettings, *, with_load: bool
) -> list[Candidate]:
    """Active, available agents and senior agents of the session's workspace, as the rules see them."""
    connection = await session.connection()
    workspace_id = required_workspace_id(session.sync_session)
    rows = (await connection.execute(_CANDIDATES, {"workspace_id": workspace_id})).all()
    needs_load = (
        with_load or settings.agent_capacity is not None or any(row.capacity is not None for row in rows)
    )
    load = await open_ticket_counts(session, [row.id for row in rows]) if needs_load else {}
    return [
        Candidate(
            id=row.id,
            role=row.role,
            skills=tuple(row.skills or ()),
            open_tickets=load.get(row.id, 0),
            capacity=row.capacity if row.capacity is not None else settings.agent_capacity,
            last_assignment_seq=row.last_assignment_seq,
        )
        for row in rows
    ]


def settings_from(
    strategy: AssignmentStrategy, category_strategies: dict[str, str], agent_capacity: int | None
) -> AssignmentSettings:
    """The rules' view of a workspace's assignment settings."""
    return AssignmentSettings(
        strategy=strategy,
        category_strategies={key: AssignmentStrategy(value) for key, value in category_strategies.items()},
        agent_capacity=agent_capacity,
    )


async def pick_agent(
    session: AsyncSession,
    settings: AssignmentSettings,
    *,
    priority: Priority,
    category: str,
    strategy: AssignmentStrategy | None = None,
) -> int | None:
    """The id of the agent the strategy (by default the workspace's, or its category's) gives a ticket
    to; None when nobody can take it. The caller marks the ticket with the assignment number."""
    strategy = strategy or rules.strategy_for(settings, category)
    pool = await candidates(session, settings, with_load=strategy == AssignmentStrategy.least_loaded)
    return rules.choose_agent(strategy, pool, priority=priority, category=category)


async def notify_assignee(session: AsyncSession, clock: Clock, ticket: Ticket) -> None:
    """Tell the agent a ticket was given to them."""
    if ticket.assigned_agent_id is None:
        return
    note = notifications.Note(
        user_id=ticket.assigned_agent_id,
        kind=NotificationKind.assignment,
        message=f"Ticket #{ticket.number} was assigned to you: {ticket.title}",
        ticket_id=ticket.id,
        priority=ticket.priority.value,
    )
    await notifications.record(session, clock, ticket.workspace_id, [note])


async def assign_automatically(
    session: AsyncSession, clock: Clock, ticket: Ticket, *, strategy: AssignmentStrategy | None = None
) -> int | None:
    """Give an existing ``ticket`` to the agent the strategy picks and return the agent's id; None, and
    no change, when nobody can take it. The chosen agent is notified."""
    seq, settings = await _next_assignment(session, ticket.workspace_id)
    agent_id = await pick_agent(
        session, settings, priority=ticket.priority, category=ticket.category, strategy=strategy
    )
    if agent_id is None:
        return None
    ticket.assigned_agent_id = agent_id
    ticket.assignment_seq = seq
    ticket.status = ticket_rules.status_after_assignment(ticket.status, agent_id)
    ticket.updated_at = clock.now()
    await session.flush()
    await notify_assignee(session, clock, ticket)
    return agent_id


async def assign_ticket_round_robin(ticket: Ticket, session: AsyncSession, clock: Clock) -> int | None:
    """Assign by round robin, whatever the workspace's strategy; the agent's id, or None."""
    return await assign_automatically(session, clock, ticket, strategy=AssignmentStrategy.round_robin)


async def assign_ticket_by_priority(ticket: Ticket, session: AsyncSession, clock: Clock) -> int | None:
    """Assign by priority (critical tickets to senior agents), whatever the workspace's strategy; the
    agent's id, or None."""
    return await assign_automatically(session, clock, ticket, strategy=AssignmentStrategy.by_priority)
