"""Background work as a process runs it: the relay wakes when a commit leaves work, claimed job runs go
through the task queue, a queue that cannot take a run is recorded, a lost broker is listened to again
without a tight loop (and promptly, when it had been listened to for a while), and a relay whose queue
refuses waits before it tries again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Mapping
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from taskiq import AsyncBroker, BrokerMessage, InMemoryBroker

from supportdesk.core.clock import Clock, FrozenClock
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs import background as background_module
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


class ListensFor(AsyncBroker):
    """A broker whose n-th listen fails after ``durations[n]`` seconds, and listens for good once they
    run out; it notes when each listen began and ended."""

    def __init__(self, durations: list[float]) -> None:
        super().__init__()
        self.durations = durations
        self.began: list[float] = []
        self.failed: list[float] = []
        self.listening = asyncio.Event()

    async def kick(self, message: BrokerMessage) -> None:
        raise NotImplementedError("nothing is sent in this test")

    async def listen(self) -> AsyncGenerator[bytes, None]:
        loop = asyncio.get_running_loop()
        self.began.append(loop.time())
        if len(self.began) > len(self.durations):
            self.listening.set()
            await asyncio.Event().wait()  # listening, until the receiver is stopped
        await asyncio.sleep(self.durations[len(self.began) - 1])
        self.failed.append(loop.time())
        raise ConnectionError("the broker connection was lost")
        yield b""  # never reached: it makes this the generator the receiver iterates


async def test_a_receiver_that_had_been_listening_starts_again_after_the_first_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Shorter than in production so that the test is quick; the rule is the same.
    monkeypatch.setattr(background_module, "RESTART_FIRST", 0.05)
    monkeypatch.setattr(background_module, "HEALTHY_LISTEN", 0.3)
    # Four failures at once (pauses of 0.05, 0.1, 0.2, 0.4 s), a listen of 0.3 s that then fails (a new
    # outage, hours later in production), and a listen that lasts.
    broker = ListensFor([0, 0, 0, 0, 0.3])
    settings = make_settings()
    database = Database(create_engine(settings))
    background = Background(
        database, FrozenClock(datetime(2026, 3, 2, tzinfo=UTC)), settings, senders={}, broker=broker
    )
    task = asyncio.create_task(background.consume_forever())
    try:
        await asyncio.wait_for(broker.listening.wait(), PROMPTLY)
    finally:
        await background.stop()
        await asyncio.wait_for(task, PROMPTLY)
        await database.dispose()
    pauses = [began - failed for failed, began in zip(broker.failed, broker.began[1:], strict=False)]
    assert len(pauses) == 5, pauses
    assert pauses[3] >= 0.4, f"the pause doubles while the failures go on: {pauses}"
    # Not 0.8 s, where the doubling had got to: the first pause again.
    assert pauses[4] < 0.4, f"the pause after a healthy listen: {pauses}"


async def test_a_relay_whose_queue_refuses_tries_again_after_the_poll_interval(
    real_database: Database, clock: FrozenClock
) -> None:
    tries: list[float] = []
    tried_thrice = asyncio.Event()

    class Refusing(InMemoryBroker):
        async def kick(self, message: BrokerMessage) -> None:
            tries.append(asyncio.get_running_loop().time())
            if len(tries) >= 3:
                tried_thrice.set()
            raise ConnectionError("the broker went away")

    async with real_database.unit_of_work() as session:
        workspace = await workspace_service.create_workspace(session, clock, slug="acme", name="Acme")
        scope_to_workspace(session.sync_session, workspace.id)
        message = outbox.Outgoing(DeliveryChannel.webhook, "1", "ticket:1:created", {})
        await outbox.enqueue(session, clock, workspace.id, [message])
    poll = 0.2
    settings = make_settings(str(real_database.engine.url), outbox_poll_seconds=poll)
    background = Background(real_database, clock, settings, senders={}, broker=Refusing())
    await background.start(schedule=False)
    try:
        await asyncio.wait_for(tried_thrice.wait(), PROMPTLY)
    finally:
        await background.stop()
    # The message is handed back due at once after each refusal, and still the relay waits a poll
    # interval before it claims it again: a tight loop would have made thousands of tries by now.
    assert tries[2] - tries[0] >= 2 * poll * 0.9, tries
    async with real_database.unit_of_work(readonly=True) as session:
        state = (await session.execute(select(OutboxMessage.state))).scalar_one()
    assert state == DeliveryState.pending
