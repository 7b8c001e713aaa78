"""Benchmark of the outbox: what announcing costs ticket creation, and how fast one worker delivers.

Run ``.venv/bin/python bench/outbox.py --help``; docs/performance.md records the results.

1. **create**: ``POST /api/v1/tickets`` at concurrency 8 against one uvicorn worker (bench/api.py's load
   loop, background work off as on a production API server) in two workspaces of one database, in
   alternating rounds: *quiet* (no webhook subscription) and *announced* (a subscription to
   ``ticket.created``, so every ticket writes one outbox message in its transaction).
2. **deliver**: ``--messages`` webhook messages are put in the outbox, then one worker (this process,
   the in-memory queue, as ``supportdesk worker`` runs by default) delivers them to a receiver in a
   child process that checks every signature with the Standard Webhooks package and counts each
   ``webhook-id``. Reported: messages per second, and how many the receiver got twice or never.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import uvicorn
from sqlalchemy import delete, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import (
    CUSTOMERS_PER_RUN,
    DEFAULT_POSTGRES_URL,
    DESCRIPTION,
    Fixture,
    ServerProcess,
    alternating_creates,
    bench_settings,
    drop_postgres_database,
    free_port,
    machine,
    recreate_postgres_database,
    spawn,
    start_server,
    stop_server,
    wait_until_healthy,
)
from supportdesk.auth import service as auth_service
from supportdesk.config import Settings
from supportdesk.core.clock import Clock, SystemClock
from supportdesk.core.permissions import Role
from supportdesk.db import migrate
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs import outbox
from supportdesk.jobs.models import DeliveryChannel, DeliveryState, OutboxMessage
from supportdesk.notifications.mail import templates
from supportdesk.notifications.mail.compose import Composition, Identity, Thread, draft
from supportdesk.notifications.mail.models import EmailKind
from supportdesk.people import service as people_service
from supportdesk.runtime import build_background
from supportdesk.webhooks import service as webhooks
from supportdesk.webhooks.models import WebhookEvent
from supportdesk.webhooks.targets import TargetPolicy
from supportdesk.workspaces import service as workspace_service

SCRIPT: Final = Path(__file__).resolve()
ENQUEUE_BATCH: Final = 1_000
# How often the delivery parts count what was delivered: often enough that the last poll adds little.
POLL_SECONDS: Final = 0.02


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the receiver (a child process) ----------------------------------------------------------------


def receiver_app(secret: str) -> Any:
    """A raw ASGI app: POST verifies and counts a webhook, GET /stats reports the counts."""
    from standardwebhooks.webhooks import Webhook

    verifier = Webhook(secret)
    seen: dict[str, int] = {}
    refused = 0

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal refused
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] == "GET":
            stats = {
                "unique": len(seen),
                "repeated": sum(count - 1 for count in seen.values()),
                "refused": refused,
            }
            payload = json.dumps(stats).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": payload})
            return
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        try:
            verifier.verify(body, headers, json_parse=False)
        except Exception:  # noqa: BLE001  (any refusal is counted and answered 401)
            refused += 1
            status = 401
        else:
            seen[headers["webhook-id"]] = seen.get(headers["webhook-id"], 0) + 1
            status = 204
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


def run_receiver(port: int, secret: str) -> None:
    config = uvicorn.Config(
        receiver_app(secret), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    uvicorn.Server(config).run()


async def wait_for(url: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer")
            await asyncio.sleep(0.1)


# --- set-up ---------------------------------------------------------------------------------------


async def workspace_with_admin(database: Database, slug: str) -> tuple[int, int]:
    clock = SystemClock()
    async with database.unit_of_work() as session:
        workspace = await workspace_service.create_workspace(session, clock, slug=slug, name=slug)
        scope_to_workspace(session.sync_session, workspace.id)
        admin = await people_service.create_user(
            session,
            clock,
            workspace_id=workspace.id,
            email=f"admin@{slug}.example.com",
            name="Admin",
            role=Role.admin,
        )
        return workspace.id, admin.id


async def subscribe(database: Database, workspace_id: int, url: str) -> tuple[int, str]:
    clock = SystemClock()
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace_id)
        subscription = await webhooks.create_subscription(
            session,
            clock,
            TargetPolicy(["127.0.0.1"]),
            workspace_id=workspace_id,
            url=url,
            event_types=[WebhookEvent.ticket_created],
        )
        return subscription.id, subscription.secret


# --- 1. ticket creation with and without announcing ------------------------------------------------


async def creates(
    database: Database, url: str, backend: str, args: argparse.Namespace, work_dir: Path
) -> dict[str, Any]:
    settings = bench_settings(url)
    clock = SystemClock()
    fixtures: dict[str, Fixture] = {}
    for kind in ("quiet", "announced"):
        workspace_id, admin_id = await workspace_with_admin(database, kind)
        if kind == "announced":
            # Never delivered here (the server's background work is off): only the writing is measured.
            await subscribe(database, workspace_id, "https://hooks.example.com/bench")
        else:
            # The desk as it was before the outbox: it tells nobody.
            async with database.unit_of_work() as session:
                workspace = await workspace_service.get_workspace(session, workspace_id)
                await workspace_service.update_settings(session, workspace, {"email_enabled": False})
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace_id)
            admin = await people_service.get_user(session, admin_id)
            issued = await auth_service.create_personal_token(
                session, settings, clock, user=admin, name="bench"
            )
        fixtures[kind] = Fixture(
            backend=backend,
            database_url=url,
            workspace_id=workspace_id,
            token=issued.secret,
            tickets=0,
            load_seconds=0.0,
            cursors=[],
            server_version="",
        )
    instructions: dict[str, float] = {}
    profiles = {kind: profile_path(args, backend, kind) for kind in ("quiet", "announced", "before")}
    if profiles["quiet"] is not None:
        # Starting a server costs about as much CPU as a thousand tickets: profiled on its own, it is
        # taken out of the profiles of the servers that answer the tickets.
        stop_server(await start_server("supportdesk", url, 0, work_dir, startup_profile(profiles["quiet"])))
    server = await start_server(
        "supportdesk", url, fixtures["quiet"].workspace_id, work_dir, profiles["quiet"]
    )
    others: dict[str, ServerProcess] = {}
    try:
        if args.profile is not None:
            # A profile per kind needs a server per kind: the announced workspace gets one of its own.
            others["announced"] = await start_server(
                "supportdesk", url, fixtures["announced"].workspace_id, work_dir, profiles["announced"]
            )
        if args.baseline_checkout is not None:
            # The desk before the outbox, in a database of its own that its own code migrated.
            baseline_url = (
                url.replace("bench-outbox.db", "bench-baseline.db")
                if backend == "sqlite"
                else (f"{url}_baseline")
            )
            fixtures["before"], others["before"] = await baseline_server(
                args.baseline_checkout, baseline_url, backend, work_dir, profiles["before"]
            )
        # Every ticket is a customer's, so that the announced ones are acknowledged by e-mail as well.
        results = await alternating_creates(
            server,
            fixtures,
            rounds=args.create_rounds,
            creates=args.creates,
            label=backend,
            scenario="create-for-a-customer",
            concurrency=args.create_concurrency,
            servers=others,
        )
        if args.instructions:
            instructions = {
                kind: count_instructions(
                    fixture,
                    args.baseline_checkout if kind == "before" else None,
                    args.instructions,
                    work_dir,
                )
                for kind, fixture in fixtures.items()
            }
    finally:
        stop_server(server)
        for other in others.values():
            stop_server(other)
        if "before" in others and backend == "postgresql":
            await drop_postgres_database(f"{url}_baseline")
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, fixtures["announced"].workspace_id)
        count = select(OutboxMessage.channel, func.count()).group_by(OutboxMessage.channel)
        written = {str(channel): int(number) for channel, number in (await session.execute(count)).all()}
        # They were written to be counted, not sent: left pending, the delivery part would spend its
        # time on an address that does not answer.
        await session.execute(delete(OutboxMessage).execution_options(synchronize_session=False))
    summaries = {kind: result.summary() for kind, result in results.items()}
    if args.profile is not None:
        # Every request a server answered, warm-up included, is in its profile.
        warmups = 50 + 10 * (args.create_rounds - 1)
        answered = args.creates * args.create_rounds + warmups
        compare_profiles(
            {kind: profiles[kind] for kind in results},
            answered,
            args.profile,
            backend,
            startups={
                "quiet": startup_profile(profiles["quiet"]),
                "announced": startup_profile(profiles["quiet"]),
                "before": startup_profile(profiles["before"]),
            },
        )
    return {
        **{
            kind: {
                key: summaries[kind][key]
                for key in (
                    "throughput",
                    "p50_ms",
                    "p95_ms",
                    "requests",
                    "errors",
                    "server_cpu_ms_per_request",
                    "database_cpu_ms_per_request",
                    "others_busy_fraction",
                )
            }
            for kind in summaries
        },
        **(
            {
                "instructions_per_ticket_millions": {
                    kind: round(value / 1e6, 3) for kind, value in instructions.items()
                }
            }
            if instructions
            else {}
        ),
        "outbox_messages_written": written,
        "ratio": results["announced"].throughput / results["quiet"].throughput,
        **(
            {"ratio_to_before_the_outbox": results["announced"].throughput / results["before"].throughput}
            if "before" in results
            else {}
        ),
    }


# Runs in a child under callgrind with the Python of the build measured (today's or the baseline
# checkout's), so it uses nothing but that build's app and the standard library.
INSTRUCTIONS_CHILD: Final = """
import asyncio, json, os, subprocess, sys
from supportdesk.app import create_app
from supportdesk.config import Settings

token, count, warmup, customers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
description = sys.argv[5]
priorities = ["low", "medium", "high", "critical"]


def counting(on):
    switch = "--instr=" + ("on" if on else "off")
    subprocess.run(["callgrind_control", switch, str(os.getpid())], check=True, capture_output=True)


async def create(app, index):
    body = {
        "title": f"Cannot log in after the password reset ({index})",
        "description": description,
        "priority": priorities[index % 4],
        "customer_email": f"customer{index % customers}@example.org",
    }
    data = json.dumps(body).encode()
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"authorization", f"Bearer {token}".encode()),
    ]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/v1/tickets", "raw_path": b"/api/v1/tickets",
        "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }
    sent = []
    status = []

    async def receive():
        if not sent:
            sent.append(True)
            return {"type": "http.request", "body": data, "more_body": False}
        await asyncio.Event().wait()

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    if status != [201]:
        raise SystemExit(f"create answered {status}")


async def main():
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        for index in range(warmup):
            await create(app, 1_000_000 + index)
        counting(True)
        for index in range(count):
            await create(app, 2_000_000 + index)
        counting(False)


asyncio.run(main())
"""


def count_instructions(fixture: Fixture, checkout: Path | None, count: int, work_dir: Path) -> float:
    """Instructions per ticket created in ``fixture``'s workspace by the build of ``checkout`` (today's
    when ``None``), counted by callgrind over ``count`` creations sent straight into the app, one at a
    time, after a warm-up that has met every customer once. PostgreSQL's own work is not counted."""
    script = work_dir / "instructions_child.py"
    script.write_text(INSTRUCTIONS_CHILD)
    out_file = work_dir / "callgrind.out"
    python = str(checkout / ".venv" / "bin" / "python") if checkout is not None else sys.executable
    environment = {
        **os.environ,
        "SUPPORTDESK_DATABASE_URL": fixture.database_url,
        "SUPPORTDESK_SECRET_KEY": bench_settings(fixture.database_url).secret_key,
        "SUPPORTDESK_ENV": "production",
        "SUPPORTDESK_AUTO_MIGRATE": "false",
        "SUPPORTDESK_LOG_LEVEL": "warning",
        "SUPPORTDESK_BACKGROUND": "off",
        "SUPPORTDESK_SCHEDULER": "off",
    }
    done = subprocess.run(  # noqa: S603  (the bench's own child)
        [
            shutil.which("valgrind") or "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out_file}",
            python,
            str(script),
            fixture.token,
            str(count),
            str(CUSTOMERS_PER_RUN),
            str(CUSTOMERS_PER_RUN),
            DESCRIPTION,
        ],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    collected = re.search(r"Collected : (\d+)", done.stderr)
    out_file.unlink(missing_ok=True)
    if done.returncode != 0 or collected is None:
        raise RuntimeError(f"callgrind child failed:\n{done.stderr[-3000:]}")
    return int(collected.group(1)) / count


def profile_path(args: argparse.Namespace, backend: str, kind: str) -> Path | None:
    """Where the server of ``kind`` writes its profile, when the run profiles."""
    if args.profile is None:
        return None
    args.profile.mkdir(parents=True, exist_ok=True)
    return Path(args.profile).resolve() / f"create-{backend}-{kind}.prof"


def startup_profile(path: Path | None) -> Path | None:
    """Where the profile of starting and stopping the server whose profile is ``path`` goes."""
    return path.with_suffix(".startup.prof") if path is not None else None


def own_times(path: Path, requests: int, startup: Path | None = None) -> dict[str, float]:
    """Own CPU time per request (µs) of each function in the profile at ``path``, less what the
    profile of the server's start (``startup``) shows of it."""
    times: dict[str, float] = {}
    for found, sign in ((path, 1), (startup, -1)):
        if found is None or not found.exists():
            continue
        stats = pstats.Stats(str(found))
        for (filename, line, name), (_calls, _primitive, own, _cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            # The same function of two checkouts has two file names: keep the part inside the package.
            where = filename.split("/site-packages/")[-1].split("/src/")[-1]
            # Built-ins are named with their object's address, which differs from process to process.
            key = f"{where}:{line}({re.sub(' at 0x[0-9a-f]+', '', name)})"
            times[key] = times.get(key, 0.0) + sign * own * 1e6 / requests
    return times


def compare_profiles(
    profiles: dict[str, Path | None],
    requests: int,
    directory: Path,
    backend: str,
    startups: dict[str, Path | None] | None = None,
) -> None:
    """Write, for each pair of kinds (announced against quiet, quiet against before), the functions whose
    own CPU time per ticket differs most, and the total per package."""
    found = {
        kind: own_times(path, requests, (startups or {}).get(kind))
        for kind, path in profiles.items()
        if path is not None
    }
    pairs = [
        (a, b)
        for a, b in (("announced", "quiet"), ("quiet", "before"), ("announced", "before"))
        if a in found and b in found
    ]
    for more, less in pairs:
        out = directory / f"create-{backend}-{more}-vs-{less}.txt"
        a, b = found[more], found[less]
        keys = set(a) | set(b)
        differences = sorted(((a.get(key, 0.0) - b.get(key, 0.0), key) for key in keys), reverse=True)
        packages: dict[str, float] = {}
        for difference, key in differences:
            package = "/".join(key.split(":")[0].split("/")[:2])
            packages[package] = packages.get(package, 0.0) + difference
        lines = [
            f"{more}: {sum(a.values()):.0f} µs of CPU per ticket, {less}: {sum(b.values()):.0f} µs",
            "",
            "by package (difference, µs per ticket):",
            *(
                f"{value:9.1f}  {name}"
                for value, name in sorted(((v, k) for k, v in packages.items()), reverse=True)[:25]
            ),
            "",
            "functions costing more (µs per ticket):",
            *(f"{difference:9.1f}  {key}" for difference, key in differences[:60]),
            "",
            "functions costing less (µs per ticket):",
            *(f"{difference:9.1f}  {key}" for difference, key in differences[::-1][:30]),
        ]
        out.write_text("\n".join(lines) + "\n")
        log(f"[{backend}] profile difference: {out}")


async def baseline_server(
    checkout: Path, url: str, backend: str, work_dir: Path, profile: Path | None = None
) -> tuple[Fixture, ServerProcess]:
    """A server of another build (``checkout``, installed with ``make install``) on a database its own
    commands migrate and fill with a workspace, an admin and a token: the desk before the outbox."""
    if backend == "postgresql":
        await recreate_postgres_database(url)
    # The token must verify on the server, which runs with the benchmark's settings and secret.
    environment = {
        **os.environ,
        "SUPPORTDESK_DATABASE_URL": url,
        "SUPPORTDESK_ENV": "development",
        "SUPPORTDESK_SECRET_KEY": bench_settings(url).secret_key,
    }
    command = str(checkout / ".venv" / "bin" / "supportdesk")

    def run(*args: str) -> str:
        done = subprocess.run(  # noqa: S603  (the bench's own commands)
            [command, *args], env=environment, check=True, capture_output=True, text=True, cwd=checkout
        )
        return done.stdout

    run("db", "upgrade")
    run("users", "create", "admin@before.example.com", "--role", "admin", "--workspace", "before")
    token = run("tokens", "create", "admin@before.example.com", "--workspace", "before").split()[-1]
    listed = json.loads(run("workspaces", "list", "--json"))
    workspace_id = next(int(item["id"]) for item in listed if item["slug"] == "before")

    async def start(profile: Path | None) -> ServerProcess:
        port = free_port()
        log_path = work_dir / f"server-before-{port}.log"
        process = spawn(
            [
                str(checkout / ".venv" / "bin" / "python"),
                str(checkout / "bench" / "api.py"),
                "--serve",
                "supportdesk",
                "--database-url",
                url,
                "--port",
                str(port),
                "--workspace-id",
                str(workspace_id),
                *(["--profile-out", str(profile)] if profile is not None else []),
            ],
            log_path,
        )
        server = ServerProcess(app="supportdesk", port=port, process=process, log_path=log_path)
        await wait_until_healthy(server)
        return server

    if profile is not None:
        stop_server(await start(startup_profile(profile)))
    server = await start(profile)
    fixture = Fixture(
        backend=backend,
        database_url=url,
        workspace_id=workspace_id,
        token=token,
        tickets=0,
        load_seconds=0.0,
        cursors=[],
        server_version="",
    )
    return fixture, server


# --- 2. delivery rate -----------------------------------------------------------------------------


async def deliveries(
    database: Database, url: str, backend: str, args: argparse.Namespace, work_dir: Path
) -> dict[str, Any]:
    port = free_port()
    workspace_id, _admin = await workspace_with_admin(database, "deliveries")
    subscription_id, secret = await subscribe(database, workspace_id, f"http://127.0.0.1:{port}/hook")
    receiver = spawn(
        [sys.executable, str(SCRIPT), "--receiver", "--port", str(port), "--secret", secret],
        work_dir / f"receiver-{backend}.log",
    )
    try:
        await wait_for(f"http://127.0.0.1:{port}/stats")
        clock = SystemClock()
        for start in range(0, args.messages, ENQUEUE_BATCH):
            async with database.unit_of_work() as session:
                scope_to_workspace(session.sync_session, workspace_id)
                batch = [
                    outbox.Outgoing(
                        DeliveryChannel.webhook,
                        str(subscription_id),
                        f"bench:{number}:ticket.created:wh{subscription_id}",
                        {
                            "type": "ticket.created",
                            "timestamp": clock.now().isoformat(),
                            "data": {"ticket": {"id": number}},
                        },
                    )
                    for number in range(start, min(start + ENQUEUE_BATCH, args.messages))
                ]
                await outbox.enqueue(session, clock, workspace_id, batch)
        settings = bench_settings(url).model_copy(
            update={
                "webhook_allowed_targets": "127.0.0.1",
                "outbox_batch": args.batch,
                "log_level": "warning",
            }
        )
        drained = await drain(database, settings, args, DeliveryChannel.webhook)
        async with httpx.AsyncClient() as client:
            stats = (await client.get(f"http://127.0.0.1:{port}/stats")).json()
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    return {
        "messages": args.messages,
        **drained.figures(),
        "receiver": stats,
        "lost": args.messages - stats["unique"],
    }


async def drain(
    database: Database, settings: Settings, args: argparse.Namespace, channel: DeliveryChannel
) -> Drained:
    """Run the background work of one worker process with the in-memory queue (its relay hands out
    batches while earlier ones are still being sent, as ``supportdesk worker`` does) until every message
    of ``channel`` is delivered or ``--max-seconds`` pass; returns how many were delivered, in how many
    seconds, and the worker's CPU time. Messages of another channel, delivered by an earlier part of the
    run, are not counted."""
    background = build_background(database, SystemClock(), settings)
    started, cpu_started = time.perf_counter(), time.process_time()
    await background.start(schedule=False)
    try:
        delivered = 0
        while delivered < args.messages and time.perf_counter() - started <= args.max_seconds:
            await asyncio.sleep(POLL_SECONDS)
            delivered = await count_state(database, DeliveryState.delivered, channel)
        return Drained(delivered, time.perf_counter() - started, time.process_time() - cpu_started)
    finally:
        await background.stop()


@dataclass(frozen=True)
class Drained:
    """What a delivery part measured; ``cpu_seconds`` is the worker's own (this process's)."""

    delivered: int
    seconds: float
    cpu_seconds: float

    def figures(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.delivered / self.seconds, 1),
            # How busy the worker's core was: near 1.0, the worker itself is the limit.
            "worker_cpu_share": round(self.cpu_seconds / self.seconds, 2),
            "worker_cpu_ms_per_message": round(1000 * self.cpu_seconds / max(self.delivered, 1), 3),
        }


# --- 3. e-mail through SMTP -----------------------------------------------------------------------


def run_smtp_sink(port: int, record: Path) -> None:
    """A local mail server that takes every message and writes its Message-ID to ``record``."""
    from aiosmtpd.smtp import SMTP, Envelope, Session

    message_id = re.compile(rb"^message-id:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
    out = record.open("ab", buffering=0)

    class Sink:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            content = envelope.original_content or b""
            found = message_id.search(content.split(b"\r\n\r\n", 1)[0])
            out.write((found.group(1) if found else b"-") + b"\n")
            return "250 OK"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(Sink(), hostname="sink.bench"), "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


async def wait_for_port(port: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
        else:
            writer.close()
            await writer.wait_closed()
            return


def mail_messages(workspace_id: int, numbers: Iterable[int], clock: Clock) -> list[outbox.Outgoing]:
    """A customer's acknowledgement of ticket ``number`` for each number, in the default wording, kept
    unrendered as the flows keep it (the worker renders it when it sends); the local part of each one's
    Message-ID is its payload's ``key``."""
    identity = Identity(workspace_id, "help@bench.example.com", "Bench Support", None, "k" * 32, ())
    wording = templates.DEFAULTS[EmailKind.ticket_received]
    messages = []
    for number in numbers:
        key = f"mail:ticket_received:ticket:{number}:created"
        thread = Thread(number + 1, number + 1, f"Bench ticket {number}", clock.now())
        values = {
            "workspace": templates.SAMPLE["workspace"],
            "ticket": {**templates.SAMPLE["ticket"], "number": number + 1, "title": thread.title},
            "customer": templates.SAMPLE["customer"],
        }
        drafted = draft(
            EmailKind.ticket_received,
            Composition(wording=wording, values=values, number=number + 1),
            identity=identity,
            thread=thread,
            to=f"customer{number}@example.org",
            dedupe_key=key,
            now=clock.now(),
            from_name="Bench Support",
        )
        messages.append(outbox.Outgoing(DeliveryChannel.email, drafted.to, key, drafted.to_payload()))
    return messages


async def mail(
    database: Database, url: str, backend: str, args: argparse.Namespace, work_dir: Path
) -> dict[str, Any]:
    port = free_port()
    record = work_dir / f"smtp-{backend}.ids"
    record.unlink(missing_ok=True)
    sink = spawn(
        [sys.executable, str(SCRIPT), "--smtp-sink", "--port", str(port), "--record", str(record)],
        work_dir / f"smtp-{backend}.log",
    )
    try:
        await wait_for_port(port)
        workspace_id, _admin = await workspace_with_admin(database, "mail")
        clock = SystemClock()
        for start in range(0, args.messages, ENQUEUE_BATCH):
            async with database.unit_of_work() as session:
                scope_to_workspace(session.sync_session, workspace_id)
                numbers = range(start, min(start + ENQUEUE_BATCH, args.messages))
                batch = mail_messages(workspace_id, numbers, clock)
                await outbox.enqueue(session, clock, workspace_id, batch)
        smtp = {"kind": "smtp", "name": "sink", "host": "127.0.0.1", "port": port, "security": "none"}
        settings = Settings.model_validate(
            {**bench_settings(url).model_dump(), "mail_providers": [smtp], "outbox_batch": args.batch}
        )
        drained = await drain(database, settings, args, DeliveryChannel.email)
        await asyncio.sleep(0.2)  # the sink's last writes
    finally:
        sink.terminate()
        sink.wait(timeout=10)
    ids = record.read_bytes().split()
    return {
        "messages": args.messages,
        **drained.figures(),
        "received": len(ids),
        "repeated": len(ids) - len(set(ids)),
        "lost": args.messages - len(set(ids)),
    }


async def count_state(database: Database, state: DeliveryState, channel: DeliveryChannel) -> int:
    async with database.unit_of_work(readonly=True) as session:
        query = (
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.state == state, OutboxMessage.channel == channel)
        )
        return int((await session.execute(query)).scalar_one())


# --- driver ---------------------------------------------------------------------------------------


async def run_backend(backend: str, args: argparse.Namespace, work_dir: Path) -> dict[str, Any]:
    if backend == "postgresql":
        url = args.postgres_url
        await recreate_postgres_database(url)
    else:
        url = f"sqlite+aiosqlite:///{work_dir / 'bench-outbox.db'}"
    database = Database(create_engine(bench_settings(url)))
    try:
        await migrate.upgrade(database.engine)
        result: dict[str, Any] = {}
        if "create" in args.parts:
            result["create"] = await creates(database, url, backend, args, work_dir)
        if "deliver" in args.parts:
            result["deliver"] = await deliveries(database, url, backend, args, work_dir)
        if "mail" in args.parts:
            result["mail"] = await mail(database, url, backend, args, work_dir)
        return result
    finally:
        await database.dispose()
        if backend == "postgresql":
            await drop_postgres_database(url)


async def main_async(args: argparse.Namespace) -> int:
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    report: dict[str, Any] = {
        "machine": machine(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "receiver"},
    }
    with tempfile.TemporaryDirectory(prefix="supportdesk-bench-outbox-") as directory:
        for backend in backends:
            log(f"[{backend}] measuring")
            report[backend] = await run_backend(backend, args, Path(directory))
    print(json.dumps(report, indent=2))
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--parts", nargs="+", choices=("create", "deliver", "mail"), default=["create", "deliver", "mail"]
    )
    parser.add_argument("--creates", type=int, default=1000, help="tickets per workspace per round (1000)")
    parser.add_argument("--create-rounds", type=int, default=4, help="alternating rounds (4)")
    parser.add_argument("--create-concurrency", type=int, default=8, help="clients creating at once (8)")
    parser.add_argument("--messages", type=int, default=5000, help="webhook messages to deliver (5000)")
    parser.add_argument("--batch", type=int, default=100, help="messages the relay claims per round (100)")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="give up delivering after this")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="recreated, then dropped")
    parser.add_argument(
        "--baseline-checkout",
        type=Path,
        help="a checkout of the build before the outbox (installed with make install): its creation rate "
        "is measured in the same rounds, on a database of its own",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="a folder: each kind of creation runs on a server of its own under cProfile (CPU time), "
        "which writes its profile there with the per-function difference per ticket between kinds; "
        "the rates of such a run are not comparable with a normal one",
    )
    parser.add_argument(
        "--instructions",
        type=int,
        default=0,
        metavar="N",
        help="after the rounds, count the instructions of N creations of each kind under callgrind "
        "(needs valgrind; PostgreSQL's own work is not counted)",
    )
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    parser.add_argument("--smtp-sink", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--record", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.receiver:
        run_receiver(args.port, args.secret)
        return 0
    if args.smtp_sink:
        run_smtp_sink(args.port, args.record)
        return 0
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
