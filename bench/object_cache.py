"""GET /api/v1/tickets/{id} with the object cache off and on (decision 0045), on SQLite and PostgreSQL.

Run ``.venv/bin/python bench/object_cache.py --help``; docs/performance.md records the results.

For each backend the driver:

1. builds a fresh database with ``--tickets`` tickets, as bench/api.py does (its ``prepare``);
2. starts one uvicorn worker per variant, side by side, with the same production settings except the
   cache: ``off`` (``SUPPORTDESK_OBJECT_CACHE_SECONDS=0``), ``memory`` (``mem://``, the default) and
   ``redis`` (a Redis server, under a key prefix of the run's own; left out with ``--no-redis`` or when
   none answers). The background runs embedded in each server (a memory cache is off in a server whose
   background runs in another process), with its relay and scheduler slowed down so that they cost
   nothing measurable;
3. reads a working set of ``--working-set`` tickets (what agents keep open), one after the other, at
   ``--concurrency``, in ``--rounds`` rounds that change the order of the variants, and reports
   throughput, latency, server CPU per request and the share of reads the cache answered (from each
   server's /metrics).

The same file is the child process: ``--serve off|memory|redis`` starts one server and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import httpx
import uvicorn
import uvloop
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import (
    RESULTS_DIR,
    SECRET_KEY,
    Fixture,
    Measurement,
    ServerProcess,
    drive,
    drop_postgres_database,
    free_port,
    machine,
    machine_cpu_seconds,
    prepare,
    process_cpu_seconds,
    spawn,
    stop_server,
    ticket_table,
    uvicorn_config,
)
from supportdesk.app import create_app
from supportdesk.config import Environment, Settings
from supportdesk.db.engine import create_engine
from supportdesk.db.objects import object_cache_backend

SCRIPT: Final = Path(__file__).resolve()
VARIANTS: Final = ("off", "memory", "redis")
DEFAULT_POSTGRES_URL: Final = "postgresql+asyncpg://postgres@127.0.0.1:5432/supportdesk_bench_objects"
DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"
_COUNTER = re.compile(r'^supportdesk_object_cache_(hits|misses)_total\{kind="ticket"\} ([0-9.e+]+)$', re.M)


def variant_settings(variant: str, database_url: str, redis_url: str, queue_name: str) -> Settings:
    """The production settings of one variant's server; only the object cache differs between them."""
    values: dict[str, object] = {
        "env": Environment.production,
        "database_url": database_url,
        "secret_key": SECRET_KEY,
        "auto_migrate": False,
        "log_level": "warning",
        "queue_name": queue_name,
        # Embedded, or the memory cache turns itself off; idle, so that it takes no CPU from the reads.
        "background": "embedded",
        "outbox_poll_seconds": 60,
        "scheduler_tick_seconds": 3600,
    }
    if variant == "off":
        values["object_cache_seconds"] = 0
    elif variant == "redis":
        values["object_cache_url"] = redis_url
    return Settings.model_validate(values)


def serve(variant: str, database_url: str, port: int, redis_url: str, queue_name: str) -> None:
    """Run one variant's server until SIGINT."""
    app = create_app(variant_settings(variant, database_url, redis_url, queue_name))
    server = uvicorn.Server(uvicorn_config(app, port))
    with contextlib.suppress(KeyboardInterrupt):
        server.run()


async def start(variant: str, fixture: Fixture, args: argparse.Namespace, work_dir: Path) -> ServerProcess:
    """Start one variant's server and wait until it answers /healthz."""
    port = free_port()
    log_path = work_dir / f"server-{variant}-{port}.log"
    command = [
        sys.executable,
        str(SCRIPT),
        "--serve",
        variant,
        "--database-url",
        fixture.database_url,
        "--port",
        str(port),
        "--redis-url",
        args.redis_url,
        "--queue-name",
        # A prefix per backend: both databases have the same ids, and one must not read the other's.
        f"{args.queue_name}-{fixture.backend}",
    ]
    server = ServerProcess(app=variant, port=port, process=spawn(command, log_path), log_path=log_path)
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"the {variant} server exited at start-up:\n{server.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/healthz")).status_code == 200:
                    return server
            await asyncio.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"the {variant} server did not come up in 60 s:\n{server.log_tail()}")


async def working_set(fixture: Fixture, size: int) -> list[int]:
    """``size`` ticket ids spread evenly over the workspace's tickets."""
    engine = create_engine(variant_settings("off", fixture.database_url, DEFAULT_REDIS_URL, "bench"))
    try:
        async with engine.connect() as connection:
            ids = list(
                (
                    await connection.execute(
                        select(ticket_table.c.id)
                        .where(ticket_table.c.workspace_id == fixture.workspace_id)
                        .order_by(ticket_table.c.id)
                    )
                ).scalars()
            )
    finally:
        await engine.dispose()
    step = max(1, len(ids) // size)
    return ids[::step][:size]


async def cache_counts(client: httpx.AsyncClient) -> tuple[float, float]:
    """The server's ticket hits and misses so far (zero for a server without a cache)."""
    found = dict(_COUNTER.findall((await client.get("/metrics")).text))
    return float(found.get("hits", 0)), float(found.get("misses", 0))


@dataclass
class Run:
    """One variant's measured phase, and how many of its reads the cache answered."""

    measurement: Measurement
    hits: float
    misses: float


async def measure(
    server: ServerProcess,
    fixture: Fixture,
    ids: Sequence[int],
    args: argparse.Namespace,
    *,
    warmup: int,
    position: int,
) -> Run:
    """Warm up, then read tickets of the working set in turn from ``position`` on (a variant's reads
    never go back to the start of the working set before they reach its end), with the CPU each side
    used meanwhile."""
    headers = {"Authorization": f"Bearer {fixture.token}"}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)

    async def get(client: httpx.AsyncClient, index: int) -> httpx.Response:
        return await client.get(f"/api/v1/tickets/{ids[index % len(ids)]}")

    async with httpx.AsyncClient(
        base_url=server.base_url, headers=headers, limits=limits, timeout=60
    ) as client:
        await drive(
            client,
            get,
            total=warmup,
            concurrency=args.concurrency,
            max_seconds=120,
            expected_status=200,
            first_index=position,
        )
        hits_before, misses_before = await cache_counts(client)
        server_before = process_cpu_seconds(server.process.pid)
        client_before = time.process_time()
        machine_before = machine_cpu_seconds()
        completed, errors, seconds, latencies = await drive(
            client,
            get,
            total=args.requests // args.rounds,
            concurrency=args.concurrency,
            max_seconds=args.max_seconds,
            expected_status=200,
            first_index=position + warmup,
        )
        machine_after = machine_cpu_seconds()
        client_cpu = time.process_time() - client_before
        server_cpu = process_cpu_seconds(server.process.pid) - server_before
        hits_after, misses_after = await cache_counts(client)
    measurement = Measurement(
        backend=fixture.backend,
        scenario="get-ticket",
        app=server.app,
        concurrency=args.concurrency,
        requests=completed,
        errors=errors,
        seconds=seconds,
        latencies_ms=latencies,
        server_cpu_seconds=server_cpu,
        client_cpu_seconds=client_cpu,
        machine_busy_seconds=machine_after[0] - machine_before[0],
        machine_capacity_seconds=machine_after[1] - machine_before[1],
    )
    return Run(measurement, hits_after - hits_before, misses_after - misses_before)


async def redis_answers(url: str) -> bool:
    """Whether a Redis server answers at ``url``."""
    cache = object_cache_backend(url)
    try:
        await cache.ping()
    except Exception:  # noqa: BLE001  (any failure: the variant is left out)
        return False
    finally:
        await cache.close()
    return True


async def forget_keys(url: str, queue_name: str) -> None:
    """Delete what the run's redis variants stored."""
    cache = object_cache_backend(url)
    try:
        await cache.delete_match(f"{queue_name}-*")
    finally:
        await cache.close()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def run_backend(
    backend: str, args: argparse.Namespace, variants: Sequence[str], work_dir: Path
) -> tuple[Fixture, dict[str, Run]]:
    """Set up one backend, start every variant's server, and measure them in alternating rounds."""
    log(f"[{backend}] preparing the database and loading {args.tickets:,} tickets")
    fixture = await prepare(backend, args, work_dir, log)
    ids = await working_set(fixture, args.working_set)
    servers: dict[str, ServerProcess] = {}
    results: dict[str, Run] = {}
    positions = dict.fromkeys(variants, 0)
    try:
        for variant in variants:
            servers[variant] = await start(variant, fixture, args, work_dir)
        for round_index in range(args.rounds):
            order = list(variants) if round_index % 2 == 0 else list(reversed(variants))
            for variant in order:
                # With --fill, the first round's warm-up reads the whole working set: the cache starts full.
                warmup = args.warmup + (len(ids) if args.fill and round_index == 0 else 0)
                run = await measure(
                    servers[variant], fixture, ids, args, warmup=warmup, position=positions[variant]
                )
                positions[variant] += warmup + args.requests // args.rounds
                previous = results.get(variant)
                if previous is not None:
                    run = Run(
                        previous.measurement.merged(run.measurement),
                        previous.hits + run.hits,
                        previous.misses + run.misses,
                    )
                results[variant] = run
                log(
                    f"[{backend}] round {round_index + 1} {variant:<6} "
                    f"{run.measurement.throughput:7.1f} req/s so far"
                )
    finally:
        for server in servers.values():
            stop_server(server)
        if backend == "postgresql" and not args.keep:
            await drop_postgres_database(fixture.database_url)
    return fixture, results


def table(results: Sequence[tuple[str, dict[str, Run]]]) -> str:
    """One line per backend and variant, with each variant's throughput against ``off``."""
    lines = [
        "| backend | cache | req/s | vs off | p50 / p95 ms | server CPU ms/req | from the cache | errors |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for backend, runs in results:
        off = runs.get("off")
        for variant, run in runs.items():
            m = run.measurement
            ratio = m.throughput / off.measurement.throughput if off and off.measurement.throughput else 0
            reads = run.hits + run.misses
            answered = f"{run.hits / reads:.0%}" if reads else "-"
            lines.append(
                f"| {backend} | {variant} | {m.throughput:.0f} | {ratio:.2f} "
                f"| {m.percentile(0.5):.1f} / {m.percentile(0.95):.1f} "
                f"| {m.server_cpu_ms_per_request:.2f} | {answered} | {m.errors} |"
            )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    variants = [variant for variant in VARIANTS if variant != "redis" or not args.no_redis]
    if "redis" in variants and not await redis_answers(args.redis_url):
        log(f"no Redis answers at {args.redis_url}: the redis variant is left out")
        variants.remove("redis")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    info = machine()
    started = time.perf_counter()
    results: list[tuple[str, dict[str, Run]]] = []
    fixtures: list[Fixture] = []
    try:
        with tempfile.TemporaryDirectory(prefix="supportdesk-bench-objects-") as directory:
            for backend in backends:
                fixture, runs = await run_backend(backend, args, variants, Path(directory))
                fixtures.append(fixture)
                results.append((backend, runs))
    finally:
        if "redis" in variants:
            await forget_keys(args.redis_url, args.queue_name)
    print()
    print(
        f"supportdesk {info['source']}; {info['cpu']}, {info['cores']} cores; Python {info['python']}; "
        + "; ".join(f"{f.backend} {f.server_version}" for f in fixtures)
    )
    print(
        f"{args.tickets:,} tickets, a working set of {args.working_set} ({'' if args.fill else 'not '}filled "
        f"first); {args.requests} requests per "
        f"variant at concurrency {args.concurrency} in {args.rounds} rounds; "
        f"total {time.perf_counter() - started:.0f} s"
    )
    print()
    print(table(results))
    if not args.no_json:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"object-cache-{stamp}.json"
        payload = {
            "started": stamp,
            "arguments": {k: v for k, v in vars(args).items() if k not in {"serve", "database_url", "port"}},
            "machine": info,
            "results": [
                {**run.measurement.summary(), "cache_hits": run.hits, "cache_misses": run.misses}
                for _, runs in results
                for run in runs.values()
            ],
        }
        path.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nJSON: {path.relative_to(SCRIPT.parent.parent)}")
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--tickets", type=int, default=20_000, help="tickets bulk-loaded (default 20000)")
    parser.add_argument(
        "--working-set", type=int, default=500, help="distinct tickets read, in turn (default 500)"
    )
    parser.add_argument(
        "--requests", type=int, default=4_000, help="measured requests per variant (default 4000)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent client workers (default 8)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds, alternating the order (default 4)")
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured requests before each round")
    parser.add_argument(
        "--fill",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="read the whole working set before the first round (default); with --no-fill and a working "
        "set larger than the reads, no ticket is read twice and the cache never answers",
    )
    parser.add_argument("--max-seconds", type=float, default=30.0, help="time cap of each round (default 30)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="recreated, then dropped")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="the redis variant's server")
    parser.add_argument("--no-redis", action="store_true", help="leave the redis variant out")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database afterwards")
    parser.add_argument(
        "--no-json", action="store_true", help="do not write bench/results/object-cache-*.json"
    )
    parser.add_argument(
        "--queue-name",
        default=f"supportdesk-bench-{uuid.uuid4().hex[:12]}",
        help="the key prefix of the redis variant, with the backend's name (a fresh one per run; its keys "
        "are deleted at the end)",
    )
    # The child-process mode; not for direct use.
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.requests, args.concurrency, args.tickets, args.rounds, args.working_set) < 1:
        parser.error("--requests, --concurrency, --tickets, --rounds and --working-set must be positive")
    # bench/api.py's set-up samples cursor pages; this benchmark reads none.
    args.seed = 0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve, args.database_url, args.port, args.redis_url, args.queue_name)
        return 0
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
