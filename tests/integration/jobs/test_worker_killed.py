"""A worker killed with SIGKILL in the middle of a batch: afterwards every outbox message is delivered,
exactly one attempt at each is recorded as a success, and nothing is lost.

Two real ``supportdesk worker`` processes run one after the other on a PostgreSQL database and a Redis
stream of the test's own. The first is killed while its batches are out: some messages have reached
the receiver without their answer being recorded, some are claimed and not yet sent. Nothing in the
dead process says so; the second worker finds that work only because the leases of the first ran out.
The receiver runs in this process and answers slowly, so that the kill always finds requests in flight.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as redis
from sqlalchemy import func, select

from supportdesk.core.clock import SystemClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs import outbox
from supportdesk.jobs.models import (
    OPEN_STATES,
    DeliveryAttempt,
    DeliveryChannel,
    DeliveryState,
    OutboxMessage,
)
from supportdesk.webhooks import service as webhooks
from supportdesk.webhooks.models import WebhookEvent
from supportdesk.webhooks.targets import TargetPolicy
from supportdesk.workspaces import service as workspace_service
from tests.fixtures.database import TEST_SECRET_KEY
from tests.fixtures.receiver import Receiver

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"
MESSAGES = 200
# The first worker is killed once the receiver has taken this many requests: a quarter of the messages,
# so that most of the work is still claimed, started or in flight when it dies.
KILL_AFTER = 50
# How long the receiver holds each request before it answers. With the worker's 20 sends at a time this
# bounds it to some 400 messages a second, while the test notices the KILL_AFTER-th request within a
# few milliseconds: the kill always comes while requests are held, long before the last message.
ANSWER_DELAY = 0.05
NOTICE_EVERY = 0.005
# Work the killed worker held comes back once its lease runs out; short, so that the test is quick.
LEASE_SECONDS = 2
# Starting a process that imports the app takes a second or two, and the whole run some seconds; waiting
# far longer means a hang. These bound a failure, they are not what the test waits for.
PROCESS_TIMEOUT = 30.0
DELIVERED_WITHIN = 30.0
POLL_DATABASE = 0.1

# PostgreSQL only: it is where several worker processes share one outbox in production.
POSTGRESQL_ONLY = pytest.mark.parametrize(
    "db_backend", [pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)], indirect=True
)


@dataclass(frozen=True)
class Stream:
    """The Redis stream the test's workers share, under a name no other test uses."""

    name: str
    client: redis.Redis


@pytest.fixture
async def stream() -> AsyncIterator[Stream]:
    name = f"supportdesk-test-{uuid.uuid4().hex[:12]}"
    client = redis.from_url(REDIS_URL)
    try:
        yield Stream(name, client)
    finally:
        # taskiq-redis keeps its consumer group inside the stream, and takes this lock while it claims
        # a dead consumer's entries: a worker killed while holding it leaves it until its timeout.
        await client.delete(name, f"autoclaim:{name}:{name}")
        await client.aclose()


@dataclass
class Worker:
    """A ``supportdesk worker`` process, its output in a file."""

    process: asyncio.subprocess.Process
    log: Path

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


async def start_worker(env: dict[str, str], log: Path) -> Worker:
    # The output goes to a file: a pipe nobody reads would fill up and stop the worker's logging.
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "supportdesk.cli",
            "worker",
            env=env,
            # No .env file is read from there, and nothing is written to the working directory.
            cwd=log.parent,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    return Worker(process, log)


def worker_environment(database: Database, queue_name: str, folder: Path) -> dict[str, str]:
    """The environment of a worker on the test's database and stream, without the caller's settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SUPPORTDESK_")}
    return env | {
        "SUPPORTDESK_ENV": "development",
        "SUPPORTDESK_SECRET_KEY": TEST_SECRET_KEY,
        "SUPPORTDESK_DATABASE_URL": database.engine.url.render_as_string(hide_password=False),
        "SUPPORTDESK_QUEUE_URL": REDIS_URL,
        "SUPPORTDESK_QUEUE_NAME": queue_name,
        "SUPPORTDESK_WEBHOOK_ALLOWED_TARGETS": "127.0.0.1",
        "SUPPORTDESK_DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS),
        # The second worker is stopped once everything is delivered, with nothing left to wait for.
        "SUPPORTDESK_SHUTDOWN_GRACE_SECONDS": "2",
        "SUPPORTDESK_MAIL_DIR": str(folder / "mail"),
    }


def key_of(n: int) -> str:
    return f"ticket:{n}:created"


async def seed(database: Database, url: str) -> str:
    """A workspace, a subscription to ``url`` and MESSAGES due messages for it; returns its secret.

    Each payload carries its message's dedupe key, so that what the receiver saw can be matched to rows.
    """
    clock = SystemClock()  # the workers' clock: the messages must be due by it
    async with database.unit_of_work() as session:
        workspace = await workspace_service.create_workspace(session, clock, slug="acme", name="Acme")
        scope_to_workspace(session.sync_session, workspace.id)
        subscription = await webhooks.create_subscription(
            session,
            clock,
            TargetPolicy(["127.0.0.1"]),
            workspace_id=workspace.id,
            url=url,
            event_types=[WebhookEvent.ticket_created],
        )
        messages = [
            outbox.Outgoing(
                DeliveryChannel.webhook,
                str(subscription.id),
                key_of(n),
                {"type": "ticket.created", "data": {"key": key_of(n)}},
            )
            for n in range(MESSAGES)
        ]
        await outbox.enqueue(session, clock, workspace.id, messages)
        return subscription.secret


@dataclass(frozen=True)
class Row:
    id: int
    state: DeliveryState
    attempts: int
    webhook_id: str | None


async def rows(database: Database) -> dict[str, Row]:
    """Every outbox message, by dedupe key."""
    async with database.unit_of_work(readonly=True) as session:
        query = select(
            OutboxMessage.dedupe_key,
            OutboxMessage.id,
            OutboxMessage.state,
            OutboxMessage.attempts,
            OutboxMessage.provider_message_id,
        )
        return {
            key: Row(id_, DeliveryState(state), attempts, webhook_id)
            for key, id_, state, attempts, webhook_id in await session.execute(query)
        }


async def successes(database: Database) -> dict[int, int]:
    """How many successful attempts the log holds, by message id."""
    async with database.unit_of_work(readonly=True) as session:
        query = (
            select(DeliveryAttempt.message_id, func.count())
            .where(DeliveryAttempt.succeeded.is_(True))
            .group_by(DeliveryAttempt.message_id)
        )
        return {int(message_id): int(count) for message_id, count in await session.execute(query)}


async def until(check: Callable[[], Awaitable[bool]], worker: Worker, *, every: float, within: float) -> None:
    """Wait for ``check`` to hold, failing with the worker's output if it exits or time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if worker.process.returncode is not None:
            pytest.fail(f"the worker exited with {worker.process.returncode}:\n{worker.tail()}")
        if loop.time() > deadline:
            pytest.fail(f"still waiting after {within} s; the worker's output ends:\n{worker.tail()}")
        await asyncio.sleep(every)


def received(receiver: Receiver) -> list[tuple[str, str]]:
    """(webhook-id, dedupe key) of every request the receiver took, in order."""
    return [
        (request.headers["webhook-id"], json.loads(request.body)["data"]["key"])
        for request in receiver.requests
    ]


@POSTGRESQL_ONLY
async def test_a_worker_killed_mid_batch_loses_no_message(
    real_database: Database, receiver: Receiver, stream: Stream, tmp_path: Path
) -> None:
    receiver.accept_delay = ANSWER_DELAY
    receiver.known_secrets.append(await seed(real_database, receiver.url("/accept")))
    env = worker_environment(real_database, stream.name, tmp_path)
    workers: list[Worker] = []

    async def taken_enough() -> bool:
        return len(receiver.requests) >= KILL_AFTER

    async def all_delivered() -> bool:
        return all(row.state is DeliveryState.delivered for row in (await rows(real_database)).values())

    try:
        first = await start_worker(env, tmp_path / "worker-1.log")
        workers.append(first)
        await until(taken_enough, first, every=NOTICE_EVERY, within=PROCESS_TIMEOUT)
        first.process.kill()
        await asyncio.wait_for(first.process.wait(), PROCESS_TIMEOUT)
        assert first.process.returncode == -signal.SIGKILL, first.tail()
        # Read at once: requests the receiver still holds had not been answered when the worker died.
        taken = {key for _webhook_id, key in received(receiver)}
        at_kill = await rows(real_database)

        # Right after the kill: every message is still there, none given up, and the kill cut work short.
        states = Counter(row.state for row in at_kill.values())
        assert len(at_kill) == MESSAGES
        assert set(states) <= {DeliveryState.delivered, *OPEN_STATES}, states
        assert states[DeliveryState.delivered] < MESSAGES, f"the kill came after the work was done: {states}"
        interrupted = {key for key in taken if at_kill[key].state is not DeliveryState.delivered}
        assert interrupted, f"no message the receiver took was left unrecorded by the kill: {states}"
        assert {at_kill[key].state for key in interrupted} == {DeliveryState.sending}, states

        second = await start_worker(env, tmp_path / "worker-2.log")
        workers.append(second)
        await until(all_delivered, second, every=POLL_DATABASE, within=DELIVERED_WITHIN)
        second.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.process.wait(), PROCESS_TIMEOUT)
        assert second.process.returncode == 0, second.tail()
    finally:
        for worker in workers:
            if worker.process.returncode is None:
                worker.process.kill()
                await worker.process.wait()

    assert await stream.client.xlen(stream.name) > 0, "the tasks did not go through the Redis stream"
    final = await rows(real_database)
    assert Counter(row.state for row in final.values()) == {DeliveryState.delivered: MESSAGES}
    assert await successes(real_database) == {row.id: 1 for row in final.values()}

    # The receiver checked every request's signature, and heard of every message under its own id.
    assert {request.path for request in receiver.requests} == {"/accept"}
    assert len(receiver.verified) == len(receiver.requests)
    seen = received(receiver)
    assert len({row.webhook_id for row in final.values()}) == MESSAGES
    assert sorted({key for _webhook_id, key in seen}) == sorted(final)
    assert {(webhook_id, key) for webhook_id, key in seen} == {
        (row.webhook_id, key) for key, row in final.items()
    }, "a message reached the receiver under another webhook-id than the one it was delivered with"

    # At least once: a message repeats only when it was in flight at the kill, never more often than
    # attempts were started at it, and always under the same webhook-id, so the receiver can drop it.
    times = Counter(key for _webhook_id, key in seen)
    repeated = sorted(key for key, count in times.items() if count > 1)
    report = f"{len(repeated)} of {MESSAGES} messages reached the receiver twice"
    assert all(times[key] <= final[key].attempts for key in times), report
    assert all(final[key].attempts > 1 for key in repeated), report
    open_at_kill = {key for key, row in at_kill.items() if row.state is not DeliveryState.delivered}
    assert set(repeated) <= open_at_kill, report
    # Every message the receiver had taken and the killed worker had not recorded was sent again.
    assert interrupted <= set(repeated), report
