"""What the fault tests of background work share: real ``supportdesk worker`` processes on a PostgreSQL
database and a Redis stream, webhook messages whose payload names their dedupe key, and what became of
each message in the outbox, in the delivery log and at the receiver.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from supportdesk.core.clock import SystemClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs import outbox
from supportdesk.jobs.models import DeliveryAttempt, DeliveryChannel, DeliveryState, OutboxMessage
from supportdesk.webhooks import service as webhooks
from supportdesk.webhooks.models import WebhookEvent
from supportdesk.webhooks.targets import TargetPolicy
from supportdesk.workspaces import service as workspace_service
from tests.fixtures.database import TEST_SECRET_KEY
from tests.fixtures.receiver import Receiver

# Starting a process that imports the app takes a second or two, and a whole run some seconds; waiting
# far longer means a hang. These bound a failure, they are not what the tests wait for.
PROCESS_TIMEOUT = 30.0
DELIVERED_WITHIN = 30.0
POLL_DATABASE = 0.1

# PostgreSQL only: it is where several worker processes share one outbox in production.
POSTGRESQL_ONLY = pytest.mark.parametrize(
    "db_backend", [pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)], indirect=True
)


@dataclass
class Worker:
    """A ``supportdesk worker`` process, its output in a file."""

    process: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])


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


async def stop_workers(workers: Iterable[Worker]) -> None:
    """Kill what is still running: a test that failed half-way must not leave workers behind."""
    for worker in workers:
        if worker.process.returncode is None:
            worker.process.kill()
            await worker.process.wait()


def worker_environment(
    database: Database,
    *,
    queue_url: str,
    queue_name: str,
    folder: Path,
    lease_seconds: float,
    **settings: str,
) -> dict[str, str]:
    """The environment of a worker on the test's database and stream, without the caller's settings;
    ``settings`` adds ``SUPPORTDESK_<NAME>`` variables."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SUPPORTDESK_")}
    return (
        env
        | {
            "SUPPORTDESK_ENV": "development",
            "SUPPORTDESK_SECRET_KEY": TEST_SECRET_KEY,
            "SUPPORTDESK_DATABASE_URL": database.engine.url.render_as_string(hide_password=False),
            "SUPPORTDESK_QUEUE_URL": queue_url,
            "SUPPORTDESK_QUEUE_NAME": queue_name,
            "SUPPORTDESK_WEBHOOK_ALLOWED_TARGETS": "127.0.0.1",
            "SUPPORTDESK_DELIVERY_LEASE_SECONDS": str(lease_seconds),
            # A worker is stopped once everything is delivered, with nothing left to wait for.
            "SUPPORTDESK_SHUTDOWN_GRACE_SECONDS": "2",
            "SUPPORTDESK_MAIL_DIR": str(folder / "mail"),
        }
        | {f"SUPPORTDESK_{name.upper()}": value for name, value in settings.items()}
    )


def key_of(n: int) -> str:
    return f"ticket:{n}:created"


@dataclass(frozen=True)
class Subscription:
    workspace_id: int
    id: int
    secret: str


async def subscribe(database: Database, url: str) -> Subscription:
    """A workspace and its subscription to ``url``."""
    clock = SystemClock()
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
        return Subscription(workspace.id, subscription.id, subscription.secret)


async def write(database: Database, subscription: Subscription, numbers: Iterable[int]) -> None:
    """Messages numbered ``numbers``, due now, in one transaction. Each payload carries its message's
    dedupe key, so that what the receiver saw can be matched to rows."""
    clock = SystemClock()  # the workers' clock: the messages must be due by it
    messages = [
        outbox.Outgoing(
            DeliveryChannel.webhook,
            str(subscription.id),
            key_of(n),
            {"type": "ticket.created", "data": {"key": key_of(n)}},
        )
        for n in numbers
    ]
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, subscription.workspace_id)
        await outbox.enqueue(session, clock, subscription.workspace_id, messages)


async def seed(database: Database, url: str, count: int) -> str:
    """A workspace, a subscription to ``url`` and ``count`` due messages for it; returns its secret."""
    subscription = await subscribe(database, url)
    await write(database, subscription, range(count))
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


async def until(
    check: Callable[[], Awaitable[bool]], *workers: Worker, every: float, within: float, what: str = ""
) -> None:
    """Wait for ``check`` to hold, failing with the workers' output if one exits or time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        for worker in workers:
            if worker.process.returncode is not None:
                pytest.fail(f"the worker exited with {worker.process.returncode}:\n{worker.tail()}")
        if loop.time() > deadline:
            outputs = "\n".join(worker.tail() for worker in workers)
            pytest.fail(
                f"still waiting {what or 'for a condition'} after {within} s; the output ends:\n{outputs}"
            )
        await asyncio.sleep(every)


def received(receiver: Receiver) -> list[tuple[str, str]]:
    """(webhook-id, dedupe key) of every request the receiver took, in order."""
    return [
        (request.headers["webhook-id"], json.loads(request.body)["data"]["key"])
        for request in receiver.requests
    ]


def check_deliveries(
    final: dict[str, Row], successes_by_id: dict[int, int], receiver: Receiver
) -> Counter[str]:
    """What every fault test asserts once the workers are done: each message delivered, one successful
    attempt recorded for each, and each heard of at the receiver, signed, under the one webhook-id it
    was delivered with. Returns how many requests the receiver took per dedupe key, for the test's own
    account of the repeats."""
    assert Counter(row.state for row in final.values()) == {DeliveryState.delivered: len(final)}
    assert successes_by_id == {row.id: 1 for row in final.values()}
    assert {request.path for request in receiver.requests} == {"/accept"}
    assert len(receiver.verified) == len(receiver.requests)
    seen = received(receiver)
    assert len({row.webhook_id for row in final.values()}) == len(final)
    assert sorted({key for _webhook_id, key in seen}) == sorted(final)
    assert {(webhook_id, key) for webhook_id, key in seen} == {
        (row.webhook_id, key) for key, row in final.items()
    }, "a message reached the receiver under another webhook-id than the one it was delivered with"
    times = Counter(key for _webhook_id, key in seen)
    # At least once: a message repeats only when an attempt at it was lost, never more often than
    # attempts were started at it, and always under the same webhook-id, so the receiver can drop it.
    repeated = sorted(key for key, count in times.items() if count > 1)
    report = f"{len(repeated)} of {len(final)} messages reached the receiver more than once"
    assert all(times[key] <= final[key].attempts for key in times), report
    assert all(final[key].attempts > 1 for key in repeated), report
    return times
