"""Automatic assignment: reads the candidates, lets the rules choose, records the choice."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.assignment import repository, rules
from supportdesk.assignment.rules import AssignmentSettings, Candidate
from supportdesk.core.clock import Clock
from supportdesk.notifications import service as notifications
from supportdesk.notifications.models import NotificationKind
from supportdesk.tickets import rules as ticket_rules
from supportdesk.tickets.models import Priority, Ticket, TicketStatus
from supportdesk.workspaces.models import AssignmentStrategy

# Statuses in which a ticket counts against its agent's load.
LOAD_STATUSES = (TicketStatus.assigned, TicketStatus.in_progress, TicketStatus.pending)


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
    rows = await repository.candidate_rows(session)
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


def assignment_note(
    agent_id: int, number: int, title: str, priority: Priority, ticket_id: int | None = None
) -> notifications.Note:
    """What tells an agent that ticket ``number`` was given to them. A note written before its ticket
    gets its ticket (``ticket_id`` and ``about``) when the ticket is written."""
    return notifications.Note(
        user_id=agent_id,
        kind=NotificationKind.assignment,
        message=f"Ticket #{number} was assigned to you: {title}",
        ticket_id=ticket_id,
        priority=priority.value,
    )


async def notify_assignee(session: AsyncSession, clock: Clock, ticket: Ticket) -> None:
    """Tell the agent a ticket was given to them."""
    if ticket.assigned_agent_id is None:
        return
    note = assignment_note(ticket.assigned_agent_id, ticket.number, ticket.title, ticket.priority, ticket.id)
    note = replace(note, about=notifications.About.of(ticket))
    await notifications.record(session, clock, ticket.workspace_id, [note])


async def assign_automatically(
    session: AsyncSession, clock: Clock, ticket: Ticket, *, strategy: AssignmentStrategy | None = None
) -> int | None:
    """Give an existing ``ticket`` to the agent the strategy picks and return the agent's id; None, and
    no change, when nobody can take it. The chosen agent is notified."""
    row = await repository.next_assignment(session, ticket.workspace_id)
    seq = int(row.assignment_counter)
    settings = settings_from(
        AssignmentStrategy(row.assignment_strategy), row.category_strategies, row.agent_capacity
    )
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
