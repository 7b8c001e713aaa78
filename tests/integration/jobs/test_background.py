"""Background work as a process runs it: the relay wakes when a commit leaves work, claimed job runs go
through the task queue, a queue that cannot take a run is recorded, and a lost broker is listened to
again without a tight loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from taskiq import InMemoryBroker

from supportdesk.core.clock import Clock, FrozenClock
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs import outbox
from supportdesk.jobs.background import Background
from supportdesk.jobs.channels import Delivery, Sent
from supportdesk.jobs.models import DeliveryChannel, DeliveryState, JobRun, OutboxMessage
from supportdesk.jobs.scheduler import ScheduledJob, Scheduler
from supportdesk.workspaces import service as workspace_service
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)
PROMPTLY = 10.0


async def counted(_database: Database, _clock: Clock) -> Mapping[str, int]:
    return {"done": 1}


async def runs(database: Database) -> list[tuple[str, dict[str, int] | None, str | None, bool]]:
    async with database.unit_of_work(readonly=True) as session:
        found = (await session.execute(select(JobRun).order_by(JobRun.id))).scalars()
        return [(run.job, run.result, run.error, run.finished_at is not None) for run in found]


async def test_a_claimed_job_runs_as_a_task(database: Database, clock: FrozenClock) -> None:
    settings = make_settings(str(database.engine.url))
    background = Background(
        database,
        clock,
        settings,
        senders={},
        jobs=[ScheduledJob("test.count", HOUR, counted)],
        broker=InMemoryBroker(await_inplace=True),
    )
    await background.broker.startup()
    try:
        [outcome] = await background.scheduler.run_due()
    finally:
        await background.stop()
    assert outcome.status == "queued"
    assert await runs(database) == [("test.count", {"done": 1}, None, True)]


async def test_a_run_the_queue_refuses_is_recorded_as_failed(database: Database, clock: FrozenClock) -> None:
    async def refuse(_job: str, _run_id: int, _tick: datetime) -> None:
        raise ConnectionError("broker unreachable")

    scheduler = Scheduler(database, clock, [ScheduledJob("test.count", HOUR, counted)], dispatch=refuse)
    [outcome] = await scheduler.run_due()
    assert (outcome.status, outcome.error) == ("failed", "ConnectionError: broker unreachable")
    assert await runs(database) == [
        ("test.count", None, "not queued: ConnectionError: broker unreachable", True)
    ]
    [again] = await scheduler.run_due()
    assert again.status == "skipped", "the tick stays claimed; the job catches up at its next tick"


async def test_a_run_of_a_job_this_process_does_not_know_is_recorded(
    database: Database, clock: FrozenClock
) -> None:
    dispatched: list[tuple[str, int]] = []

    async def keep(job: str, run_id: int, _tick: datetime) -> None:
        dispatched.append((job, run_id))

    older = Scheduler(database, clock, [ScheduledJob("test.retired", HOUR, counted)], dispatch=keep)
    await older.run_due()
    [(job, run_id)] = dispatched
    newer = Scheduler(database, clock, [ScheduledJob("test.count", HOUR, counted)])
    outcome = await newer.run_claimed(job, run_id, datetime(2026, 3, 2, 9, tzinfo=UTC))
    assert outcome.status == "failed"
    assert await runs(database) == [
        ("test.retired", None, "no job named 'test.retired' in this process", True)
    ]


async def test_the_relay_loop_starts_when_a_commit_leaves_work(
    real_database: Database, clock: FrozenClock
) -> None:
    # A database of real connections: the relay and the delivery it starts work at the same time.
    database = real_database
    async with database.unit_of_work() as session:
        workspace = await workspace_service.create_workspace(session, clock, slug="acme", name="Acme")
    delivered = asyncio.Event()

    async def send(_delivery: Delivery) -> Sent:
        delivered.set()
        return Sent()

    # A poll far longer than the test: only the commit's bell can start the relay in time.
    settings = make_settings(str(database.engine.url), outbox_poll_seconds=60)
    background = Background(database, clock, settings, senders={DeliveryChannel.webhook: send})
    await background.start(schedule=False)
    try:
        await asyncio.sleep(0.05)  # the relay has looked once and is waiting
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            message = outbox.Outgoing(DeliveryChannel.webhook, "1", "ticket:1:created", {})
            await outbox.enqueue(session, clock, workspace.id, [message])
        await asyncio.wait_for(delivered.wait(), PROMPTLY)
    finally:
        await background.stop()
    async with database.unit_of_work(readonly=True) as session:
        state = (await session.execute(select(OutboxMessage.state))).scalar_one()
    assert state == DeliveryState.delivered


async def test_a_lost_broker_is_listened_to_again_after_a_pause(caplog: pytest.LogCaptureFixture) -> None:
    # Nothing listens on port 1, so every attempt to read the queue fails at once. Receiving touches no
    # database, so the test needs none.
    settings = make_settings(queue_url="redis://127.0.0.1:1/0")
    database = Database(create_engine(settings))
    background = Background(database, FrozenClock(datetime(2026, 3, 2, tzinfo=UTC)), settings, senders={})
    caplog.set_level(logging.ERROR, logger="supportdesk.background")
    task = asyncio.create_task(background.consume_forever())
    await asyncio.sleep(0.8)
    await background.stop()
    await asyncio.wait_for(task, PROMPTLY)
    await database.dispose()
    failures = [record for record in caplog.records if "listening again" in record.getMessage()]
    # Within 0.8 s: at once, then after 0.5 s; a tight loop would have logged thousands.
    assert 1 <= len(failures) <= 3
