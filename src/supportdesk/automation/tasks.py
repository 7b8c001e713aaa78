"""Time-based automations: SLA breach notices, escalation, auto-close, pending reminders.

Each works on one workspace inside the caller's unit of work and only reads tickets through the partial
indexes on running clocks, resolved and pending tickets. Each is idempotent: a ticket it has handled no
longer matches its query, so running it twice does nothing the second time. Rows another transaction is
changing right now are skipped (PostgreSQL) and picked up at the next tick.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Select, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.recorder import SYSTEM, act_as, record_updates
from supportdesk.core.clock import Clock
from supportdesk.core.permissions import Role
from supportdesk.db import objects
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.notifications import service as notifications
from supportdesk.notifications.models import NotificationKind
from supportdesk.people.models import Customer, Tier
from supportdesk.sla import rules as sla_rules
from supportdesk.sla import service as sla_service
from supportdesk.tickets.models import Priority, Ticket, TicketStatus
from supportdesk.webhooks import service as webhooks
from supportdesk.webhooks.models import WebhookEvent
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


class TicketLike(Protocol):
    """What a notice names: a ticket, or a row with the same fields."""

    @property
    def id(self) -> int: ...
    @property
    def number(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def status(self) -> TicketStatus: ...
    @property
    def created_at(self) -> datetime: ...


async def _tell_supervisors(
    session: AsyncSession,
    clock: Clock,
    workspace_id: int,
    tickets: Sequence[TicketLike],
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
                user_id,
                kind,
                f"Ticket #{ticket.number} {what}: {ticket.title}",
                ticket.id,
                "high",
                notifications.About.of(ticket),
            )
            for ticket in tickets
            for user_id in supervisors
        ]
    await notifications.record(session, clock, workspace_id, notes)


_ticket = cast(Table, Ticket.__table__)
# One statement per batch (executemany): escalating ten thousand tickets through the ORM's versioned,
# row-by-row updates took seconds.
_ESCALATE = (
    update(_ticket)
    .where(_ticket.c.id == bindparam("ticket_id"))
    .values(
        priority=bindparam("new_priority"),
        escalated=True,
        updated_at=bindparam("now"),
        version=_ticket.c.version + 1,
        sla_policy_id=bindparam("policy_id"),
        first_response_due_at=bindparam("first_response"),
        resolution_due_at=bindparam("resolution"),
        first_response_at_risk_at=bindparam("first_response_at_risk"),
        resolution_at_risk_at=bindparam("resolution_at_risk"),
    )
)
_ESCALATION_COLUMNS = (
    Ticket.id,
    Ticket.number,
    Ticket.title,
    Ticket.priority,
    Ticket.status,
    Ticket.category,
    Ticket.customer_id,
    Ticket.created_at,
    Ticket.sla_paused_seconds,
    Ticket.sla_policy_id,
    Ticket.first_response_due_at,
    Ticket.resolution_due_at,
    Ticket.first_response_at_risk_at,
    Ticket.resolution_at_risk_at,
)
_DUE_COLUMNS = (
    ("first_response_due_at", "first_response"),
    ("resolution_due_at", "resolution"),
    ("first_response_at_risk_at", "first_response_at_risk"),
    ("resolution_at_risk_at", "resolution_at_risk"),
)


async def _tiers(
    session: AsyncSession, setup: sla_service.SlaSetup, customers: set[int | None]
) -> dict[int, Tier]:
    customer_ids = {customer_id for customer_id in customers if customer_id is not None}
    if not setup.uses_tiers or not customer_ids:
        return {}
    rows = await session.execute(select(Customer.id, Customer.tier).where(Customer.id.in_(customer_ids)))
    return {row.id: row.tier for row in rows.all()}


def _summary(ticket: Any, **changed: Any) -> dict[str, Any]:
    """A ticket as a job's webhook events show it: what identifies it and what the job changed."""
    fields = {
        "id": ticket.id,
        "number": ticket.number,
        "title": ticket.title,
        "status": ticket.status.value,
        "priority": ticket.priority.value,
    }
    for key in ("assigned_agent_id", "escalated"):
        if hasattr(ticket, key):
            fields[key] = getattr(ticket, key)
    fields.update(changed)
    return fields


async def _announce(
    session: AsyncSession,
    clock: Clock,
    workspace_id: int,
    events: Sequence[WebhookEvent],
    *,
    cause: str,
    data: dict[str, Any],
) -> None:
    async def payload() -> dict[str, Any]:
        return data

    ticket_id = int(data["ticket"]["id"])
    await webhooks.announce(
        session, clock, workspace_id, events, cause=cause, data=payload, ticket_id=ticket_id
    )


async def escalate_overdue_tickets(session: AsyncSession, clock: Clock, workspace: Workspace) -> int:
    """Escalate tickets still open and unassigned whose first response is overdue by the workspace's delay:
    priority one level up, ``escalated`` set, due times recomputed for the new priority, an audit event
    each, supervisors told. Returns how many."""
    now = clock.now()
    cutoff = now - timedelta(minutes=workspace.escalation_delay_minutes)
    # Columns, not entities: the rows are changed by one bulk statement, never through the ORM.
    query = (
        select(*_ESCALATION_COLUMNS)
        .where(
            sla_service.first_response_breached(cutoff),
            Ticket.status == TicketStatus.open,
            Ticket.assigned_agent_id.is_(None),
            Ticket.escalated.is_(False),
        )
        .order_by(Ticket.first_response_due_at, Ticket.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    setup = await sla_service.load_setup(session, workspace.id)
    escalated: list[TicketLike] = []
    while batch := list((await session.execute(query)).all()):
        tiers = await _tiers(session, setup, {row.customer_id for row in batch})
        params: list[dict[str, Any]] = []
        changes: dict[int, dict[str, list[Any]]] = {}
        for row in batch:
            raised = raised_priority(row.priority)
            policy = setup.match(tiers.get(row.customer_id or 0), row.category)
            facts = sla_rules.ClockFacts(
                priority=raised,
                status=row.status,
                created_at=row.created_at,
                paused_seconds=row.sla_paused_seconds or 0,
            )
            due = sla_rules.due_times(facts, policy)
            params.append(
                {
                    "ticket_id": row.id,
                    "new_priority": raised.value,
                    "now": now,
                    "policy_id": policy.id,
                    **{attribute: getattr(due, attribute) for _, attribute in _DUE_COLUMNS},
                }
            )
            ticket_changes: dict[str, list[Any]] = {
                "priority": [row.priority, raised],
                "escalated": [False, True],
            }
            for key, attribute in _DUE_COLUMNS[:2]:  # the at-risk times are bookkeeping, not audited
                if getattr(row, key) != getattr(due, attribute):
                    ticket_changes[key] = [getattr(row, key), getattr(due, attribute)]
            if row.sla_policy_id != policy.id:
                ticket_changes["sla_policy_id"] = [row.sla_policy_id, policy.id]
            changes[row.id] = ticket_changes
        connection = await session.connection()
        await connection.execute(_ESCALATE, params)
        # Neither the audit hook nor the object cache's sees this statement: both are told here.
        await record_updates(session, clock, workspace.id, "ticket", changes)
        objects.note_changed(session, "ticket", workspace.id, changes)
        for row in batch:
            summary = _summary(row, priority=raised_priority(row.priority).value, escalated=True)
            await _announce(
                session,
                clock,
                workspace.id,
                [WebhookEvent.ticket_escalated, WebhookEvent.ticket_updated],
                cause=f"ticket:{row.id}:escalated",
                data={"ticket": summary, "previous": {"priority": row.priority.value, "escalated": False}},
            )
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
        target_key = target.replace(" ", "_")
        query = select(Ticket).where(breached(now), notified.is_(None)).order_by(Ticket.id)
        unowned: list[Ticket] = []
        while batch := await _batches(session, query):
            notes = []
            for ticket in batch:
                setattr(ticket, notified.key, now)
                await _announce(
                    session,
                    clock,
                    workspace.id,
                    [WebhookEvent.sla_breached],
                    cause=f"ticket:{ticket.id}:breached:{target_key}",
                    data={"ticket": _summary(ticket), "target": target_key},
                )
                if ticket.assigned_agent_id is None:
                    unowned.append(ticket)
                    continue
                message = f"Ticket #{ticket.number} breached its {target} target: {ticket.title}"
                notes.append(
                    notifications.Note(
                        ticket.assigned_agent_id,
                        NotificationKind.sla_breach,
                        message,
                        ticket.id,
                        "high",
                        notifications.About.of(ticket),
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
        for ticket in batch:
            await _announce(
                session,
                clock,
                workspace.id,
                [WebhookEvent.ticket_updated, WebhookEvent.ticket_status_changed],
                cause=f"ticket:{ticket.id}:v{ticket.version}",
                data={"ticket": _summary(ticket), "previous": {"status": TicketStatus.resolved.value}},
            )
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
