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
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as redis

from supportdesk.db.session import Database
from supportdesk.jobs.models import OPEN_STATES, DeliveryState
from tests.fixtures.receiver import Receiver
from tests.integration.jobs.worker_processes import (
    DELIVERED_WITHIN,
    POLL_DATABASE,
    POSTGRESQL_ONLY,
    PROCESS_TIMEOUT,
    Worker,
    check_deliveries,
    received,
    rows,
    seed,
    start_worker,
    stop_workers,
    successes,
    until,
    worker_environment,
)

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


@POSTGRESQL_ONLY
async def test_a_worker_killed_mid_batch_loses_no_message(
    real_database: Database, receiver: Receiver, stream: Stream, tmp_path: Path
) -> None:
    receiver.accept_delay = ANSWER_DELAY
    receiver.known_secrets.append(await seed(real_database, receiver.url("/accept"), MESSAGES))
    env = worker_environment(
        real_database,
        queue_url=REDIS_URL,
        queue_name=stream.name,
        folder=tmp_path,
        lease_seconds=LEASE_SECONDS,
    )
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
        await stop_workers(workers)

    assert await stream.client.xlen(stream.name) > 0, "the tasks did not go through the Redis stream"
    final = await rows(real_database)
    times = check_deliveries(final, await successes(real_database), receiver)

    # A message repeats only when it was in flight at the kill.
    repeated = sorted(key for key, count in times.items() if count > 1)
    report = f"{len(repeated)} of {MESSAGES} messages reached the receiver twice"
    open_at_kill = {key for key, row in at_kill.items() if row.state is not DeliveryState.delivered}
    assert set(repeated) <= open_at_kill, report
    # Every message the receiver had taken and the killed worker had not recorded was sent again.
    assert interrupted <= set(repeated), report
