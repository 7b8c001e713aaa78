"""Benchmark of the agent workspace: how long its pages take on a large desk, and how soon a change
made through one server process reaches a page connected to another.

Run ``.venv/bin/python bench/web.py --help``; docs/performance.md records the results.

**pages** (SQLite and PostgreSQL): a fresh database with 100,000 tickets (SLA due times set, agents,
customers and tags as ``bench/api.py`` loads them) and one ticket with 200 comments. One server
process (``create_app`` with background work off, under uvicorn) answers one client that asks for
each page in turn, one request at a time, as the agent's browser does: the queue pages (50 tickets
each, with the counts of every queue and the unread count), a search by number and the ticket page
with its 200 comments. Each time is the whole round trip on the loopback interface, so it bounds the
server's own time from above.

**events** (PostgreSQL and Redis): two server processes on one database, their pushes carried by
Redis. A client holds the event stream of the first (``GET /app/events``, as the page's EventSource
does) while tickets are created one after the other through the second's API; each event's delay is
measured from the moment the creating request was answered (its change had committed) to the moment
the event arrived, and from the moment the request was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import uvicorn
from sqlalchemy import insert, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import (
    RESULTS_DIR,
    ServerProcess,
    bench_settings,
    bulk_load,
    create_identity,
    drop_postgres_database,
    free_port,
    machine,
    recreate_postgres_database,
    spawn,
    stop_server,
    uvicorn_config,
    wait_until_healthy,
)
from supportdesk.app import create_app
from supportdesk.db import migrate
from supportdesk.db.base import Base
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database

SCRIPT: Final = Path(__file__).resolve()
DEFAULT_POSTGRES_URL: Final = "postgresql+asyncpg://postgres@127.0.0.1:5432/supportdesk_bench_web"
DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"
QUEUE_TARGET_MS: Final = 50.0
TICKET_TARGET_MS: Final = 100.0
EVENT_TARGET_MS: Final = 100.0
CONVERSATION: Final = 200
comment_table = Base.metadata.tables["comment"]
ticket_table = Base.metadata.tables["ticket"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which ``share`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class Timing:
    """Milliseconds of one kind of request or event."""

    name: str
    samples: list[float]

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "count": len(self.samples),
            "p50_ms": round(statistics.median(self.samples), 2),
            "p95_ms": round(percentile(self.samples, 0.95), 2),
            "p99_ms": round(percentile(self.samples, 0.99), 2),
            "max_ms": round(max(self.samples), 2),
        }


# --- the server processes ------------------------------------------------------------------------------


def serve(database_url: str, port: int, pubsub_url: str, queue_name: str) -> None:
    """One server, as ``bench/api.py`` runs its own, with pushes over ``pubsub_url``."""
    settings = bench_settings(database_url).model_copy(
        update={"pubsub_url": pubsub_url, "queue_name": queue_name}
    )
    server = uvicorn.Server(uvicorn_config(create_app(settings), port))
    with contextlib.suppress(KeyboardInterrupt):
        server.run()


async def start(database_url: str, work_dir: Path, pubsub_url: str, queue_name: str) -> ServerProcess:
    port = free_port()
    log_path = work_dir / f"server-{port}.log"
    command = [sys.executable, str(SCRIPT), "--serve", database_url, "--port", str(port)]
    command += ["--pubsub-url", pubsub_url, "--queue-name", queue_name]
    server = ServerProcess(app="supportdesk", port=port, process=spawn(command, log_path), log_path=log_path)
    await wait_until_healthy(server)
    return server


# --- the data --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Desk:
    workspace_id: int
    token: str
    agents: list[int]
    conversation_ticket: int


async def load(database: Database, tickets: int) -> Desk:
    """The workspace, its agents and ``tickets`` tickets, and the ticket with the long conversation."""
    workspace_id, token, agents = await create_identity(database)
    await bulk_load(database.engine, workspace_id, agents, tickets, log, due_times=True)
    # The loader hands the benchmark's own agent only open (unassigned) tickets: give them every
    # seventh assigned one, so that "My tickets" lists work like everybody else's.
    async with database.engine.begin() as connection:
        await connection.execute(
            update(ticket_table)
            .where(
                ticket_table.c.workspace_id == workspace_id,
                ticket_table.c.assigned_agent_id.is_not(None),
                ticket_table.c.number % 7 == 1,
            )
            .values(assigned_agent_id=agents[0])
        )
    # The newest ticket gets the conversation: customer messages, public replies and internal notes.
    ticket_id = tickets  # ids follow numbers in a fresh database
    started = datetime.now(UTC) - timedelta(hours=CONVERSATION)
    rows = []
    for index in range(CONVERSATION):
        kind = index % 3
        rows.append(
            {
                "workspace_id": workspace_id,
                "ticket_id": ticket_id,
                "author_user_id": None if kind == 0 else agents[index % len(agents)],
                "author_customer_id": None,
                "author_email": "customer1@example.org" if kind == 0 else None,
                "content": f"Message {index}: the export still stops after a thousand rows. " * 5,
                "is_public": kind != 2,
                "created_at": started + timedelta(hours=index),
            }
        )
    async with database.engine.begin() as connection:
        await connection.execute(insert(comment_table), rows)
    # A database that has run a while has been vacuumed and knows its tables' statistics; a freshly
    # loaded one must be told to do both, or its planner guesses as if the tables were empty and
    # believes no page of them is all-visible, so that no index can answer a count on its own.
    async with database.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        postgres = connection.dialect.name == "postgresql"
        await connection.execute(text("VACUUM ANALYZE" if postgres else "ANALYZE"))
    return Desk(workspace_id, token, agents, ticket_id)


# --- pages ------------------------------------------------------------------------------------------------


async def time_page(client: httpx.AsyncClient, path: str, rounds: int, warmup: int, expect: int) -> Timing:
    samples = []
    for index in range(warmup + rounds):
        began = time.perf_counter()
        response = await client.get(path)
        elapsed = (time.perf_counter() - began) * 1000
        if response.status_code != expect:
            raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
        if index >= warmup:
            samples.append(elapsed)
    return Timing(path, samples)


async def pages(backend: str, url: str, args: argparse.Namespace, work_dir: Path) -> dict[str, Any]:
    database = Database(create_engine(bench_settings(url)))
    try:
        await migrate.upgrade(database.engine)
        log(f"[{backend}] loading {args.tickets:,} tickets")
        desk = await load(database, args.tickets)
    finally:
        await database.dispose()
    server = await start(url, work_dir, "memory://", "bench-web")
    try:
        headers = {"Authorization": f"Bearer {desk.token}"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as client:
            targets = [
                ("/app", 200),
                ("/app?queue=all", 200),
                ("/app?queue=unassigned", 200),
                ("/app?queue=urgent", 200),
                ("/app?queue=at_risk", 200),
                ("/app?queue=breached", 200),
                ("/app?queue=all&sort=-created_at", 200),
                (f"/app?queue=all&q={args.tickets // 2}", 303),
                (f"/app/tickets/{desk.conversation_ticket}", 200),
            ]
            timings = []
            for path, status in targets:
                timing = await time_page(client, path, args.rounds, args.warmup, status)
                log(f"[{backend}] {json.dumps(timing.summary())}")
                timings.append(timing.summary())
            page = await client.get(f"/app/tickets/{desk.conversation_ticket}")
            shown = page.text.count('class="message message-')
    finally:
        stop_server(server)
    return {"tickets": args.tickets, "conversation_entries_shown": shown, "timings": timings}


# --- events -----------------------------------------------------------------------------------------------


async def listen(
    client: httpx.AsyncClient, arrivals: dict[int, float], ready: asyncio.Event, wanted: int
) -> None:
    """Read the event stream, noting when each created ticket's event arrived."""
    async with client.stream("GET", "/app/events") as response:
        response.raise_for_status()
        ready.set()
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            message = json.loads(line[6:])
            if message.get("type") == "ticket" and message.get("event") == "created":
                arrivals.setdefault(int(message["ticket_id"]), time.perf_counter())
                if len(arrivals) >= wanted:
                    return


async def events(url: str, redis_url: str, args: argparse.Namespace, work_dir: Path) -> dict[str, Any]:
    await recreate_postgres_database(url)
    database = Database(create_engine(bench_settings(url)))
    try:
        await migrate.upgrade(database.engine)
        workspace_id, token, _agents = await create_identity(database)
    finally:
        await database.dispose()
    queue_name = f"bench-web-{uuid.uuid4().hex[:8]}"
    first = await start(url, work_dir, redis_url, queue_name)
    second = await start(url, work_dir, redis_url, queue_name)
    headers = {"Authorization": f"Bearer {token}"}
    arrivals: dict[int, float] = {}
    answered: dict[int, tuple[float, float]] = {}
    try:
        async with (
            # The stream stays quiet between events: no read timeout, a bounded connect.
            httpx.AsyncClient(
                base_url=first.base_url, headers=headers, timeout=httpx.Timeout(10, read=None)
            ) as screen,
            httpx.AsyncClient(base_url=second.base_url, headers=headers, timeout=30) as api,
        ):
            ready = asyncio.Event()
            listening = asyncio.create_task(listen(screen, arrivals, ready, args.events))
            await asyncio.wait_for(ready.wait(), 10)
            await asyncio.sleep(0.5)  # the stream's subscription is made once its answer has started
            for index in range(args.events):
                sent = time.perf_counter()
                response = await api.post("/api/v1/tickets", json={"title": f"Live event {index}"})
                done = time.perf_counter()
                if response.status_code != 201:
                    raise RuntimeError(f"creating a ticket answered {response.status_code}: {response.text}")
                answered[int(response.json()["id"])] = (sent, done)
                await asyncio.sleep(args.gap)
            await asyncio.wait_for(listening, 30)
    finally:
        stop_server(first)
        stop_server(second)
        await drop_postgres_database(url)
    missing = sorted(set(answered) - set(arrivals))
    after_commit = [
        (arrivals[key] - done) * 1000 for key, (_sent, done) in answered.items() if key in arrivals
    ]
    after_send = [(arrivals[key] - sent) * 1000 for key, (sent, _done) in answered.items() if key in arrivals]
    return {
        "workspace_id": workspace_id,
        "events": args.events,
        "missing": len(missing),
        "after_commit": Timing("event after the change was answered", after_commit).summary(),
        "after_request_sent": Timing("event after the request was sent", after_send).summary(),
    }


# --- report -----------------------------------------------------------------------------------------------


def markdown(report: dict[str, Any]) -> list[str]:
    lines = ["| backend | page or event | p50 ms | p95 ms | p99 ms | target |", "|---|---|--:|--:|--:|---|"]
    verdicts = []
    for backend in ("sqlite", "postgresql"):
        result = report.get("pages", {}).get(backend)
        if result is None:
            continue
        for timing in result["timings"]:
            ticket_page = timing["name"].startswith("/app/tickets/")
            target = TICKET_TARGET_MS if ticket_page else QUEUE_TARGET_MS
            met = timing["p95_ms"] < target
            lines.append(
                f"| {backend} | `{timing['name']}` | {timing['p50_ms']:.1f} | **{timing['p95_ms']:.1f}** "
                f"| {timing['p99_ms']:.1f} | < {target:.0f} ms p95: {'met' if met else 'NOT met'} |"
            )
            if not met:
                verdicts.append(f"- {backend} `{timing['name']}`: p95 {timing['p95_ms']:.1f} ms, NOT met")
    live = report.get("events")
    if live is not None:
        for key in ("after_commit", "after_request_sent"):
            timing = live[key]
            met = timing["p95_ms"] < EVENT_TARGET_MS
            lines.append(
                f"| postgresql + redis, 2 processes | {timing['name']} ({live['events']} events, "
                f"{live['missing']} missing) | {timing['p50_ms']:.1f} | **{timing['p95_ms']:.1f}** "
                f"| {timing['p99_ms']:.1f} | < {EVENT_TARGET_MS:.0f} ms p95: {'met' if met else 'NOT met'} |"
            )
    return [*lines, "", *(verdicts or ["- every page target met"])]


async def main_async(args: argparse.Namespace) -> int:
    report: dict[str, Any] = {
        "started": args.stamp,
        "machine": machine(),
        "args": vars(args) | {"serve": None},
    }
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    with tempfile.TemporaryDirectory(prefix="supportdesk-bench-web-") as directory:
        work_dir = Path(directory)
        if "pages" in args.parts:
            report["pages"] = {}
            for backend in backends:
                if backend == "postgresql":
                    url = args.postgres_url
                    await recreate_postgres_database(url)
                else:
                    url = f"sqlite+aiosqlite:///{work_dir / 'bench-web.db'}"
                try:
                    report["pages"][backend] = await pages(backend, url, args, work_dir)
                finally:
                    if backend == "postgresql":
                        await drop_postgres_database(url)
        if "events" in args.parts:
            log("[postgresql] events across two processes")
            report["events"] = await events(args.postgres_url, args.redis_url, args, work_dir)
    info = report["machine"]
    print(f"\nsupportdesk {info['source']}; {info['cpu']}, {info['cores']} cores; Python {info['python']}\n")
    print("\n".join(markdown(report)))
    if not args.no_json:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"web-{args.stamp}.json"
        path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"\nJSON: {path.relative_to(SCRIPT.parent.parent)}")
    return 0


SERVER_ARGS: Final = frozenset({"serve", "port", "pubsub_url", "queue_name"})


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--parts", nargs="+", choices=("pages", "events"), default=["pages", "events"])
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets in the desk (100,000)")
    parser.add_argument("--rounds", type=int, default=200, help="measured requests per page (200)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests per page first (20)")
    parser.add_argument("--events", type=int, default=300, help="tickets created for the events part (300)")
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between two creations (0.02)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="recreated, then dropped")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/web-*.json")
    # A server child process; not for direct use.
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pubsub-url", help=argparse.SUPPRESS)
    parser.add_argument("--queue-name", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tickets < CONVERSATION:
        parser.error(f"--tickets must be at least {CONVERSATION}")
    args.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.pubsub_url, args.queue_name)
        return 0
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
