"""Time-based automations: SLA breach notices, escalation, auto-close, pending reminders.

Each works on one workspace inside the caller's unit of work and only reads tickets through the partial
indexes on running clocks, resolved and pending tickets. Each is idempotent: a ticket it has handled no
longer matches its query, so running it twice does nothing the second time. Rows another transaction is
changing right now are skipped (PostgreSQL) and picked up at the next tick.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.core.clock import Clock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.notifications import service as notifications
from supportdesk.notifications.models import NotificationKind
from supportdesk.sla import service as sla_service
from supportdesk.tickets.models import Priority, Ticket, TicketStatus
from supportdesk.workspaces.models import Workspace

_log = logging.getLogger("supportdesk.automation")

# Who hears about escalations and about breaches of tickets nobody owns.
SUPERVISORS: tuple[Role, ...] = (Role.senior_agent, Role.admin)
# Tickets handled per statement; a larger backlog is worked through batch by batch in the same run.
BATCH = 1000
# Above this many tickets in one run, each supervisor gets one digest instead of a message per ticket.
DIGEST_AFTER = 20

_NEXT_PRIORITY: Mapping[Priority, Priority] = {
    Priority.low: Priority.medium,
    Priority.medium: Priority.high,
    Priority.high: Priority.critical,
    Priority.critical: Priority.critical,
}


def raised_priority(priority: Priority) -> Priority:
    """One level up: low → medium → high → critical (critical stays)."""
    return _NEXT_PRIORITY[priority]


async def _batches(session: AsyncSession, query: Select[Ticket]) -> list[Ticket]:
    """The next batch of matching tickets; each task changes what it handles so it stops matching."""
    statement = query.limit(BATCH).with_for_update(skip_locked=True)
    return list((await session.execute(statement)).scalars())


async def _tell_supervisors(
    session: AsyncSession,
    clock: Clock,
    workspace_id: int,
    tickets: list[Ticket],
    kind: NotificationKind,
    what: str,
) -> None:
    supervisors = await notifications.staff_ids_with_roles(session, SUPERVISORS)
    if len(tickets) > DIGEST_AFTER:
        numbers = ", ".join(f"#{ticket.number}" for ticket in tickets[:DIGEST_AFTER])
        message = f"{len(tickets)} tickets {what}: {numbers}, …"
        notes = [notifications.Note(user_id, kind, message, None, "high") for user_id in supervisors]
    else:
        notes = [
            notifications.Note(
                user_id, kind, f"Ticket #{ticket.number} {what}: {ticket.title}", ticket.id, "high"
            )
            for ticket in tickets
            for user_id in supervisors
        ]
    await notifications.record(session, clock, workspace_id, notes)


async def escalate_overdue_tickets(session: AsyncSession, clock: Clock, workspace: Workspace) -> int:
    """Escalate tickets still open and unassigned whose first response is overdue by the workspace's delay:
    priority one level up, ``escalated`` set, due times recomputed, supervisors told. Returns how many."""
    now = clock.now()
    cutoff = now - timedelta(minutes=workspace.escalation_delay_minutes)
    query = (
        select(Ticket)
        .where(
            sla_service.first_response_breached(cutoff),
            Ticket.status == TicketStatus.open,
            Ticket.assigned_agent_id.is_(None),
            Ticket.escalated.is_(False),
        )
        .order_by(Ticket.first_response_due_at, Ticket.id)
    )
    setup = await sla_service.load_setup(session, workspace.id)
    escalated: list[Ticket] = []
    while batch := await _batches(session, query):
        for ticket in batch:
            ticket.priority = raised_priority(ticket.priority)
            ticket.escalated = True
            ticket.updated_at = now
            tier = await sla_service.tier_of(session, setup, ticket.customer_id)
            sla_service.refresh_due_times(ticket, setup, tier)
        await session.flush()
        escalated.extend(batch)
    if escalated:
        await _tell_supervisors(
            session, clock, workspace.id, escalated, NotificationKind.escalation, "escalated"
        )
    return len(escalated)


async def notify_sla_breaches(session: AsyncSession, clock: Clock, workspace: Workspace) -> int:
    """Tell the assignee (or, for a ticket nobody owns, the supervisors) once per breached target.
    Returns how many breaches were announced."""
    now = clock.now()
    announced = 0
    for target, breached, notified in (
        ("first response", sla_service.first_response_breached, Ticket.first_response_breach_notified_at),
        ("resolution", sla_service.resolution_breached, Ticket.resolution_breach_notified_at),
    ):
        query = select(Ticket).where(breached(now), notified.is_(None)).order_by(Ticket.id)
        unowned: list[Ticket] = []
        while batch := await _batches(session, query):
            notes = []
            for ticket in batch:
                setattr(ticket, notified.key, now)
                if ticket.assigned_agent_id is None:
                    unowned.append(ticket)
                    continue
                message = f"Ticket #{ticket.number} breached its {target} target: {ticket.title}"
                notes.append(
                    notifications.Note(
                        ticket.assigned_agent_id, NotificationKind.sla_breach, message, ticket.id, "high"
                    )
                )
            await notifications.record(session, clock, workspace.id, notes)
            await session.flush()
            announced += len(batch)
        if unowned:
            what = f"breached the {target} target"
            await _tell_supervisors(session, clock, workspace.id, unowned, NotificationKind.sla_breach, what)
    return announced


async def auto_close_resolved(session: AsyncSession, clock: Clock, workspace: Workspace) -> int:
    """Close tickets resolved for the workspace's number of days (no setting: never). Returns how many."""
    if workspace.auto_close_after_days is None:
        return 0
    now = clock.now()
    cutoff = now - timedelta(days=workspace.auto_close_after_days)
    query = (
        select(Ticket)
        .where(Ticket.status == TicketStatus.resolved, Ticket.resolved_at < cutoff)
        .order_by(Ticket.resolved_at, Ticket.id)
    )
    closed = 0
    while batch := await _batches(session, query):
        for ticket in batch:
            ticket.status = TicketStatus.closed
            ticket.closed_at = now
            ticket.updated_at = now
        await session.flush()
        closed += len(batch)
    return closed


async def remind_pending(session: AsyncSession, clock: Clock, workspace: Workspace) -> int:
    """Remind the assignee once about a ticket pending on the customer for the workspace's number of days.
    Returns how many reminders were sent."""
    if workspace.pending_reminder_after_days is None:
        return 0
    now = clock.now()
    days = workspace.pending_reminder_after_days
    query = (
        select(Ticket)
        .where(
            Ticket.status == TicketStatus.pending,
            Ticket.sla_paused_at < now - timedelta(days=days),
            Ticket.pending_reminded_at.is_(None),
        )
        .order_by(Ticket.sla_paused_at, Ticket.id)
    )
    reminded = 0
    while batch := await _batches(session, query):
        notes = []
        for ticket in batch:
            ticket.pending_reminded_at = now
            if ticket.assigned_agent_id is not None:
                message = (
                    f"Ticket #{ticket.number} has waited on the customer for {days} days: {ticket.title}"
                )
                notes.append(
                    notifications.Note(
                        ticket.assigned_agent_id, NotificationKind.pending_reminder, message, ticket.id
                    )
                )
        await notifications.record(session, clock, workspace.id, notes)
        await session.flush()
        reminded += len(notes)
    return reminded


WorkspaceTask = Callable[[AsyncSession, Clock, Workspace], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class AcrossWorkspaces:
    """A scheduler job running one task for every workspace, each in its own unit of work."""

    counter: str
    task: WorkspaceTask

    async def __call__(self, database: Database, clock: Clock) -> Mapping[str, int]:
        async with database.unit_of_work(readonly=True) as session:
            workspace_ids = list(
                (await session.execute(select(Workspace.id).order_by(Workspace.id))).scalars()
            )
        total = 0
        for workspace_id in workspace_ids:
            try:
                async with database.unit_of_work() as session:
                    scope_to_workspace(session.sync_session, workspace_id)
                    act_as(session.sync_session, SYSTEM, clock)
                    workspace = await session.get_one(Workspace, workspace_id)
                    total += await self.task(session, clock, workspace)
            except Exception:  # noqa: BLE001
                # One workspace's trouble must not starve the others; the next tick retries it.
                _log.exception("%s failed for workspace %s", self.counter, workspace_id)
        return {self.counter: total}
