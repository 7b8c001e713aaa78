"""Redis stopped and started again while webhooks are being delivered: afterwards every outbox message
is delivered, one successful attempt at each is recorded, none is dead, and the worker's receiver
listened again by itself.

The server's relay runs in this process (as ``supportdesk serve`` runs it with a Redis queue) and one
real ``supportdesk worker`` process runs the tasks, on a PostgreSQL database and a Redis server of the
test's own that keeps nothing on disk. That Redis is killed while the worker has requests in flight and
tasks still unread, kept down until both the worker's receiver and the relay have run into it, and
started again on the same port, empty: the stream, its consumer group and the tasks in it are gone.
Messages are written before the outage, during it (the relay cannot hand them to the queue) and after
it (only a receiver that found its consumer group again can take them).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import uuid
from pathlib import Path

import pytest
import redis.asyncio as redis

from supportdesk.core.clock import SystemClock
from supportdesk.db.session import Database
from supportdesk.jobs.background import Background
from supportdesk.jobs.models import DeliveryState
from tests.fixtures.database import make_settings
from tests.fixtures.receiver import Receiver
from tests.integration.jobs.redis_server import RedisServer
from tests.integration.jobs.worker_processes import (
    DELIVERED_WITHIN,
    POLL_DATABASE,
    POSTGRESQL_ONLY,
    PROCESS_TIMEOUT,
    Worker,
    check_deliveries,
    rows,
    start_worker,
    stop_workers,
    subscribe,
    successes,
    until,
    worker_environment,
    write,
)

pytestmark = pytest.mark.integration

# Messages written before the outage, while Redis is down, and after it is back.
BEFORE = range(0, 100)
DURING = range(100, 150)
AFTER = range(150, 200)
# Redis is killed once the receiver has taken this many requests: most of the first messages are then
# in flight, started or still in the stream.
STOP_AFTER = 30
# Four tasks at a time in the worker, each answer held this long: the first hundred take about half a
# second, so the outage finds tasks running and tasks read from the stream but not started.
WORKER_CONCURRENCY = 4
ANSWER_DELAY = 0.02
NOTICE_EVERY = 0.005
# Tasks Redis lost with its memory come back once their messages' leases run out: short, for a quick test.
LEASE_SECONDS = 3
RELAY_POLL_SECONDS = 0.2

RECEIVER_FAILED = "the task receiver stopped"
# Redis stays down until the worker's receiver has failed this often: it lost its connection, and tried
# to listen again and failed twice (after pauses of 0.5 and 1 s), so that the outage lasts seconds.
RECEIVER_FAILURES = 3
RELAY_FAILED = "the outbox relay could not claim or hand out messages"


@POSTGRESQL_ONLY
async def test_redis_stopped_and_restarted_loses_no_message(
    real_database: Database,
    receiver: Receiver,
    private_redis: RedisServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="supportdesk.background")
    receiver.accept_delay = ANSWER_DELAY
    subscription = await subscribe(real_database, receiver.url("/accept"))
    receiver.known_secrets.append(subscription.secret)
    queue_name = f"supportdesk-test-{uuid.uuid4().hex[:12]}"
    database_url = real_database.engine.url.render_as_string(hide_password=False)
    settings = make_settings(
        database_url,
        queue_url=private_redis.url,
        queue_name=queue_name,
        delivery_lease_seconds=LEASE_SECONDS,
        outbox_poll_seconds=RELAY_POLL_SECONDS,
    )
    # The server's relay: it hands messages to the queue and runs no task itself.
    relay = Background(real_database, SystemClock(), settings, senders={})
    env = worker_environment(
        real_database,
        queue_url=private_redis.url,
        queue_name=queue_name,
        folder=tmp_path,
        lease_seconds=LEASE_SECONDS,
        worker_concurrency=str(WORKER_CONCURRENCY),
    )
    workers: list[Worker] = []

    def relay_failures() -> int:
        return sum(RELAY_FAILED in record.getMessage() for record in caplog.records)

    async def taken_enough() -> bool:
        return len(receiver.requests) >= STOP_AFTER

    async def all_delivered() -> bool:
        found = await rows(real_database)
        return len(found) == len(BEFORE) + len(DURING) + len(AFTER) and all(
            row.state is DeliveryState.delivered for row in found.values()
        )

    await relay.start(schedule=False)
    try:
        worker = await start_worker(env, tmp_path / "worker.log")
        workers.append(worker)
        await write(real_database, subscription, BEFORE)
        await until(taken_enough, worker, every=NOTICE_EVERY, within=PROCESS_TIMEOUT, what="for requests")

        await private_redis.stop(signal.SIGKILL)
        at_stop = await rows(real_database)
        failed_before = relay_failures()
        await write(real_database, subscription, DURING)

        async def both_ran_into_it() -> bool:
            receiver_failures = worker.output().count(RECEIVER_FAILED)
            return receiver_failures >= RECEIVER_FAILURES and relay_failures() > failed_before

        # Down until the worker's receiver has failed to listen again and the relay has failed to hand
        # out the messages just written, however long the machine takes to get there.
        await until(
            both_ran_into_it, worker, every=POLL_DATABASE, within=PROCESS_TIMEOUT, what="for the outage"
        )
        await private_redis.start()
        assert not any(private_redis.folder.glob("*.rdb")), "Redis kept its data on disk"
        await write(real_database, subscription, AFTER)

        await until(
            all_delivered, worker, every=POLL_DATABASE, within=DELIVERED_WITHIN, what="for deliveries"
        )
        # The one worker process started lived through the outage, and stops as it should.
        assert worker.process.returncode is None, worker.tail()
        worker.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.process.wait(), PROCESS_TIMEOUT)
        assert worker.process.returncode == 0, worker.tail()
    finally:
        await stop_workers(workers)
        await relay.stop()

    # The outage did cut work short: some of the first messages were not delivered when Redis went.
    assert len(at_stop) == len(BEFORE)
    assert any(row.state is not DeliveryState.delivered for row in at_stop.values()), "Redis went too late"
    final = await rows(real_database)
    check_deliveries(final, await successes(real_database), receiver)
    assert {row.state for row in final.values()} == {DeliveryState.delivered}, "a message is dead"

    # The worker listened again on its own, and the tasks went through the new Redis's stream, read by
    # the consumer group the worker declared there.
    assert "listening again" in worker.output()
    # An acknowledgement lost with Redis is one line in the log, not a traceback per task in flight.
    assert "exception was never retrieved" not in worker.output(), worker.tail()
    client = redis.from_url(private_redis.url)
    try:
        groups = await client.xinfo_groups(queue_name)
    finally:
        await client.aclose()
    assert [group["name"].decode() for group in groups] == [queue_name]
    assert groups[0]["last-delivered-id"] != b"0-0", "no task was read from the restarted Redis"
