"""Instructions per request: supportdesk's ticket create beside the bare endpoint, counted by callgrind.

Run ``.venv/bin/python bench/instructions.py`` (needs ``valgrind``); docs/performance.md explains how
to read the result.

Throughput on a shared two-core VM moves by a tenth or more from one run to the next; instruction
counts do not. For each backend this prepares the same database as bench/api.py (migrations, one
workspace, an agent with a token, ``--tickets`` tickets), then, for each app, starts a child process
under ``valgrind --tool=callgrind`` with counting off. The child builds the app (``create_app`` or
bench/api.py's bare app), runs its lifespan, sends ``--warmup`` create requests straight through ASGI
(no HTTP server, no client in the count), turns counting on for ``--requests`` more, and off again.
Instructions per request are the collected total over ``--requests``. They cover the app, its
database driver and, for SQLite, the database engine itself (it runs in the process); PostgreSQL's
own work happens in the server and is not counted. The number of event-loop wake-ups varies a little
with timing, so repeated runs agree to within about 1 %.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import (
    DESCRIPTION,
    bench_settings,
    build_bare_app,
    drop_postgres_database,
    prepare,
)
from supportdesk.app import create_app

Message = MutableMapping[str, Any]
Asgi = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]

# Its own database, so it can run beside bench/api.py.
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/supportdesk_bench_instructions"
BODY = json.dumps(
    {"title": "Cannot log in after the password reset", "description": DESCRIPTION, "priority": "high"}
).encode()


async def post(app: Asgi, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    """One POST of the create body straight into the ASGI app; returns the response status."""
    scope: Message = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    delivered = False
    statuses: list[int] = []

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(int(message["status"]))

    await app(scope, receive, send)
    return statuses[0]


async def run_lifespan(app: Asgi, body: Callable[[], Awaitable[None]]) -> None:
    """Start the app's lifespan, run ``body``, shut the lifespan down."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    task: asyncio.Future[None] = asyncio.ensure_future(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise SystemExit(f"the app did not start: {started}")
    try:
        await body()
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


def callgrind_counting(on: bool) -> None:
    """Switch callgrind's counting for this process (a no-op outside valgrind)."""
    subprocess.run(  # noqa: S603  (a fixed command and our own pid)
        ["callgrind_control", "--instr=" + ("on" if on else "off"), str(os.getpid())],  # noqa: S607
        check=False,
        capture_output=True,
    )


async def child(args: argparse.Namespace, fixture: dict[str, Any]) -> None:
    """The measured process: one app, warm-up requests, then the counted ones."""
    if args.child == "supportdesk":
        app: Any = create_app(bench_settings(fixture["database_url"]))
        path, headers = "/api/v1/tickets", [(b"authorization", f"Bearer {fixture['token']}".encode())]
    else:
        app = build_bare_app(fixture["database_url"], fixture["workspace_id"])
        path, headers = "/tickets", []

    async def requests() -> None:
        for _ in range(args.warmup):
            if await post(app, path, headers) != 201:
                raise SystemExit(f"{args.child}: a warm-up create failed")
        callgrind_counting(True)
        for _ in range(args.requests):
            await post(app, path, headers)
        callgrind_counting(False)

    await run_lifespan(app, requests)


def count(app: str, fixture_path: Path, args: argparse.Namespace, work_dir: Path) -> float:
    """Instructions per request of ``app``, from a callgrind run of a child process."""
    out_file = work_dir / f"callgrind.{app}.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out_file}",
        sys.executable,
        __file__,
        "--child",
        app,
        "--fixture",
        str(fixture_path),
        "--requests",
        str(args.requests),
        "--warmup",
        str(args.warmup),
    ]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    collected = re.search(r"Collected : (\d+)", finished.stderr)
    if finished.returncode != 0 or collected is None:
        raise SystemExit(f"{app}: the callgrind run failed:\n{finished.stderr[-2000:]}")
    return int(collected.group(1)) / int(args.requests)


async def measure(backend: str, args: argparse.Namespace) -> tuple[float, float]:
    """(supportdesk, bare) instructions per create on ``backend``."""
    with tempfile.TemporaryDirectory(prefix="supportdesk-instructions-") as directory:
        work_dir = Path(directory)
        setup = argparse.Namespace(tickets=args.tickets, requests=1, seed=1, postgres_url=args.postgres_url)
        fixture = await prepare(backend, setup, work_dir, lambda _message: None)
        fixture_path = work_dir / "fixture.json"
        fixture_path.write_text(
            json.dumps(
                {
                    "database_url": fixture.database_url,
                    "workspace_id": fixture.workspace_id,
                    "token": fixture.token,
                }
            )
        )
        try:
            return count("supportdesk", fixture_path, args, work_dir), count(
                "bare", fixture_path, args, work_dir
            )
        finally:
            if backend == "postgresql":
                await drop_postgres_database(args.postgres_url)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--tickets", type=int, default=2000, help="tickets loaded first (default 2000)")
    parser.add_argument("--requests", type=int, default=100, help="counted creates (default 100)")
    parser.add_argument("--warmup", type=int, default=20, help="creates before counting (default 20)")
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help="recreated, then dropped")
    parser.add_argument("--child", choices=["supportdesk", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--fixture", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        asyncio.run(child(args, json.loads(Path(args.fixture).read_text())))
        return 0
    if shutil.which("valgrind") is None:
        raise SystemExit("bench/instructions.py needs valgrind (Debian: apt-get install valgrind)")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print("| backend | supportdesk instructions per create | bare | ratio (bare / supportdesk) |")
    print("|---|--:|--:|--:|")
    for backend in backends:
        supportdesk, bare = asyncio.run(measure(backend, args))
        print(f"| {backend} | {supportdesk / 1e6:.2f} M | {bare / 1e6:.2f} M | {bare / supportdesk:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
