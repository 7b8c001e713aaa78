"""Fault run of the outbox: 10,000 side effects delivered by ``supportdesk worker`` processes over a
Redis stream while a worker, the receiver and Redis fail, and what reached the receivers in the end.

Run ``.venv/bin/python bench/faults.py --help``; docs/performance.md records the results.

Set-up, all on this machine: a fresh PostgreSQL database; a ``redis-server`` of the run's own, which
keeps nothing on disk and listens on a port of its own, so that restarting it touches no other user of
Redis; a webhook receiver in a child process that checks every signature and counts each
``webhook-id``; a local SMTP server (aiosmtpd, bench/outbox.py's) that notes each Message-ID;
``--workers`` worker processes; and a relay in this process, as a server with a Redis queue runs one.
This process writes the messages at a steady pace (``--write-rate``), in short transactions, every
``--mail-every``-th an e-mail and the others webhooks.

The faults come at fixed times after the first write (each adjustable):

1. the receiver answers every webhook with HTTP 500 for a while;
2. the receiver takes every webhook and answers only after the sender's timeout, for a while;
3. a worker is killed with SIGKILL while it has attempts under way, and started again;
4. Redis is killed and started again on the same port a few seconds later, empty: the stream, its
   consumer group and the tasks in it are gone.

A webhook that failed waits 5 s before its next attempt, and 5 minutes after a second failure, so the
faults are spaced for no message to meet two failures, and the run to end within a minute. A kill or a
lost queue message is no failure: the message is tried again when its lease runs out.

Reported: messages written, delivered, dead and still open; lost (written and not delivered at the end);
for each receiver, the distinct dedupe keys it got, the keys it never got, and the raw repeats (requests
beyond the first for one key, which its ``webhook-id`` or Message-ID lets a receiver drop); attempts;
how often each worker's task receiver had to listen again; and the wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Final, cast

import httpx
import redis.asyncio as redis
import uvicorn
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import (
    SECRET_KEY,
    bench_settings,
    cpu_model,
    drop_postgres_database,
    free_port,
    host_speed_ms,
    recreate_postgres_database,
    spawn,
)
from bench.outbox import mail_messages, subscribe, wait_for, wait_for_port, workspace_with_admin
from supportdesk.config import Settings
from supportdesk.core.clock import SystemClock
from supportdesk.db import migrate
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs import outbox
from supportdesk.jobs.background import Background
from supportdesk.jobs.models import (
    OPEN_STATES,
    DeliveryAttempt,
    DeliveryChannel,
    DeliveryState,
    OutboxMessage,
)

SCRIPT: Final = Path(__file__).resolve()
OUTBOX_SCRIPT: Final = SCRIPT.parent / "outbox.py"
DEFAULT_POSTGRES_URL: Final = "postgresql+asyncpg://postgres@127.0.0.1:5432/supportdesk_bench_faults"
QUEUE_NAME: Final = "supportdesk-bench-faults"
WRITE_EVERY: Final = 0.2  # seconds between two batches of the writer
# Below Linux's ephemeral ports (32768 and up): while Redis is down, no outgoing connection of any
# process can be given its port, so it starts again on the same one.
REDIS_PORTS: Final = range(20_000, 32_000)
STARTS_WITHIN: Final = 60.0  # bounds a process that does not come up; not what the run waits for
POLL: Final = 0.2
RECEIVER_FAILED: Final = "the task receiver stopped"
# What a worker logs (at the default level, info) once its background work has started.
WORKER_STARTED: Final = "started with"
CHILD_ARGS: Final = frozenset({"receiver", "port", "secret", "hold"})


BEGAN: Final = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - BEGAN:6.1f} s] {message}", file=sys.stderr, flush=True)


# --- the webhook receiver (a child process) ---------------------------------------------------------


def receiver_app(secret: str, accept_delay: float, hold: float) -> Any:
    """A raw ASGI app. POST takes a webhook as the mode says: ``ok`` counts it and answers 204 after
    ``accept_delay``, ``error`` answers 500 without taking it, ``timeout`` counts it and answers only
    after ``hold`` seconds (the sender has given up by then, as with a receiver that processed a
    request and then stalled). ``GET /mode/<mode>`` switches modes; ``GET /stats`` reports, for each
    ``webhook-id``, the dedupe key it carried and how often it was taken."""
    from standardwebhooks.webhooks import Webhook

    verifier = Webhook(secret)
    mode = "ok"
    seen: dict[str, list[Any]] = {}  # webhook-id: [dedupe key, times taken]
    counts: Counter[str] = Counter()

    async def respond(send: Any, status: int, payload: bytes = b"") -> None:
        headers = [(b"content-type", b"application/json")] if payload else []
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal mode
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                # A sender killed while it sent: the request never arrived whole.
                counts["cut_off"] += 1
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path = scope["path"]
        if scope["method"] == "GET":
            if path.startswith("/mode/"):
                mode = path.removeprefix("/mode/")
                await respond(send, 200, json.dumps({"mode": mode}).encode())
            else:
                await respond(send, 200, json.dumps({"ids": seen, **counts}).encode())
            return
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        try:
            verifier.verify(body, headers, json_parse=False)
        except Exception:  # noqa: BLE001  (any refusal is counted and answered 401)
            counts["bad_signature"] += 1
            await respond(send, 401)
            return
        if mode == "error":
            counts["answered_500"] += 1
            await respond(send, 500, b'{"error": "the receiver is failing"}')
            return
        key = json.loads(body)["data"]["key"]
        entry = seen.setdefault(headers["webhook-id"], [key, 0])
        if entry[0] != key:
            counts["id_with_two_keys"] += 1
        entry[1] += 1
        if mode == "timeout":
            counts["answered_late"] += 1
            await asyncio.sleep(hold)
        elif accept_delay:
            await asyncio.sleep(accept_delay)
        await respond(send, 204)

    return app


def run_receiver(port: int, secret: str, accept_delay: float, hold: float) -> None:
    app = receiver_app(secret, accept_delay, hold)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    uvicorn.Server(config).run()


# --- Redis of the run's own -------------------------------------------------------------------------


def free_redis_port() -> int:
    for port in REDIS_PORTS:
        with socket.socket() as probe, contextlib.suppress(OSError):
            probe.bind(("127.0.0.1", port))
            return port
    raise RuntimeError("no free port for redis-server")


@dataclass
class RedisServer:
    """A ``redis-server`` that keeps nothing on disk: after a restart it holds nothing."""

    binary: str
    folder: Path
    port: int
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)),
            *("--save", "", "--appendonly", "no", "--logfile", str(self.folder / "redis.log")),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = redis.from_url(self.url)
        deadline = time.monotonic() + STARTS_WITHIN
        try:
            while True:
                with contextlib.suppress(RedisConnectionError):
                    if await cast(Awaitable[bool], client.ping()):
                        return
                if self.process.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start; see {self.folder / 'redis.log'}")
                await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self.process = None


# --- worker processes -------------------------------------------------------------------------------


@dataclass
class Worker:
    """A ``supportdesk worker`` process, its output in a file."""

    process: asyncio.subprocess.Process
    log: Path

    @property
    def owner(self) -> str:
        """What it writes in ``claimed_by`` (see ``jobs.scheduler.default_owner``)."""
        return f"{socket.gethostname()}:{self.process.pid}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def receiver_restarts(self) -> int:
        return self.output().count(RECEIVER_FAILED)


async def start_worker(env: dict[str, str], log_path: Path) -> Worker:
    with log_path.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "supportdesk.cli", "worker"),
            env=env,
            cwd=log_path.parent,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    return Worker(process, log_path)


def worker_environment(
    args: argparse.Namespace, database_url: str, redis_url: str, smtp_port: int
) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SUPPORTDESK_")}
    sink = {"kind": "smtp", "name": "sink", "host": "127.0.0.1", "port": smtp_port, "security": "none"}
    return env | {
        "SUPPORTDESK_ENV": "production",
        "SUPPORTDESK_SECRET_KEY": SECRET_KEY,
        "SUPPORTDESK_DATABASE_URL": database_url,
        "SUPPORTDESK_QUEUE_URL": redis_url,
        "SUPPORTDESK_QUEUE_NAME": QUEUE_NAME,
        "SUPPORTDESK_WEBHOOK_ALLOWED_TARGETS": "127.0.0.1",
        "SUPPORTDESK_WEBHOOK_TIMEOUT_SECONDS": str(args.webhook_timeout),
        "SUPPORTDESK_DELIVERY_LEASE_SECONDS": str(args.lease),
        "SUPPORTDESK_MAIL_PROVIDERS": json.dumps([sink]),
        "SUPPORTDESK_SHUTDOWN_GRACE_SECONDS": "5",
    }


async def stop_processes(workers: list[Worker]) -> list[int | None]:
    """SIGTERM, then SIGKILL whatever has not stopped within some seconds; the exit codes."""
    for worker in workers:
        if worker.process.returncode is None:
            worker.process.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            await asyncio.wait_for(worker.process.wait(), 15)
        except TimeoutError:
            worker.process.kill()
            await worker.process.wait()
    return [worker.process.returncode for worker in workers]


async def wait_until(check: Callable[[], Awaitable[bool]], *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"still waiting {what} after {within} s")
        await asyncio.sleep(0.005)


# --- the run ----------------------------------------------------------------------------------------


@dataclass
class Run:
    """What the run's parts share."""

    args: argparse.Namespace
    database: Database
    workspace_id: int
    subscription_id: int
    receiver_url: str
    redis: RedisServer
    env: dict[str, str]
    work_dir: Path
    workers: list[Worker]
    started: float = 0.0
    written: int = 0
    writing_done: float = 0.0
    faults: list[dict[str, Any]] = field(default_factory=list)
    retired: list[Worker] = field(default_factory=list)

    def now(self) -> float:
        return round(time.monotonic() - self.started, 2)


def is_mail(args: argparse.Namespace, number: int) -> bool:
    return bool(args.mail_every) and number % args.mail_every == args.mail_every - 1


def webhook_key(number: int) -> str:
    return f"faults:{number}:ticket.created"


async def write(run: Run) -> None:
    """Write ``--messages`` messages at ``--write-rate`` a second, one transaction per batch."""
    clock = SystemClock()
    per_batch = max(1, round(run.args.write_rate * WRITE_EVERY))
    for start in range(0, run.args.messages, per_batch):
        await asyncio.sleep(max(0.0, run.started + start / run.args.write_rate - time.monotonic()))
        numbers = range(start, min(start + per_batch, run.args.messages))
        hooks = [
            outbox.Outgoing(
                DeliveryChannel.webhook,
                str(run.subscription_id),
                webhook_key(number),
                {
                    "type": "ticket.created",
                    "timestamp": clock.now().isoformat(),
                    "data": {"key": webhook_key(number), "ticket": {"id": number}},
                },
            )
            for number in numbers
            if not is_mail(run.args, number)
        ]
        mails = mail_messages(run.workspace_id, [n for n in numbers if is_mail(run.args, n)], clock)
        async with run.database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, run.workspace_id)
            await outbox.enqueue(session, clock, run.workspace_id, [*hooks, *mails])
        run.written += len(numbers)
    run.writing_done = time.monotonic()


async def receiver_mode(run: Run, mode: str) -> None:
    async with httpx.AsyncClient() as client:
        (await client.get(f"{run.receiver_url}/mode/{mode}")).raise_for_status()


async def attempts_under_way(run: Run, owner: str) -> int:
    async with run.database.unit_of_work(readonly=True) as session:
        query = select(func.count()).where(
            OutboxMessage.state == DeliveryState.sending, OutboxMessage.claimed_by == owner
        )
        return int((await session.execute(query)).scalar_one())


async def receiver_fails(run: Run, mode: str, seconds: float) -> dict[str, Any]:
    began = run.now()
    await receiver_mode(run, mode)
    await asyncio.sleep(seconds)  # how long the fault lasts, not a wait for anything
    await receiver_mode(run, "ok")
    return {"fault": f"receiver {mode}", "at_s": began, "for_s": seconds}


async def kill_a_worker(run: Run) -> dict[str, Any]:
    victim = run.workers[0]
    under_way = 0

    async def busy() -> bool:
        nonlocal under_way
        under_way = await attempts_under_way(run, victim.owner)
        return under_way > 0

    # Mid-batch: only once it has attempts started and not recorded.
    await wait_until(busy, within=STARTS_WITHIN, what="for the worker to have attempts under way")
    at = run.now()
    victim.process.kill()
    await victim.process.wait()
    run.retired.append(victim)
    run.workers[0] = await start_worker(run.env, run.work_dir / f"worker-0-after-kill-{len(run.retired)}.log")
    return {"fault": "worker SIGKILL and restart", "at_s": at, "attempts_under_way": under_way}


async def restart_redis(run: Run) -> dict[str, Any]:
    at = run.now()
    await run.redis.kill()
    await asyncio.sleep(run.args.redis_down)  # how long Redis is away, not a wait for anything
    await run.redis.start()
    return {"fault": "redis SIGKILL, started again empty", "at_s": at, "down_s": round(run.now() - at, 2)}


async def inject_faults(run: Run) -> None:
    args = run.args
    schedule: list[tuple[float, Callable[[], Awaitable[dict[str, Any]]]]] = [
        (args.errors_at, lambda: receiver_fails(run, "error", args.errors_for)),
        (args.timeouts_at, lambda: receiver_fails(run, "timeout", args.timeouts_for)),
        (args.kill_at, lambda: kill_a_worker(run)),
        (args.redis_at, lambda: restart_redis(run)),
    ]
    for at, fault in sorted(schedule, key=lambda item: item[0]):
        await asyncio.sleep(max(0.0, run.started + at - time.monotonic()))
        event = await fault()
        log(f"  {event}")
        run.faults.append(event)


async def open_messages(database: Database) -> int:
    async with database.unit_of_work(readonly=True) as session:
        query = select(func.count()).where(OutboxMessage.state.in_(OPEN_STATES))
        return int((await session.execute(query)).scalar_one())


async def outcome(database: Database) -> dict[str, Any]:
    """Each channel's messages by state, and the attempts made."""
    async with database.unit_of_work(readonly=True) as session:
        by_state = select(OutboxMessage.channel, OutboxMessage.state, func.count()).group_by(
            OutboxMessage.channel, OutboxMessage.state
        )
        states: dict[str, Counter[str]] = {}
        for channel, state, count in await session.execute(by_state):
            states.setdefault(str(DeliveryChannel(channel)), Counter())[str(DeliveryState(state))] = count
        attempts = select(DeliveryAttempt.succeeded, func.count()).group_by(DeliveryAttempt.succeeded)
        made = {bool(succeeded): int(count) for succeeded, count in await session.execute(attempts)}
        by_attempts = select(OutboxMessage.attempts, func.count()).group_by(OutboxMessage.attempts)
        attempts_per_message = {
            str(number): int(count) for number, count in sorted(await session.execute(by_attempts))
        }
        # A webhook that failed twice waits five minutes for its third attempt (the schedule's second
        # wait): the run's wall time then says more about the schedule than about the faults.
        failed = (
            select(DeliveryAttempt.message_id)
            .where(DeliveryAttempt.succeeded.is_(False))
            .group_by(DeliveryAttempt.message_id)
            .having(func.count() > 1)
        )
        failed_twice = int(
            (await session.execute(select(func.count()).select_from(failed.subquery()))).scalar_one()
        )
        waited = func.extract("epoch", OutboxMessage.delivered_at - OutboxMessage.created_at)
        latency = select(
            func.percentile_cont(0.5).within_group(waited),
            func.percentile_cont(0.99).within_group(waited),
            func.max(waited),
        ).where(OutboxMessage.state == DeliveryState.delivered)
        p50, p99, longest = (await session.execute(latency)).one()
    return {
        "states": {channel: dict(counts) for channel, counts in states.items()},
        "attempts": {"succeeded": made.get(True, 0), "failed": made.get(False, 0)},
        "attempts_per_message": attempts_per_message,
        "messages_that_failed_more_than_once": failed_twice,
        # From the commit that wrote a message to the outcome that recorded it delivered.
        "latency_seconds": {
            "p50": round(float(p50 or 0), 2),
            "p99": round(float(p99 or 0), 2),
            "max": round(float(longest or 0), 2),
        },
    }


async def written_keys(database: Database) -> tuple[set[str], set[str]]:
    """The dedupe keys of the webhooks written, and the Message-ID local parts of the e-mails."""
    async with database.unit_of_work(readonly=True) as session:
        query = select(OutboxMessage.channel, OutboxMessage.dedupe_key, OutboxMessage.payload)
        hooks: set[str] = set()
        mails: set[str] = set()
        for channel, key, payload in await session.execute(query):
            if DeliveryChannel(channel) is DeliveryChannel.webhook:
                hooks.add(key)
            else:
                mails.add(payload["key"])
        return hooks, mails


def tally(expected: set[str], received: list[str]) -> dict[str, int]:
    """What a receiver got of the ``expected`` keys: every request, keys distinct, missing and extra."""
    distinct = set(received)
    return {
        "written": len(expected),
        "requests_taken": len(received),
        "distinct_keys": len(distinct & expected),
        "distinct_keys_missing": len(expected - distinct),
        "raw_repeats": len(received) - len(distinct),
        "keys_never_written": len(distinct - expected),
    }


async def server_versions(database: Database, redis_url: str) -> dict[str, str]:
    async with database.unit_of_work(readonly=True) as session:
        postgresql = str((await session.execute(text("SHOW server_version"))).scalar_one())
    client = redis.from_url(redis_url)
    try:
        info = await cast(Awaitable[dict[str, Any]], client.info("server"))
    finally:
        await client.aclose()
    return {"postgresql": postgresql, "redis": str(info["redis_version"])}


async def run_faults(args: argparse.Namespace, work_dir: Path) -> dict[str, Any]:
    url = args.postgres_url
    await recreate_postgres_database(url)
    database = Database(create_engine(bench_settings(url)))
    children: list[Any] = []
    run: Run | None = None
    relay: Background | None = None
    redis_server = RedisServer(args.redis_server, work_dir, free_redis_port())
    try:
        await migrate.upgrade(database.engine)
        await redis_server.start()
        servers = await server_versions(database, redis_server.url)
        receiver_port, smtp_port = free_port(), free_port()
        workspace_id, _admin = await workspace_with_admin(database, "faults")
        subscription_id, secret = await subscribe(
            database, workspace_id, f"http://127.0.0.1:{receiver_port}/hook"
        )
        children.append(
            spawn(
                [
                    *(sys.executable, str(SCRIPT), "--receiver", "--port", str(receiver_port)),
                    *("--secret", secret, "--accept-delay", str(args.accept_delay)),
                    *("--hold", str(args.webhook_timeout + 0.5)),
                ],
                work_dir / "receiver.log",
            )
        )
        record = work_dir / "smtp.ids"
        children.append(
            spawn(
                [
                    sys.executable,
                    str(OUTBOX_SCRIPT),
                    "--smtp-sink",
                    "--port",
                    str(smtp_port),
                    "--record",
                    str(record),
                ],
                work_dir / "smtp.log",
            )
        )
        receiver_url = f"http://127.0.0.1:{receiver_port}"
        await wait_for(f"{receiver_url}/stats")
        await wait_for_port(smtp_port)
        log("database, Redis, receiver and SMTP server ready; starting the workers")

        settings = Settings.model_validate(
            {
                **bench_settings(url).model_dump(),
                "queue_url": redis_server.url,
                "queue_name": QUEUE_NAME,
                "delivery_lease_seconds": args.lease,
            }
        )
        # The server's relay: it hands this process's messages to the queue as they commit.
        relay = Background(database, SystemClock(), settings, senders={})
        await relay.start(schedule=False)
        env = worker_environment(args, url, redis_server.url, smtp_port)
        workers = [await start_worker(env, work_dir / f"worker-{n}.log") for n in range(args.workers)]
        run = Run(
            args, database, workspace_id, subscription_id, receiver_url, redis_server, env, work_dir, workers
        )

        async def all_started() -> bool:
            return all(WORKER_STARTED in worker.output() for worker in workers)

        # Redis lists a consumer only once it has been given a task, so the workers' logs say when.
        await wait_until(all_started, within=STARTS_WITHIN, what="for the workers to start")

        log(f"writing {args.messages} messages at {args.write_rate}/s; faults: {not args.no_faults}")
        run.started = time.monotonic()
        writer = asyncio.create_task(write(run))
        faults = asyncio.create_task(inject_faults(run)) if not args.no_faults else None
        await writer
        if faults is not None:
            await faults
        deadline = time.monotonic() + args.max_seconds
        while (remaining := await open_messages(database)) > 0 and time.monotonic() < deadline:
            for worker in run.workers:
                if worker.process.returncode is not None:
                    raise RuntimeError(f"a worker exited with {worker.process.returncode}; see {worker.log}")
            await asyncio.sleep(POLL)
        drained = time.monotonic()
        wall = drained - run.started
        log(f"{remaining} message(s) open after {wall:.1f} s; stopping the workers")
        exits = await stop_processes(run.workers)
        log("stopped")
        await relay.stop()
        relay = None
        async with httpx.AsyncClient() as http:
            stats = (await http.get(f"{receiver_url}/stats")).json()
        await asyncio.sleep(0.2)  # the sink's last writes
        hooks_written, mails_written = await written_keys(database)
        received_hooks = [key for key, times in stats.pop("ids").values() for _ in range(times)]
        received_mails = [
            line.decode().strip("<>").split("@", 1)[0] for line in record.read_bytes().split() if line != b"-"
        ]
        result = await outcome(database)
        delivered = sum(counts.get("delivered", 0) for counts in result["states"].values())
        return {
            "written": run.written,
            "delivered": delivered,
            "dead": sum(counts.get("dead", 0) for counts in result["states"].values()),
            "open_at_end": remaining,
            "lost": run.written - delivered,
            "wall_seconds": round(wall, 1),
            "seconds_after_the_last_write": round(drained - run.writing_done, 1),
            "webhooks": tally(hooks_written, received_hooks) | {"receiver": stats},
            "emails": tally(mails_written, received_mails),
            **result,
            "servers": servers,
            "faults": run.faults,
            "workers": {
                "receiver_restarts": [worker.receiver_restarts() for worker in [*run.retired, *run.workers]],
                "exit_codes": exits,
                "killed": len(run.retired),
            },
        }
    finally:
        if run is not None:
            for worker in [*run.retired, *run.workers]:
                if worker.process.returncode is None:
                    worker.process.kill()
                    await worker.process.wait()
        if relay is not None:
            await relay.stop()
        for child in children:
            child.terminate()
            child.wait(timeout=10)
        await redis_server.kill()
        await database.dispose()
        if not args.keep:
            await drop_postgres_database(url)


def machine() -> dict[str, Any]:
    """What the figures were measured on. Unlike bench/api.py's, it asks git nothing: the run must not
    touch the repository's index while someone else commits."""
    packages = ("sqlalchemy", "asyncpg", "httpx", "taskiq", "taskiq-redis", "redis", "aiosmtpd", "uvicorn")
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "host_speed_ms": host_speed_ms(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: metadata.version(name) for name in packages},
    }


async def main_async(args: argparse.Namespace) -> int:
    report: dict[str, Any] = {
        "machine": machine(),
        "args": {k: v for k, v in vars(args).items() if k not in CHILD_ARGS},
    }
    if args.logs is not None:
        args.logs.mkdir(parents=True, exist_ok=True)
        report["postgresql"] = await run_faults(args, args.logs)
    else:
        with tempfile.TemporaryDirectory(prefix="supportdesk-bench-faults-") as directory:
            report["postgresql"] = await run_faults(args, Path(directory))
    print(json.dumps(report, indent=2, default=str))
    result = report["postgresql"]
    missing = result["webhooks"]["distinct_keys_missing"] + result["emails"]["distinct_keys_missing"]
    return 0 if result["lost"] == 0 and missing == 0 and result["dead"] == 0 else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=10_000, help="side effects to write (10000)")
    parser.add_argument("--mail-every", type=int, default=5, help="every n-th is an e-mail; 0: none (5)")
    parser.add_argument("--write-rate", type=float, default=250.0, help="messages written a second (250)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--lease", type=float, default=10.0, help="delivery lease, seconds (10)")
    parser.add_argument("--webhook-timeout", type=float, default=2.0, help="the sender's timeout (2)")
    parser.add_argument("--accept-delay", type=float, default=0.01, help="the receiver's answer time (0.01)")
    parser.add_argument("--errors-at", type=float, default=5.0, help="receiver answers 500 from (5 s)")
    parser.add_argument("--errors-for", type=float, default=2.0, help="... for (2 s)")
    parser.add_argument("--timeouts-at", type=float, default=14.0, help="receiver answers late from (14 s)")
    parser.add_argument("--timeouts-for", type=float, default=2.0, help="... for (2 s)")
    parser.add_argument("--kill-at", type=float, default=24.0, help="a worker is killed at (24 s)")
    parser.add_argument("--redis-at", type=float, default=29.0, help="Redis is killed at (29 s)")
    parser.add_argument("--redis-down", type=float, default=3.0, help="... and started again after (3 s)")
    parser.add_argument("--no-faults", action="store_true", help="the same run without faults")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="give up waiting after this")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="recreated, then dropped")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this folder")
    parser.add_argument(
        "--redis-server", default=shutil.which("redis-server"), help="the redis-server binary"
    )
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    parser.add_argument("--hold", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.receiver and args.redis_server is None:
        parser.error("redis-server is not installed; name it with --redis-server")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.receiver:
        run_receiver(args.port, args.secret, args.accept_delay, args.hold)
        return 0
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
