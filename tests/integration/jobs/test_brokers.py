"""Background work over the real brokers a production desk uses: a Redis stream and a RabbitMQ queue.

Each test has a queue of its own (tests run in parallel) and removes it afterwards. The relay, the
scheduler and the receiver run as they do in ``supportdesk worker``, on a fresh database whose
connections commit for real, since they work concurrently. A test that stops Redis has a server of its
own (``private_redis``); one that only loses its stream deletes its own key on the shared one.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import aio_pika
import pytest
import redis.asyncio as redis
from sqlalchemy import select

from supportdesk.core.clock import Clock, SystemClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs import outbox
from supportdesk.jobs.background import Background, build_broker
from supportdesk.jobs.channels import Delivery, Sent
from supportdesk.jobs.models import DeliveryChannel, DeliveryState, JobRun, OutboxMessage
from supportdesk.jobs.rabbit import RabbitBroker
from supportdesk.jobs.scheduler import ScheduledJob
from supportdesk.jobs.streams import StreamBroker
from supportdesk.workspaces import service as workspace_service
from tests.fixtures.database import make_settings
from tests.integration.jobs.gateway import Gateway
from tests.integration.jobs.redis_server import RedisServer

pytestmark = pytest.mark.integration

BROKERS = {
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/",
}
# Round trips take milliseconds; this bounds a hang, it is not what a test waits for.
PROMPTLY = 20.0


# Each database with one broker: both databases and both brokers are covered, at half the cost of
# every pair (each test migrates a fresh database).
PAIRS = pytest.mark.parametrize(
    ("db_backend", "broker"),
    [
        pytest.param("sqlite", "redis", id="sqlite-redis"),
        pytest.param("postgresql", "rabbitmq", id="postgresql-rabbitmq"),
    ],
    indirect=True,
)


def one_pair(db_backend: str, broker: str) -> pytest.MarkDecorator:
    """The test runs on one database with one broker, for what only that broker does."""
    return pytest.mark.parametrize(
        ("db_backend", "broker"),
        [pytest.param(db_backend, broker, id=f"{db_backend}-{broker}")],
        indirect=True,
    )


@pytest.fixture
def broker(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def queue(broker: str) -> AsyncIterator[tuple[str, str]]:
    """(broker URL, a queue name no other test uses); the queue is removed afterwards."""
    url = BROKERS[broker]
    name = f"supportdesk-test-{uuid.uuid4().hex[:12]}"
    yield url, name
    if url.startswith("redis"):
        client = redis.from_url(url)
        await client.delete(name)
        await client.aclose()
    else:
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            for queue_name in (name, f"{name}.dead_letter"):
                await channel.queue_delete(queue_name)
            await channel.exchange_delete(name)


@dataclass
class Counting:
    """A sender or a job that notes each call and says when the expected number arrived."""

    expected: int = 1
    calls: list[str] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def note(self, what: str) -> None:
        self.calls.append(what)
        if len(self.calls) >= self.expected:
            self.done.set()

    async def send(self, delivery: Delivery) -> Sent:
        self.note(delivery.dedupe_key)
        return Sent(provider="counting")

    async def run(self, _database: Database, _clock: Clock) -> Mapping[str, int]:
        self.note("job")
        return {"done": 1}


@dataclass
class Worker:
    """A worker's background work on one queue (not started), counting the webhooks it sends, and a
    workspace to write messages in."""

    database: Database
    background: Background
    sender: Counting
    workspace_id: int

    async def announce(self, key: str) -> None:
        """Write one webhook message, as a change would."""
        clock = self.background.clock
        async with self.database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, self.workspace_id)
            message = outbox.Outgoing(DeliveryChannel.webhook, "1", key, {})
            await outbox.enqueue(session, clock, self.workspace_id, [message])


async def worker_on(database: Database, queue_url: str, queue_name: str) -> Worker:
    """A :class:`Worker` on ``queue_url``, its relay polling often, and a new workspace."""
    clock = SystemClock()
    settings = make_settings(
        str(database.engine.url), queue_url=queue_url, queue_name=queue_name, outbox_poll_seconds=0.05
    )
    sender = Counting()
    background = Background(database, clock, settings, senders={DeliveryChannel.webhook: sender.send})
    async with database.unit_of_work() as session:
        workspace = await workspace_service.create_workspace(session, clock, slug="acme", name="Acme")
    return Worker(database, background, sender, workspace.id)


@PAIRS
async def test_deliveries_and_jobs_run_through_the_broker(
    real_database: Database, queue: tuple[str, str]
) -> None:
    url, name = queue
    clock = SystemClock()
    settings = make_settings(
        str(real_database.engine.url), queue_url=url, queue_name=name, outbox_poll_seconds=0.05
    )
    sender, job = Counting(expected=3), Counting()
    background = Background(
        real_database,
        clock,
        settings,
        senders={DeliveryChannel.webhook: sender.send},
        jobs=[ScheduledJob("test.job", timedelta(hours=1), job.run)],
    )
    async with real_database.unit_of_work() as session:
        workspace = await workspace_service.create_workspace(session, clock, slug="acme", name="Acme")
    await background.start(consume=True)
    try:
        async with real_database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            messages = [
                outbox.Outgoing(DeliveryChannel.webhook, "1", f"event-{n}", {"n": n}) for n in range(3)
            ]
            await outbox.enqueue(session, clock, workspace.id, messages)
        await asyncio.wait_for(sender.done.wait(), PROMPTLY)
        await asyncio.wait_for(job.done.wait(), PROMPTLY)
    finally:
        await background.stop()

    assert sorted(sender.calls) == ["event-0", "event-1", "event-2"]
    assert job.calls == ["job"]
    async with real_database.unit_of_work(readonly=True) as session:
        states = (await session.execute(select(OutboxMessage.state))).scalars().all()
        run = (await session.execute(select(JobRun))).scalar_one()
        assert (run.result, run.error) == ({"done": 1}, None)
        assert run.finished_at is not None
    assert states == [DeliveryState.delivered] * 3


@one_pair("sqlite", "redis")
async def test_a_redis_stream_that_lost_its_consumer_group_is_listened_to_again(
    real_database: Database, queue: tuple[str, str]
) -> None:
    url, name = queue
    worker = await worker_on(real_database, url, name)
    background, sender = worker.background, worker.sender
    client = redis.from_url(url)
    await background.start(schedule=False, consume=True)
    try:
        await worker.announce("before")
        await asyncio.wait_for(sender.done.wait(), PROMPTLY)
        # What a Redis restarted without persistence holds of the queue: nothing, the stream and its
        # consumer group gone. The relay's next XADD makes the stream again, without the group, most
        # likely before the receiver makes the group again; its task must be read all the same, now and
        # not once its lease (five minutes here) runs out.
        await client.delete(name)
        sender.expected, sender.done = 2, asyncio.Event()
        await worker.announce("after")
        await asyncio.wait_for(sender.done.wait(), PROMPTLY)
    finally:
        await background.stop()
        await client.aclose()
    assert sender.calls == ["before", "after"]


@pytest.mark.parametrize("db_backend", [pytest.param("sqlite", id="sqlite")], indirect=True)
async def test_a_worker_started_while_redis_is_down_delivers_once_it_is_back(
    real_database: Database, private_redis: RedisServer
) -> None:
    worker = await worker_on(real_database, private_redis.url, f"supportdesk-test-{uuid.uuid4().hex[:12]}")
    background, sender = worker.background, worker.sender
    await private_redis.stop()
    # A supervisor starts the worker again in the middle of an outage: it must not exit.
    await background.start(schedule=False, consume=True)
    try:
        await worker.announce("ticket:1:created")
        await private_redis.start()
        await asyncio.wait_for(sender.done.wait(), PROMPTLY)
    finally:
        await background.stop()
    assert sender.calls == ["ticket:1:created"]


async def test_a_task_acknowledged_while_redis_is_down_costs_one_warning(
    private_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        queue_url=private_redis.url, queue_name=f"supportdesk-test-{uuid.uuid4().hex[:12]}"
    )
    broker = build_broker(settings)
    assert isinstance(broker, StreamBroker)

    async def nothing() -> None:
        return None

    await broker.startup()
    try:
        await broker.register_task(nothing, task_name="test.nothing").kiq()
        messages = broker.listen()
        message = await asyncio.wait_for(anext(messages), PROMPTLY)
        # The task ran; Redis went away before it heard so.
        await private_redis.stop()
        caplog.set_level(logging.WARNING, logger="supportdesk.background")
        acknowledged = message.ack()
        assert acknowledged is not None
        await acknowledged
        await messages.aclose()
    finally:
        await broker.shutdown()
    warnings = [record.getMessage() for record in caplog.records if record.name == "supportdesk.background"]
    assert len(warnings) == 1
    assert warnings[0].startswith("a task that ran could not be acknowledged")


@one_pair("postgresql", "rabbitmq")
async def test_a_worker_started_while_rabbitmq_is_down_delivers_once_it_is_back(
    real_database: Database, queue: tuple[str, str]
) -> None:
    _url, name = queue
    gateway = Gateway(target=5672)
    worker = await worker_on(real_database, f"amqp://guest:guest@127.0.0.1:{gateway.port}/", name)
    background, sender = worker.background, worker.sender
    assert isinstance(background.broker, RabbitBroker)
    # A supervisor starts the worker while RabbitMQ is down (nothing listens on the gateway's port yet):
    # it must not exit, and the message written meanwhile must not wait for its lease to run out.
    await background.start(schedule=False, consume=True)
    try:
        await worker.announce("ticket:1:created")
        await asyncio.sleep(0.3)  # a few of the relay's rounds while RabbitMQ cannot be reached
        await gateway.open()
        await asyncio.wait_for(sender.done.wait(), PROMPTLY)
    finally:
        await background.stop()
        await gateway.close()
        await _close_the_refused_connections()
    assert sender.calls == ["ticket:1:created"]
    async with real_database.unit_of_work(readonly=True) as session:
        state = (await session.execute(select(OutboxMessage.state))).scalar_one()
    assert state == DeliveryState.delivered


async def _close_the_refused_connections() -> None:
    """Each refused attempt leaves an aio-pika connection that nobody holds, in a reference cycle with
    its exception. aio-pika closes such a connection when it is collected, by scheduling its close on
    the running event loop; collected later, between tests (the suite collects every hundred tests,
    outside the loop), the close is never run and warns in whichever test runs then. Collected here, the
    loop is running and the closes run before the test ends."""
    gc.collect()
    await asyncio.sleep(0.05)
