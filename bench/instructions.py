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

``--scenario`` picks what is sent: ``create`` (the default, beside the bare endpoint), or an update of
one ticket made first (``PATCH``, supportdesk only, since the bare app has no update): ``update-priority``
moves its priority back and forth, so every request recomputes the SLA due times, and ``update-title``
changes only its title, which leaves the SLA alone.
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


async def send(
    app: Asgi, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> tuple[int, bytes]:
    """One request with a JSON body straight into the ASGI app; returns the status and the body."""
    scope: Message = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    delivered = False
    statuses: list[int] = []
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def reply(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(int(message["status"]))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, reply)
    return statuses[0], b"".join(chunks)


# What each update scenario sends, in turn: two values, so that every request changes the ticket.
UPDATES = {
    "update-priority": [json.dumps({"priority": value}).encode() for value in ("low", "high")],
    "update-title": [json.dumps({"title": f"Cannot log in ({value})"}).encode() for value in ("a", "b")],
}
SCENARIOS = ("create", *UPDATES)


async def request_maker(
    app: Asgi, scenario: str, prefix: str, headers: list[tuple[bytes, bytes]]
) -> Callable[[int], Awaitable[int]]:
    """The ``scenario``'s request as a function of its sequence number, returning the status; an update
    scenario first creates the ticket it changes (not counted)."""
    if scenario == "create":

        async def create(_index: int) -> int:
            return (await send(app, "POST", f"{prefix}/tickets", headers, BODY))[0]

        return create
    status, body = await send(app, "POST", f"{prefix}/tickets", headers, BODY)
    if status != 201:
        raise SystemExit(f"{scenario}: creating the ticket to update failed ({status})")
    path = f"{prefix}/tickets/{json.loads(body)['id']}"
    bodies = UPDATES[scenario]

    async def update(index: int) -> int:
        status, _ = await send(app, "PATCH", path, headers, bodies[index % len(bodies)])
        return 201 if status == 200 else status  # compared with a create's status below

    return update


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
        prefix, headers = "/api/v1", [(b"authorization", f"Bearer {fixture['token']}".encode())]
    else:
        app = build_bare_app(fixture["database_url"], fixture["workspace_id"])
        prefix, headers = "", []

    async def requests() -> None:
        make = await request_maker(app, args.scenario, prefix, headers)
        for index in range(args.warmup):
            if await make(index) != 201:
                raise SystemExit(f"{args.child}: a warm-up {args.scenario} failed")
        callgrind_counting(True)
        for index in range(args.warmup, args.warmup + args.requests):
            await make(index)
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
        "--scenario",
        args.scenario,
    ]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    collected = re.search(r"Collected : (\d+)", finished.stderr)
    if finished.returncode != 0 or collected is None:
        raise SystemExit(f"{app}: the callgrind run failed:\n{finished.stderr[-2000:]}")
    return int(collected.group(1)) / int(args.requests)


async def measure(backend: str, args: argparse.Namespace) -> tuple[float, float | None]:
    """(supportdesk, bare) instructions per request on ``backend``; bare only for creates."""
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
            supportdesk = count("supportdesk", fixture_path, args, work_dir)
            bare = count("bare", fixture_path, args, work_dir) if args.scenario == "create" else None
            return supportdesk, bare
        finally:
            if backend == "postgresql":
                await drop_postgres_database(args.postgres_url)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--tickets", type=int, default=2000, help="tickets loaded first (default 2000)")
    parser.add_argument("--scenario", choices=SCENARIOS, default="create", help="default create")
    parser.add_argument("--requests", type=int, default=100, help="counted requests (default 100)")
    parser.add_argument("--warmup", type=int, default=20, help="requests before counting (default 20)")
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
    print(f"| backend | supportdesk instructions per {args.scenario} | bare | ratio (bare / supportdesk) |")
    print("|---|--:|--:|--:|")
    for backend in backends:
        supportdesk, bare = asyncio.run(measure(backend, args))
        measured = f"| {backend} | {supportdesk / 1e6:.2f} M |"
        if bare is None:
            print(f"{measured} - | - |")
        else:
            print(f"{measured} {bare / 1e6:.2f} M | {bare / supportdesk:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
