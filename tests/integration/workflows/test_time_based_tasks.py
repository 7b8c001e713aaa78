"""Time-based automations with a frozen clock: escalation, breach notices, auto-close, pending reminders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from supportdesk.audit.models import AuditEvent
from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.automation import tasks
from supportdesk.automation.tasks import AcrossWorkspaces, WorkspaceTask
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.notifications.models import Notification, NotificationKind
from supportdesk.tickets.models import Priority, Ticket, TicketStatus
from supportdesk.workspaces.models import Workspace
from tests.factories.people import UserFactory
from tests.factories.tickets import TicketFactory

Run = Callable[[WorkspaceTask], Awaitable[int]]


@pytest.fixture
def run(database: Database, clock: FrozenClock, workspace: Workspace) -> Run:
    """Run one task for the test's workspace in its own unit of work, as the scheduler does."""

    async def go(task: WorkspaceTask) -> int:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            act_as(session.sync_session, SYSTEM, clock)
            current = await session.get_one(Workspace, workspace.id)
            return await task(session, clock, current)

    return go


async def _ticket(database: Database, ticket_id: int) -> Ticket:
    async with database.unit_of_work(readonly=True) as session:
        ticket = await session.get_one(Ticket, ticket_id)
        session.expunge(ticket)  # read-only work rolls back, which would expire what it loaded
        return ticket


async def _notes(database: Database, kind: NotificationKind) -> list[Notification]:
    async with database.unit_of_work(readonly=True) as session:
        query = select(Notification).where(Notification.kind == kind).order_by(Notification.id)
        notes = list((await session.execute(query)).scalars())
        session.expunge_all()
        return notes


async def _set(database: Database, workspace: Workspace, **settings: object) -> None:
    async with database.unit_of_work() as session:
        current = await session.get_one(Workspace, workspace.id)
        for name, value in settings.items():
            setattr(current, name, value)


@pytest.mark.parametrize(
    ("age", "priority", "expected"),
    [
        pytest.param(timedelta(hours=2), Priority.medium, Priority.medium, id="2h-old-medium-untouched"),
        pytest.param(timedelta(days=3), Priority.medium, Priority.high, id="3d-old-medium-to-high"),
        pytest.param(timedelta(days=4), Priority.low, Priority.medium, id="4d-old-low-to-medium"),
        pytest.param(timedelta(hours=5), Priority.high, Priority.critical, id="5h-old-high-to-critical"),
        pytest.param(timedelta(hours=2), Priority.critical, Priority.critical, id="critical-stays-critical"),
    ],
)
async def test_escalation_raises_overdue_open_tickets_one_level(
    run: Run,
    ticket_factory: TicketFactory,
    database: Database,
    clock: FrozenClock,
    age: timedelta,
    priority: Priority,
    expected: Priority,
) -> None:
    ticket = await ticket_factory(priority=priority, created_at=clock.now() - age)

    count = await run(tasks.escalate_overdue_tickets)

    after = await _ticket(database, ticket.id)
    assert after.priority is expected
    assert after.escalated is (count == 1)
    overdue = age > timedelta(hours={"low": 72, "medium": 24, "high": 4, "critical": 1}[priority.value])
    assert count == (1 if overdue else 0)


async def test_escalation_is_idempotent_audited_and_tells_supervisors(
    run: Run, ticket_factory: TicketFactory, user_factory: UserFactory, database: Database, clock: FrozenClock
) -> None:
    senior = await user_factory(role=Role.senior_agent)
    admin = await user_factory(role=Role.admin)
    agent = await user_factory(role=Role.agent)
    ticket = await ticket_factory(priority=Priority.medium, created_at=clock.now() - timedelta(days=3))

    assert await run(tasks.escalate_overdue_tickets) == 1
    assert await run(tasks.escalate_overdue_tickets) == 0

    after = await _ticket(database, ticket.id)
    assert (after.priority, after.escalated) == (Priority.high, True)
    # The new priority's (earlier) due time is the one kept.
    assert after.first_response_due_at == after.created_at + timedelta(hours=4)
    notes = await _notes(database, NotificationKind.escalation)
    assert sorted(note.user_id for note in notes) == sorted([senior.id, admin.id])
    assert agent.id not in [note.user_id for note in notes]
    assert all(note.ticket_id == ticket.id and f"#{ticket.number}" in note.message for note in notes)
    async with database.unit_of_work(readonly=True) as session:
        events = (
            await session.execute(select(AuditEvent).where(AuditEvent.object_id == ticket.id))
        ).scalars()
        changes = [event.changes for event in events if event.changes.get("escalated") == [False, True]]
    assert changes == [
        {
            **changes[0],
            "escalated": [False, True],
            "priority": ["medium", "high"],
        }
    ]


@pytest.mark.parametrize(
    "state",
    [
        pytest.param({"status": TicketStatus.assigned}, id="assigned"),
        pytest.param({"status": TicketStatus.resolved}, id="resolved"),
        pytest.param({"escalated": True}, id="already-escalated"),
    ],
)
async def test_escalation_leaves_tickets_someone_owns_or_already_escalated(
    run: Run,
    ticket_factory: TicketFactory,
    user_factory: UserFactory,
    clock: FrozenClock,
    state: dict[str, object],
) -> None:
    agent = await user_factory(role=Role.agent)
    owner = {"assignee": agent} if state.get("status") is TicketStatus.assigned else {}
    await ticket_factory(
        priority=Priority.medium, created_at=clock.now() - timedelta(days=3), **owner, **state
    )

    assert await run(tasks.escalate_overdue_tickets) == 0


async def test_escalation_waits_for_the_workspace_delay(
    run: Run, ticket_factory: TicketFactory, database: Database, workspace: Workspace, clock: FrozenClock
) -> None:
    await _set(database, workspace, escalation_delay_minutes=120)
    await ticket_factory(priority=Priority.medium, created_at=clock.now() - timedelta(hours=25))

    assert await run(tasks.escalate_overdue_tickets) == 0
    clock.advance(timedelta(hours=1, minutes=1))
    assert await run(tasks.escalate_overdue_tickets) == 1


async def test_many_escalations_send_one_digest_per_supervisor(
    run: Run, ticket_factory: TicketFactory, user_factory: UserFactory, database: Database, clock: FrozenClock
) -> None:
    senior = await user_factory(role=Role.senior_agent)
    for _ in range(tasks.DIGEST_AFTER + 1):
        await ticket_factory(priority=Priority.high, created_at=clock.now() - timedelta(hours=6))

    assert await run(tasks.escalate_overdue_tickets) == tasks.DIGEST_AFTER + 1

    notes = await _notes(database, NotificationKind.escalation)
    assert [(note.user_id, note.ticket_id) for note in notes] == [(senior.id, None)]
    assert notes[0].message.startswith(f"{tasks.DIGEST_AFTER + 1} tickets escalated")


async def test_breach_notices_go_once_to_the_assignee_or_the_supervisors(
    run: Run, ticket_factory: TicketFactory, user_factory: UserFactory, database: Database, clock: FrozenClock
) -> None:
    agent = await user_factory(role=Role.agent)
    senior = await user_factory(role=Role.senior_agent)
    owned = await ticket_factory(
        assignee=agent, priority=Priority.high, created_at=clock.now() - timedelta(hours=5)
    )
    unowned = await ticket_factory(priority=Priority.high, created_at=clock.now() - timedelta(hours=5))
    await ticket_factory(priority=Priority.high, created_at=clock.now() - timedelta(hours=1))  # not yet due

    assert await run(tasks.notify_sla_breaches) == 2
    assert await run(tasks.notify_sla_breaches) == 0

    notes = await _notes(database, NotificationKind.sla_breach)
    assert sorted((note.user_id, note.ticket_id) for note in notes) == sorted(
        [(agent.id, owned.id), (senior.id, unowned.id)]
    )
    assert all("first response" in note.message for note in notes)


async def test_a_resolution_breach_is_announced_separately(
    run: Run, ticket_factory: TicketFactory, user_factory: UserFactory, database: Database, clock: FrozenClock
) -> None:
    agent = await user_factory(role=Role.agent)
    ticket = await ticket_factory(
        assignee=agent,
        status=TicketStatus.in_progress,
        priority=Priority.critical,
        created_at=clock.now() - timedelta(hours=9),
    )

    assert await run(tasks.notify_sla_breaches) == 1

    notes = await _notes(database, NotificationKind.sla_breach)
    assert [(note.user_id, note.ticket_id) for note in notes] == [(agent.id, ticket.id)]
    assert "resolution" in notes[0].message


@pytest.mark.parametrize(
    ("resolved_days_ago", "closed"),
    [pytest.param(8, True, id="8-days-closed"), pytest.param(6, False, id="6-days-kept")],
)
async def test_resolved_tickets_close_after_seven_days(
    run: Run,
    ticket_factory: TicketFactory,
    database: Database,
    clock: FrozenClock,
    resolved_days_ago: int,
    closed: bool,
) -> None:
    ticket = await ticket_factory(
        status=TicketStatus.resolved, created_at=clock.now() - timedelta(days=resolved_days_ago)
    )

    assert await run(tasks.auto_close_resolved) == (1 if closed else 0)
    assert await run(tasks.auto_close_resolved) == 0

    after = await _ticket(database, ticket.id)
    assert after.status is (TicketStatus.closed if closed else TicketStatus.resolved)
    assert (after.closed_at == clock.now()) is closed


async def test_auto_close_can_be_turned_off(
    run: Run, ticket_factory: TicketFactory, database: Database, workspace: Workspace, clock: FrozenClock
) -> None:
    await _set(database, workspace, auto_close_after_days=None)
    await ticket_factory(status=TicketStatus.resolved, created_at=clock.now() - timedelta(days=30))

    assert await run(tasks.auto_close_resolved) == 0


async def test_a_pending_ticket_reminds_its_agent_once(
    run: Run, ticket_factory: TicketFactory, user_factory: UserFactory, database: Database, clock: FrozenClock
) -> None:
    agent = await user_factory(role=Role.agent)
    waiting = await ticket_factory(
        assignee=agent, status=TicketStatus.pending, created_at=clock.now() - timedelta(days=4)
    )
    await ticket_factory(
        assignee=agent, status=TicketStatus.pending, created_at=clock.now() - timedelta(days=1)
    )

    assert await run(tasks.remind_pending) == 1
    assert await run(tasks.remind_pending) == 0

    notes = await _notes(database, NotificationKind.pending_reminder)
    assert [(note.user_id, note.ticket_id) for note in notes] == [(agent.id, waiting.id)]
    assert "3 days" in notes[0].message


async def test_the_job_runs_a_task_for_every_workspace(
    ticket_factory: TicketFactory, other_workspace: Workspace, database: Database, clock: FrozenClock
) -> None:
    await ticket_factory(priority=Priority.medium, created_at=clock.now() - timedelta(days=3))
    await ticket_factory(
        workspace=other_workspace, priority=Priority.medium, created_at=clock.now() - timedelta(days=3)
    )
    job = AcrossWorkspaces("escalated", tasks.escalate_overdue_tickets)

    assert await job(database, clock) == {"escalated": 2}
    assert await job(database, clock) == {"escalated": 0}
