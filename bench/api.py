"""HTTP benchmark of the ticket API against a bare FastAPI baseline, on SQLite and PostgreSQL.

Run ``.venv/bin/python bench/api.py --help``; docs/performance.md explains what is measured and how to
read the results.

For each backend the driver:

1. builds a fresh database with supportdesk's own migrations (a temporary SQLite file, or a PostgreSQL
   database that is dropped and created again);
2. creates a workspace, an agent and a personal API token through supportdesk's services, and bulk-loads
   ``--tickets`` tickets with Core ``INSERT`` executemany batches (not through the API);
3. starts two uvicorn servers in child processes (one worker each, identical settings): the real
   application from ``create_app`` and a *bare* FastAPI app that runs the single equivalent SQL
   statement on an engine built by the same ``create_engine``;
4. drives both with the same httpx load loop, scenario by scenario, and reports throughput and latency.

The same file is the child process: ``--serve supportdesk|bare`` starts one server and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import itertools
import json
import math
import os
import platform
import pstats
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any, Final, TextIO

import httpx
import uvicorn
import uvloop
from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Row, Table, func, insert, literal, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from supportdesk.app import create_app
from supportdesk.auth import service as auth_service
from supportdesk.config import Environment, Settings
from supportdesk.core.clock import SystemClock
from supportdesk.core.pagination import after_cursor, decode_cursor, encode_cursor
from supportdesk.core.permissions import Role
from supportdesk.db import migrate
from supportdesk.db.engine import SQLITE_BEGIN_OPTION, create_engine
from supportdesk.db.models import Base
from supportdesk.db.session import Database
from supportdesk.people import service as people_service
from supportdesk.tickets.models import Channel, Priority, TicketStatus
from supportdesk.workspaces import service as workspace_service
from supportdesk.workspaces.models import DEFAULT_CATEGORIES, Workspace

SCRIPT: Final = Path(__file__).resolve()
BENCH_DIR: Final = SCRIPT.parent
RESULTS_DIR: Final = BENCH_DIR / "results"
SECRET_KEY: Final = "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105  (throwaway)
DEFAULT_POSTGRES_URL: Final = "postgresql+asyncpg://postgres@127.0.0.1:5432/supportdesk_bench"
ADMIN_DATABASE: Final = "test"
HOST: Final = "127.0.0.1"
PAGE_SIZE: Final = 50
LOAD_BATCH: Final = 5_000
CUSTOMERS: Final = 1_000
CURSOR_SORT: Final = "-created_at"
BARE_NUMBER_START: Final = 1_000_000_000
SCENARIOS: Final = ("healthz", "list-first", "list-cursor", "create")
# Customers the create-for-a-customer scenario cycles through (found after their first ticket).
CUSTOMERS_PER_RUN: Final = 50
APPS: Final = ("supportdesk", "bare")
DESCRIPTION: Final = (
    "The customer reports that the export to CSV stops after the first thousand rows and the browser "
    "shows a spinner forever. Steps: open Reports, pick last quarter, press Export. Expected a file "
    "with every row; got nothing after waiting ten minutes. Happens in Firefox and Chrome."
)

ticket_table: Table = Base.metadata.tables["ticket"]
ticket_tag_table: Table = Base.metadata.tables["ticket_tag"]
customer_table: Table = Base.metadata.tables["customer"]


def bench_settings(database_url: str) -> Settings:
    """Settings of both servers and of the set-up code: a production configuration on ``database_url``."""
    values: dict[str, object] = {
        "env": Environment.production,
        "database_url": database_url,
        "secret_key": SECRET_KEY,
        "auto_migrate": False,
        "log_level": "warning",
        # The servers answer requests and nothing else: background work would compete for the CPU.
        "background": "off",
    }
    return Settings.model_validate(values)


# --- the bare baseline ---------------------------------------------------------------------------


class BareTicketIn(BaseModel):
    """The bare endpoint's body: the fields the driver sends, no further validation."""

    title: str
    description: str = ""
    priority: str = "medium"


def _json_row(row: Row[Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in row._mapping.items()
    }


def build_bare_app(database_url: str, workspace_id: int) -> FastAPI:
    """The baseline: no auth, no ORM, no tenancy listener, no audit, no idempotency, no metrics.

    It shares only what a well-built minimal service would also have: the same engine factory (pool size,
    SQLite pragmas, BEGIN IMMEDIATE for writers and deferred BEGIN for readers) and the same table.
    One request is one SQL statement in its own transaction.
    """
    engine = create_engine(bench_settings(database_url))
    reader = engine.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
    numbers: Iterator[int] = itertools.count(BARE_NUMBER_START)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        nonlocal numbers
        async with engine.connect() as connection:
            highest = await connection.scalar(
                select(func.coalesce(func.max(ticket_table.c.number), 0)).where(
                    ticket_table.c.workspace_id == workspace_id
                )
            )
        numbers = itertools.count(max(BARE_NUMBER_START, int(highest or 0) + 1))
        yield
        await engine.dispose()

    app = FastAPI(title="bare", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/tickets", status_code=201)
    async def create(body: BareTicketIn) -> JSONResponse:
        now = datetime.now(UTC)
        statement = (
            insert(ticket_table)
            .values(
                workspace_id=workspace_id,
                number=next(numbers),
                title=body.title,
                description=body.description,
                status=TicketStatus.open,
                priority=Priority(body.priority),
                category="general",
                channel=Channel.api,
                escalated=False,
                created_at=now,
                updated_at=now,
                version=1,
            )
            .returning(ticket_table.c.id, ticket_table.c.number)
        )
        async with engine.begin() as connection:
            row = (await connection.execute(statement)).one()
        return JSONResponse({"id": row.id, "number": row.number}, status_code=201)

    @app.get("/tickets")
    async def list_tickets(
        limit: int = Query(PAGE_SIZE, ge=1, le=100), cursor: str | None = None
    ) -> JSONResponse:
        created_at, row_id = ticket_table.c.created_at, ticket_table.c.id
        query = select(ticket_table).where(ticket_table.c.workspace_id == workspace_id)
        if cursor is not None:
            # The same keyset predicate as supportdesk's list, so the two run comparable SQL.
            value, after_id = decode_cursor(cursor, CURSOR_SORT)
            query = query.where(after_cursor(created_at, row_id, value, after_id, descending=True))
        query = query.order_by(created_at.desc(), row_id.desc()).limit(limit + 1)
        async with reader.connect() as connection:
            rows = (await connection.execute(query)).all()
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor(CURSOR_SORT, rows[-1].created_at, rows[-1].id)
        return JSONResponse(
            {"items": [_json_row(row) for row in rows], "next_cursor": next_cursor, "limit": limit}
        )

    return app


# --- the server child process --------------------------------------------------------------------


def uvicorn_config(app: FastAPI, port: int) -> uvicorn.Config:
    """The one uvicorn configuration both servers use."""
    return uvicorn.Config(
        app,
        host=HOST,
        port=port,
        workers=1,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="warning",
        access_log=False,
    )


def serve(kind: str, database_url: str, port: int, workspace_id: int, profile_path: str | None) -> None:
    """Run one server until SIGINT; with ``profile_path``, under cProfile."""
    if kind == "supportdesk":
        app = create_app(bench_settings(database_url))
    else:
        app = build_bare_app(database_url, workspace_id)
    server = uvicorn.Server(uvicorn_config(app, port))
    # CPU time, not wall time: time spent waiting for the database or the network is not charged.
    profiler = cProfile.Profile(time.process_time) if profile_path is not None else None
    if profiler is not None:
        profiler.enable()
    try:
        # uvicorn shuts down gracefully on SIGINT, then raises it again: that ends up here.
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
    finally:
        if profiler is not None and profile_path is not None:
            profiler.disable()
            profiler.dump_stats(profile_path)


@dataclass
class ServerProcess:
    """A server child process and where it listens."""

    app: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def spawn(command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a child process whose output goes to ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603


async def start_server(
    app: str, database_url: str, workspace_id: int, work_dir: Path, profile_path: Path | None
) -> ServerProcess:
    """Start a server child process and wait until it answers /healthz."""
    port = free_port()
    log_path = work_dir / f"server-{app}-{port}.log"
    command = [
        sys.executable,
        str(SCRIPT),
        "--serve",
        app,
        "--database-url",
        database_url,
        "--port",
        str(port),
        "--workspace-id",
        str(workspace_id),
    ]
    if profile_path is not None:
        command += ["--profile-out", str(profile_path)]
    server = ServerProcess(app=app, port=port, process=spawn(command, log_path), log_path=log_path)
    await wait_until_healthy(server)
    return server


async def wait_until_healthy(server: ServerProcess) -> None:
    """Wait until a started server answers /healthz; stop it and raise if it does not within 60 s."""
    process = server.process
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the {server.app} server exited at start-up:\n{server.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"the {server.app} server did not come up in 60 s:\n{server.log_tail()}")


def stop_server(server: ServerProcess) -> None:
    """Stop a server child gracefully (its lifespan closes the pool, the profile is written)."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` (all its threads) so far."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return 0.0


def children_cpu_seconds(pid: int) -> float:
    """User plus system CPU time so far of the running children of process ``pid``, and of theirs."""
    total = 0.0
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for child in children.read_text().split():
                total += process_cpu_seconds(int(child)) + children_cpu_seconds(int(child))
    return total


def postgres_cpu_seconds() -> float:
    """User plus system CPU so far of the machine's PostgreSQL: its running processes, and the backends
    that ended (which the server's main process counts as its children's time), so that connections the
    pool closes in between are counted too."""
    total = 0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if comm.read_text().strip() == "postgres":
                fields = (comm.parent / "stat").read_text().rsplit(")", 1)[1].split()
                total += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return total / _CLOCK_TICKS


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, summed over its cores."""
    with contextlib.suppress(OSError):
        values = [int(part) for part in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        total = sum(values[:8])  # without guest time, which is counted in user already
        return (total - idle) / _CLOCK_TICKS, total / _CLOCK_TICKS
    return 0.0, 0.0


# --- databases and data --------------------------------------------------------------------------


@dataclass
class Fixture:
    """What the set-up produced for one backend."""

    backend: str
    database_url: str
    workspace_id: int
    token: str
    tickets: int
    load_seconds: float
    cursors: list[str] = field(default_factory=list)
    server_version: str = ""


def _admin_engine(url: str) -> AsyncEngine:
    """An autocommit engine on the server's admin database (CREATE/DROP DATABASE refuse transactions)."""
    admin_url = make_url(url).set(database=ADMIN_DATABASE)
    return create_async_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def _database_name(url: str) -> str:
    name = make_url(url).database
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing to recreate a database named {name!r}: use letters, digits and _")
    return name


async def recreate_postgres_database(url: str) -> None:
    """Drop and create the database ``url`` names, through the admin database."""
    name = _database_name(url)
    engine = _admin_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


async def drop_postgres_database(url: str) -> None:
    """Drop the benchmark database."""
    name = _database_name(url)
    engine = _admin_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


async def create_identity(database: Database) -> tuple[int, str, list[int]]:
    """A workspace, an agent with a personal token, and a few agents to assign tickets to."""
    clock = SystemClock()
    settings = bench_settings(database.engine.url.render_as_string(hide_password=False))
    async with database.unit_of_work() as session:
        workspace = await workspace_service.create_workspace(session, clock, slug="bench", name="Bench")
        agent = await people_service.create_user(
            session,
            clock,
            workspace_id=workspace.id,
            email="bench@example.com",
            name="Bench",
            role=Role.agent,
        )
        others = [
            await people_service.create_user(
                session,
                clock,
                workspace_id=workspace.id,
                email=f"agent{index}@example.com",
                name=f"Agent {index}",
                role=Role.agent,
            )
            for index in range(5)
        ]
        issued = await auth_service.create_personal_token(
            session, settings, clock, user=agent, name="benchmark"
        )
        return workspace.id, issued.secret, [agent.id, *(user.id for user in others)]


def ticket_rows(
    workspace_id: int,
    start: int,
    stop: int,
    agents: Sequence[int],
    customers: Sequence[int],
    origin: datetime,
    *,
    due_times: bool = False,
) -> list[dict[str, Any]]:
    """Tickets ``start`` to ``stop - 1``; two tickets share each second, to exercise the id tie-break.
    With ``due_times``, each has the SLA due and at-risk times a policy would give it (first response
    within 4 to 28 hours, resolution within 3 days), so lists ordered or filtered by SLA have work to
    do."""
    statuses = list(TicketStatus)
    priorities = list(Priority)
    channels = list(Channel)
    rows = []
    for number in range(start, stop):
        status = statuses[number % len(statuses)]
        created = origin + timedelta(seconds=number // 2)
        customer = number % len(customers)
        rows.append(
            {
                "workspace_id": workspace_id,
                "number": number,
                "title": f"Export stops after a thousand rows (case {number})",
                "description": DESCRIPTION,
                "status": status,
                "priority": priorities[number % len(priorities)],
                "category": DEFAULT_CATEGORIES[number % len(DEFAULT_CATEGORIES)],
                "customer_id": customers[customer],
                "customer_email": f"customer{customer}@example.org",
                "assigned_agent_id": None if status is TicketStatus.open else agents[number % len(agents)],
                "channel": channels[number % len(channels)],
                "external_id": None,
                "escalated": number % 50 == 0,
                "created_at": created,
                "updated_at": created + timedelta(minutes=number % 90),
                "first_responded_at": None if status is TicketStatus.open else created + timedelta(hours=1),
                "resolved_at": created + timedelta(days=1)
                if status in {TicketStatus.resolved, TicketStatus.closed}
                else None,
                "closed_at": created + timedelta(days=2) if status is TicketStatus.closed else None,
                "version": 1,
                **(
                    {
                        "first_response_due_at": created + timedelta(hours=4 + number % 25),
                        "resolution_due_at": created + timedelta(days=3),
                        # At risk with a quarter of the target left, as the SLA clocks set it.
                        "first_response_at_risk_at": created + timedelta(hours=(4 + number % 25) * 0.75),
                        "resolution_at_risk_at": created + timedelta(days=3 * 0.75),
                    }
                    if due_times
                    else {}
                ),
            }
        )
    return rows


async def bulk_load(
    engine: AsyncEngine,
    workspace_id: int,
    agents: Sequence[int],
    count: int,
    log: Callable[[str], None],
    *,
    due_times: bool = False,
) -> None:
    """``count`` tickets (with customers and tags) by Core executemany in batches, then the counter."""
    now = datetime.now(UTC)
    origin = now - timedelta(seconds=count // 2 + 3600)
    async with engine.begin() as connection:
        await connection.execute(
            insert(customer_table),
            [
                {
                    "workspace_id": workspace_id,
                    "email": f"customer{index}@example.org",
                    "name": f"Customer {index}",
                    "tier": "free",
                    "created_at": origin,
                    "updated_at": origin,
                    "version": 1,
                }
                for index in range(CUSTOMERS)
            ],
        )
        customers = list(
            (
                await connection.execute(
                    select(customer_table.c.id)
                    .where(customer_table.c.workspace_id == workspace_id)
                    .order_by(customer_table.c.id)
                )
            ).scalars()
        )
    for start in range(1, count + 1, LOAD_BATCH):
        stop = min(start + LOAD_BATCH, count + 1)
        async with engine.begin() as connection:
            await connection.execute(
                insert(ticket_table),
                ticket_rows(workspace_id, start, stop, agents, customers, origin, due_times=due_times),
            )
        if stop - 1 == count or (stop - 1) % 20_000 == 0:
            log(f"  loaded {stop - 1:,} tickets")
    async with engine.begin() as connection:
        # One tag on every 5th ticket, a second on every 7th: the list's tag query has rows to find.
        for tag, every in (("vip", 5), ("export", 7)):
            tagged = select(ticket_table.c.id, literal(tag), ticket_table.c.workspace_id).where(
                ticket_table.c.workspace_id == workspace_id, ticket_table.c.number % every == 0
            )
            await connection.execute(
                insert(ticket_tag_table).from_select(["ticket_id", "name", "workspace_id"], tagged)
            )
        await connection.execute(
            update(Workspace).where(Workspace.id == workspace_id).values(ticket_counter=count)
        )


async def sample_cursors(
    connection: AsyncConnection, workspace_id: int, pages: int, rng: random.Random
) -> list[str]:
    """``pages`` cursors of pages 2..last, drawn uniformly: what a client walking the whole list asks for."""
    rows = (
        await connection.execute(
            select(ticket_table.c.created_at, ticket_table.c.id)
            .where(ticket_table.c.workspace_id == workspace_id)
            .order_by(ticket_table.c.created_at.desc(), ticket_table.c.id.desc())
        )
    ).all()
    # The row that ends page k (1-based) gives the cursor of page k + 1.
    ends = [rows[index] for index in range(PAGE_SIZE - 1, len(rows) - 1, PAGE_SIZE)]
    chosen = [ends[rng.randrange(len(ends))] for _ in range(pages)]
    return [encode_cursor(CURSOR_SORT, row.created_at, row.id) for row in chosen]


async def prepare(
    backend: str, args: argparse.Namespace, work_dir: Path, log: Callable[[str], None]
) -> Fixture:
    """A migrated database with the benchmark's workspace, token and tickets."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{work_dir / 'bench.db'}"
    else:
        url = args.postgres_url
        await recreate_postgres_database(url)
    engine = create_engine(bench_settings(url))
    database = Database(engine)
    try:
        await migrate.upgrade(engine)
        workspace_id, token, agents = await create_identity(database)
        started = time.perf_counter()
        await bulk_load(engine, workspace_id, agents, args.tickets, log)
        load_seconds = time.perf_counter() - started
        async with engine.connect() as connection:
            if backend == "postgresql":
                await connection.execute(text("ANALYZE"))
                version = str(await connection.scalar(text("SHOW server_version")))
            else:
                version = str(await connection.scalar(text("SELECT sqlite_version()")))
            await connection.commit()
            cursors = await sample_cursors(
                connection, workspace_id, max(args.requests, 1), random.Random(args.seed)
            )
    finally:
        await database.dispose()
    return Fixture(
        backend=backend,
        database_url=url,
        workspace_id=workspace_id,
        token=token,
        tickets=args.tickets,
        load_seconds=load_seconds,
        cursors=cursors,
        server_version=version,
    )


# --- the load loop -------------------------------------------------------------------------------

RequestMaker = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


@dataclass
class Measurement:
    """One app under one scenario."""

    backend: str
    scenario: str
    app: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    server_cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    # PostgreSQL's processes (every database on the machine's server, so a quiet host is needed): zero
    # for SQLite, which works inside the server process.
    database_cpu_seconds: float = 0.0
    machine_busy_seconds: float = 0.0
    machine_capacity_seconds: float = 0.0
    rounds: int = 1

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_cpu_ms_per_request(self) -> float:
        """CPU time of the server process (all its threads) per completed request."""
        return 1000 * self.server_cpu_seconds / self.requests if self.requests else float("nan")

    @property
    def database_cpu_ms_per_request(self) -> float:
        """CPU time of PostgreSQL's processes per completed request (zero on SQLite)."""
        return 1000 * self.database_cpu_seconds / self.requests if self.requests else float("nan")

    @property
    def others_busy_fraction(self) -> float:
        """Share of the machine's CPU used by neither the server nor the driver: the database server's
        processes, and anything else running (other users' jobs make the figures noisy)."""
        if not self.machine_capacity_seconds:
            return float("nan")
        others = self.machine_busy_seconds - self.server_cpu_seconds - self.client_cpu_seconds
        return max(0.0, others) / self.machine_capacity_seconds

    def merged(self, other: Measurement) -> Measurement:
        """This measurement and another round of the same app and scenario, as one."""
        return Measurement(
            backend=self.backend,
            scenario=self.scenario,
            app=self.app,
            concurrency=self.concurrency,
            requests=self.requests + other.requests,
            errors=self.errors + other.errors,
            seconds=self.seconds + other.seconds,
            latencies_ms=self.latencies_ms + other.latencies_ms,
            server_cpu_seconds=self.server_cpu_seconds + other.server_cpu_seconds,
            client_cpu_seconds=self.client_cpu_seconds + other.client_cpu_seconds,
            database_cpu_seconds=self.database_cpu_seconds + other.database_cpu_seconds,
            machine_busy_seconds=self.machine_busy_seconds + other.machine_busy_seconds,
            machine_capacity_seconds=self.machine_capacity_seconds + other.machine_capacity_seconds,
            rounds=self.rounds + other.rounds,
        )

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
        return ordered[rank - 1]

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        del data["latencies_ms"]
        return {
            **data,
            "throughput": round(self.throughput, 1),
            "p50_ms": round(self.percentile(0.50), 2),
            "p95_ms": round(self.percentile(0.95), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "max_ms": round(max(self.latencies_ms, default=float("nan")), 2),
            "server_cpu_ms_per_request": round(self.server_cpu_ms_per_request, 3),
            "database_cpu_ms_per_request": round(self.database_cpu_ms_per_request, 3),
            "others_busy_fraction": round(self.others_busy_fraction, 3),
        }


async def drive(
    client: httpx.AsyncClient,
    make_request: RequestMaker,
    *,
    total: int,
    concurrency: int,
    max_seconds: float,
    expected_status: int,
    first_index: int = 0,
) -> tuple[int, int, float, list[float]]:
    """Send up to ``total`` requests from ``concurrency`` workers, stopping after ``max_seconds``.

    Returns (completed, errors, elapsed seconds, latencies in ms of the successful requests).
    """
    counter = itertools.count(first_index)
    stop_at = first_index + total
    latencies: list[float] = []
    errors = 0
    completed = 0
    started = time.perf_counter()
    deadline = started + max_seconds

    async def worker() -> None:
        nonlocal errors, completed
        while True:
            index = next(counter)
            if index >= stop_at or time.perf_counter() >= deadline:
                return
            sent = time.perf_counter()
            try:
                response = await make_request(client, index)
            except httpx.HTTPError:
                errors += 1
                continue
            elapsed = time.perf_counter() - sent
            completed += 1
            if response.status_code == expected_status:
                latencies.append(elapsed * 1000)
            else:
                errors += 1

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return completed, errors, time.perf_counter() - started, latencies


def request_maker(scenario: str, app: str, fixture: Fixture) -> tuple[RequestMaker, int]:
    """How ``app`` is asked for ``scenario``, and the status a success has."""
    prefix = "/api/v1/tickets" if app == "supportdesk" else "/tickets"
    cursors = fixture.cursors
    priorities = [priority.value for priority in Priority]

    if scenario == "healthz":
        # Same trivial endpoint on both: the ceiling of driver + uvicorn, and supportdesk's middleware.

        async def healthz(client: httpx.AsyncClient, _index: int) -> httpx.Response:
            return await client.get("/healthz")

        return healthz, 200
    if scenario in ("create", "create-for-a-customer"):
        for_a_customer = scenario == "create-for-a-customer"

        async def create(client: httpx.AsyncClient, index: int) -> httpx.Response:
            body = {
                "title": f"Cannot log in after the password reset ({app} {index})",
                "description": DESCRIPTION,
                "priority": priorities[index % len(priorities)],
            }
            if for_a_customer:
                body["customer_email"] = f"customer{index % CUSTOMERS_PER_RUN}@example.org"
            return await client.post(prefix, json=body)

        return create, 201
    if scenario == "list-first":

        async def first_page(client: httpx.AsyncClient, _index: int) -> httpx.Response:
            return await client.get(prefix, params={"limit": PAGE_SIZE})

        return first_page, 200
    if scenario == "list-cursor":

        async def cursor_page(client: httpx.AsyncClient, index: int) -> httpx.Response:
            return await client.get(
                prefix, params={"limit": PAGE_SIZE, "cursor": cursors[index % len(cursors)]}
            )

        return cursor_page, 200
    raise ValueError(f"unknown scenario {scenario!r}")


@contextlib.asynccontextmanager
async def http_client(
    server: ServerProcess, fixture: Fixture, concurrency: int
) -> AsyncIterator[httpx.AsyncClient]:
    """A keep-alive client with one connection per worker; supportdesk's requests carry the token."""
    headers = {"Authorization": f"Bearer {fixture.token}"} if server.app == "supportdesk" else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=headers, limits=limits, timeout=60
    ) as client:
        yield client


async def measure(
    server: ServerProcess,
    fixture: Fixture,
    scenario: str,
    *,
    concurrency: int,
    requests: int,
    warmup: int,
    max_seconds: float,
    first_index: int,
) -> Measurement:
    """Warm up, then measure one app in one scenario, with the CPU each side used meanwhile."""
    make_request, expected = request_maker(scenario, server.app, fixture)
    async with http_client(server, fixture, concurrency) as client:
        await drive(
            client,
            make_request,
            total=warmup,
            concurrency=concurrency,
            max_seconds=max_seconds,
            expected_status=expected,
            first_index=10_000_000 + first_index,
        )
        server_before = process_cpu_seconds(server.process.pid)
        client_before = time.process_time()
        database_before = postgres_cpu_seconds() if fixture.backend == "postgresql" else 0.0
        machine_before = machine_cpu_seconds()
        completed, errors, seconds, latencies = await drive(
            client,
            make_request,
            total=requests,
            concurrency=concurrency,
            max_seconds=max_seconds,
            expected_status=expected,
            first_index=first_index,
        )
        machine_after = machine_cpu_seconds()
        database_cpu = (postgres_cpu_seconds() if fixture.backend == "postgresql" else 0.0) - database_before
        client_cpu = time.process_time() - client_before
        server_cpu = process_cpu_seconds(server.process.pid) - server_before
    return Measurement(
        backend=fixture.backend,
        scenario=scenario,
        app=server.app,
        concurrency=concurrency,
        requests=completed,
        errors=errors,
        seconds=seconds,
        latencies_ms=latencies,
        server_cpu_seconds=server_cpu,
        client_cpu_seconds=client_cpu,
        database_cpu_seconds=database_cpu,
        machine_busy_seconds=machine_after[0] - machine_before[0],
        machine_capacity_seconds=machine_after[1] - machine_before[1],
    )


async def alternating_creates(
    server: ServerProcess,
    fixtures: dict[str, Fixture],
    *,
    rounds: int,
    creates: int,
    label: str,
    scenario: str = "create",
    concurrency: int = 8,
    servers: dict[str, ServerProcess] | None = None,
) -> dict[str, Measurement]:
    """Ticket creation in each fixture's workspace, ``creates`` per round from ``concurrency`` clients,
    the order alternating from round to round so that neither kind always runs on a warmer server; one
    merged result per kind. ``servers`` names another server for some kinds (another build's)."""
    kinds = list(fixtures)
    results: dict[str, Measurement] = {}
    for round_index in range(rounds):
        for kind in kinds if round_index % 2 == 0 else kinds[::-1]:
            part = await measure(
                (servers or {}).get(kind, server),
                fixtures[kind],
                scenario,
                concurrency=concurrency,
                requests=creates,
                warmup=50 if round_index == 0 else 10,
                max_seconds=120.0,
                first_index=round_index * creates,
            )
            results[kind] = results[kind].merged(part) if kind in results else part
            log(f"  [{label}] round {round_index + 1} {kind}: {part.throughput:.0f} tickets/s")
    return results


async def check_same_pages(servers: dict[str, ServerProcess], fixture: Fixture) -> None:
    """Both apps must return the same tickets for the same page, or the comparison means nothing."""
    for cursor in [None, *fixture.cursors[:3]]:
        ids: dict[str, list[int]] = {}
        for app, server in servers.items():
            async with http_client(server, fixture, 1) as client:
                params: dict[str, Any] = {"limit": PAGE_SIZE}
                if cursor is not None:
                    params["cursor"] = cursor
                prefix = "/api/v1/tickets" if app == "supportdesk" else "/tickets"
                response = await client.get(prefix, params=params)
                response.raise_for_status()
                ids[app] = [item["id"] for item in response.json()["items"]]
        if ids["supportdesk"] != ids["bare"] or len(ids["bare"]) != PAGE_SIZE:
            raise RuntimeError(f"the two apps disagree on a page (cursor {cursor!r}): {ids}")


# --- orchestration and reporting -----------------------------------------------------------------


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def host_speed_ms() -> float:
    """CPU milliseconds a fixed piece of pure-Python work takes on this host (best of five). The same
    build's figures move with the host's speed from one run to the next; this one, taken in the same
    run, says how fast the host was, so figures of different runs can be set side by side."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        table: dict[int, int] = {}
        for number in range(200_000):
            table[number % 1_000] = table.get(number % 1_000, 0) + number * number
        best = min(best, time.process_time() - started)
    return round(best * 1000, 1)


def source_revision() -> str:
    """The commit the benchmarked code is at, marked ``+dirty`` if src/ has uncommitted changes."""
    git = ["git", "-C", str(BENCH_DIR.parent)]
    try:
        commit = subprocess.run(  # noqa: S603
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603
            [*git, "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}+dirty" if dirty else commit


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    packages = ("fastapi", "starlette", "pydantic", "sqlalchemy", "uvicorn", "httpx", "asyncpg", "aiosqlite")
    return {
        "source": source_revision(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "host_speed_ms": host_speed_ms(),
        "python": platform.python_version(),
        "sqlite_library": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "packages": {name: metadata.version(name) for name in packages},
    }


def _ms(value: float) -> str:
    return f"{value:.1f}"


def markdown_table(measurements: Sequence[Measurement]) -> str:
    """Supportdesk beside the bare app, one line per backend, scenario and concurrency."""
    lines = [
        "| backend | scenario | conc. | supportdesk req/s | bare req/s | ratio "
        "| supportdesk p50 / p95 ms | bare p50 / p95 ms | server CPU ms/req (sd / bare) | errors |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    keyed = {(m.backend, m.scenario, m.concurrency, m.app): m for m in measurements}
    seen: list[tuple[str, str, int]] = []
    for m in measurements:
        key = (m.backend, m.scenario, m.concurrency)
        if key not in seen:
            seen.append(key)
    for backend, scenario, concurrency in seen:
        ours = keyed.get((backend, scenario, concurrency, "supportdesk"))
        bare = keyed.get((backend, scenario, concurrency, "bare"))
        if ours is None or bare is None:
            continue
        ratio = ours.throughput / bare.throughput if bare.throughput else float("nan")
        lines.append(
            f"| {backend} | {scenario} | {concurrency} | {ours.throughput:.0f} | {bare.throughput:.0f} "
            f"| {ratio:.2f} | {_ms(ours.percentile(0.5))} / {_ms(ours.percentile(0.95))} "
            f"| {_ms(bare.percentile(0.5))} / {_ms(bare.percentile(0.95))} "
            f"| {ours.server_cpu_ms_per_request:.2f} / {bare.server_cpu_ms_per_request:.2f} "
            f"| {ours.errors + bare.errors} |"
        )
    return "\n".join(lines)


def target_lines(measurements: Sequence[Measurement], concurrency: int) -> list[str]:
    """The issue's targets, checked against this run."""
    keyed = {(m.backend, m.scenario, m.concurrency, m.app): m for m in measurements}
    lines = []
    for backend in dict.fromkeys(m.backend for m in measurements):
        ours = keyed.get((backend, "create", concurrency, "supportdesk"))
        bare = keyed.get((backend, "create", concurrency, "bare"))
        if ours and bare and bare.throughput:
            ratio = ours.throughput / bare.throughput
            verdict = "met" if ratio >= 0.5 else "NOT met"
            lines.append(f"- {backend}: create at {ratio:.0%} of bare (target >= 50%): {verdict}")
        if backend != "postgresql":
            continue
        for scenario in ("list-first", "list-cursor"):
            for conc in sorted({m.concurrency for m in measurements if m.scenario == scenario}):
                found = keyed.get((backend, scenario, conc, "supportdesk"))
                if found:
                    p95 = found.percentile(0.95)
                    verdict = "met" if p95 < 30 else "NOT met"
                    lines.append(
                        f"- {backend}: {scenario} p95 {p95:.1f} ms at concurrency {conc} (target < 30 ms): "
                        f"{verdict}"
                    )
    return lines


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def run_backend(
    backend: str, args: argparse.Namespace, work_dir: Path, stamp: str
) -> tuple[Fixture, list[Measurement]]:
    """Set up one backend, start both servers, and measure every scenario on both."""
    log(f"[{backend}] preparing the database and loading {args.tickets:,} tickets")
    fixture = await prepare(backend, args, work_dir, log)
    log(f"[{backend}] loaded in {fixture.load_seconds:.1f} s; starting the servers")
    servers: dict[str, ServerProcess] = {}
    profiles: dict[str, Path] = {}
    measurements: list[Measurement] = []
    try:
        for app in APPS:
            if args.profile:
                RESULTS_DIR.mkdir(parents=True, exist_ok=True)
                profiles[app] = RESULTS_DIR / f"profile-{stamp}-{backend}-{app}.prof"
            servers[app] = await start_server(
                app, fixture.database_url, fixture.workspace_id, work_dir, profiles.get(app)
            )
        await check_same_pages(servers, fixture)
        # The lists run before the creates, so they see exactly --tickets tickets.
        order = [scenario for scenario in SCENARIOS if scenario in args.scenarios]
        for scenario in order:
            levels = [args.concurrency]
            if scenario.startswith("list") and args.latency_requests > 0 and args.concurrency != 1:
                levels.append(1)
            for concurrency in levels:
                total = args.requests if concurrency == args.concurrency else args.latency_requests
                results: dict[str, Measurement] = {}
                per_round = max(1, total // args.rounds)
                for round_index in range(args.rounds):
                    # Alternate which app goes first, so drifting background load favours neither.
                    apps = APPS if round_index % 2 == 0 else APPS[::-1]
                    for app in apps:
                        part = await measure(
                            servers[app],
                            fixture,
                            scenario,
                            concurrency=concurrency,
                            requests=per_round,
                            warmup=args.warmup if round_index == 0 else max(1, args.warmup // 5),
                            max_seconds=args.max_seconds / args.rounds,
                            first_index=round_index * per_round,
                        )
                        results[app] = results[app].merged(part) if app in results else part
                for app in APPS:
                    result = results[app]
                    measurements.append(result)
                    summary = result.summary()
                    log(
                        f"[{backend}] {scenario:<11} c={concurrency:<3} {app:<11} "
                        f"{summary['throughput']:>8.1f} req/s  p50 {summary['p50_ms']:.1f} ms  "
                        f"p95 {summary['p95_ms']:.1f} ms  server CPU "
                        f"{summary['server_cpu_ms_per_request']:.2f} ms/req  others "
                        f"{summary['others_busy_fraction']:.0%}  ({result.requests} requests, "
                        f"{result.errors} errors)"
                    )
    finally:
        for server in servers.values():
            stop_server(server)
    for app, path in profiles.items():
        if path.exists():
            report = path.with_suffix(".txt")
            with report.open("w") as out:
                print_profile(path, out)
            log(f"[{backend}] {app} profile: {path.relative_to(BENCH_DIR.parent)} (summary in {report.name})")
    return fixture, measurements


async def main_async(args: argparse.Namespace) -> int:
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    measurements: list[Measurement] = []
    fixtures: list[Fixture] = []
    started = time.perf_counter()
    info = machine()  # before the run: the source revision the servers are started from
    with contextlib.ExitStack() as stack:
        if args.keep:
            work_dir = RESULTS_DIR / "kept"
            work_dir.mkdir(parents=True, exist_ok=True)
            for leftover in work_dir.glob("bench.db*"):
                leftover.unlink()
        else:
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="supportdesk-bench-")))
        for backend in backends:
            fixture, results = await run_backend(backend, args, work_dir, stamp)
            fixtures.append(fixture)
            measurements.extend(results)
            if backend == "postgresql" and not args.keep:
                await drop_postgres_database(fixture.database_url)
    print()
    print(
        f"supportdesk {info['source']}; {info['cpu']}, {info['cores']} cores "
        f"(host speed {info['host_speed_ms']} ms); Python {info['python']}; "
        + "; ".join(f"{f.backend} {f.server_version}" for f in fixtures)
    )
    print(
        f"{args.tickets:,} tickets; {args.requests} requests per run at concurrency {args.concurrency} "
        f"(lists also {args.latency_requests} at concurrency 1); warm-up {args.warmup}; "
        f"cap {args.max_seconds:.0f} s per run; total {time.perf_counter() - started:.0f} s"
    )
    print()
    print(markdown_table(measurements))
    print()
    print("\n".join(target_lines(measurements, args.concurrency)))
    if not args.no_json:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"api-{stamp}.json"
        payload = {
            "started": stamp,
            "arguments": {
                k: v
                for k, v in vars(args).items()
                if k not in {"serve", "database_url", "port", "workspace_id", "profile_out"}
            },
            "machine": info,
            "backends": [
                {
                    "backend": f.backend,
                    "server_version": f.server_version,
                    "tickets": f.tickets,
                    "load_seconds": round(f.load_seconds, 2),
                }
                for f in fixtures
            ],
            "results": [m.summary() for m in measurements],
        }
        path.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nJSON: {path.relative_to(BENCH_DIR.parent)}")
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets bulk-loaded (default 100000)")
    parser.add_argument(
        "--requests", type=int, default=2_000, help="measured requests per run (default 2000)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent client workers (default 8)")
    parser.add_argument(
        "--latency-requests",
        type=int,
        default=300,
        help="requests of the extra concurrency-1 list runs; 0 skips them (default 300)",
    )
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured requests before each run")
    parser.add_argument(
        "--max-seconds", type=float, default=20.0, help="time cap of each app's run, all rounds (default 20)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds per run, alternating which app goes first (default 2)"
    )
    parser.add_argument(
        "--scenarios",
        type=lambda value: [part.strip() for part in value.split(",") if part.strip()],
        default=list(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)}",
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="recreated, then dropped")
    parser.add_argument("--seed", type=int, default=20261127, help="seed of the cursor-page sample")
    parser.add_argument("--profile", action="store_true", help="run the servers under cProfile (slower)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the databases afterwards (PostgreSQL as is, SQLite in bench/results/kept/)",
    )
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/api-*.json")
    # The child-process mode; not for direct use.
    parser.add_argument("--serve", choices=APPS, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workspace-id", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if min(args.requests, args.concurrency, args.tickets, args.rounds) < 1:
        parser.error("--requests, --concurrency, --tickets and --rounds must be positive")
    if args.tickets < 2 * PAGE_SIZE:
        parser.error(f"--tickets must be at least {2 * PAGE_SIZE} so that there are cursor pages")
    return args


def print_profile(path: Path, out: TextIO, limit: int = 40) -> None:
    """The hottest functions of a saved profile, by own time and by cumulative time."""
    stats = pstats.Stats(str(path), stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve, args.database_url, args.port, args.workspace_id, args.profile_out)
        return 0
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
