"""``supportdesk serve`` and ``supportdesk worker``: the long-running processes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from supportdesk.cli.common import out, require_current_schema, settings
from supportdesk.cli.database import upgrade_to
from supportdesk.cli.errors import err
from supportdesk.config import Settings, get_settings
from supportdesk.core.clock import SystemClock
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database

if TYPE_CHECKING:
    from supportdesk.jobs.scheduler import JobOutcome


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: SUPPORTDESK_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: SUPPORTDESK_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: SUPPORTDESK_WORKERS).")
    ] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Serve the API (OpenAPI docs at /docs); refuses a database it cannot reach or that is not migrated."""
    import uvicorn

    loaded = settings()
    workers = workers or loaded.workers
    if workers > 1 and loaded.is_sqlite:
        err.print("note: several workers share one SQLite file; use PostgreSQL in production", style="yellow")
    if "FORWARDED_ALLOW_IPS" in os.environ and "SUPPORTDESK_FORWARDED_ALLOW_IPS" not in os.environ:
        # uvicorn reads this variable only when it is given no list of its own, and serve always gives
        # one; an operator who set it for an earlier version would otherwise lose the proxy's client
        # addresses without a word.
        err.print(
            "note: FORWARDED_ALLOW_IPS is ignored; set SUPPORTDESK_FORWARDED_ALLOW_IPS instead",
            style="yellow",
        )
    if loaded.migrate_at_startup:
        # Migrate once here, not in every worker's start-up (they would race), and so that a database
        # that cannot be reached or migrated stops the command with one line instead of a traceback.
        asyncio.run(upgrade_to(loaded, "head"))
        os.environ["SUPPORTDESK_AUTO_MIGRATE"] = "false"
        get_settings.cache_clear()
    else:
        # Without this check the server would start, answer 503 on /readyz and log a traceback from the
        # embedded scheduler every tick; refusing at once tells the operator what to do.
        asyncio.run(_check_schema(loaded))
    uvicorn.run(
        "supportdesk.asgi:app",
        host=host or loaded.host,
        port=port or loaded.port,
        workers=workers,
        reload=reload,
        log_level=loaded.log_level,
        # The client address (which login throttling counts by) and the scheme come from
        # X-Forwarded-For and X-Forwarded-Proto only when the connection comes from a trusted proxy.
        proxy_headers=True,
        forwarded_allow_ips=loaded.forwarded_allow_ips,
        # A stopping server waits this long for requests in flight, then ends them. Without a bound,
        # the pages' event streams (open for a minute each) would hold every restart back; browsers
        # reconnect to the next server by themselves.
        timeout_graceful_shutdown=10,
    )


async def _check_schema(loaded: Settings) -> None:
    engine = create_engine(loaded)
    try:
        await require_current_schema(engine)
    finally:
        await engine.dispose()


def worker(
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Run the jobs that are due now and deliver what the outbox holds due, print one line per "
            "job and exit.",
        ),
    ] = False,
) -> None:
    """Run background work until stopped (Ctrl+C or SIGTERM): the outbox relay, the scheduled jobs and
    the tasks of the queue SUPPORTDESK_QUEUE_URL names; migrates nothing."""
    from supportdesk.runtime import build_background

    loaded = settings()
    if not once:
        # Our own messages at the configured level; libraries (alembic, SQLAlchemy) only when they warn.
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("supportdesk").setLevel(loaded.log_level.upper())

    async def work() -> tuple[list[JobOutcome], int]:
        database = Database(create_engine(loaded))
        try:
            # Jobs written for this schema must not run against another one.
            await require_current_schema(database.engine)
            if once:
                return await _work_once(database, loaded)
            background = build_background(database, SystemClock(), loaded)
            await background.start(consume=not background.embedded)
            try:
                await wait_for_signal()
            finally:
                await background.stop()
            return [], 0
        finally:
            await database.dispose()

    outcomes, delivered = asyncio.run(work())
    for outcome in outcomes:
        out.print(_outcome_line(outcome), markup=False, highlight=False)
    if delivered:
        out.print(f"outbox: {delivered} delivery attempt(s) made", markup=False, highlight=False)
    if any(outcome.status == "failed" for outcome in outcomes):
        # A non-zero status lets cron (or whatever runs --once) notice a failing job.
        raise typer.Exit(1)


async def _work_once(database: Database, loaded: Settings) -> tuple[list[JobOutcome], int]:
    """The due jobs and one round of the outbox, run in this process whatever the queue is."""
    from taskiq import InMemoryBroker

    from supportdesk.runtime import build_background

    # Tasks run as they are sent, before the call that sends them returns.
    background = build_background(database, SystemClock(), loaded, broker=InMemoryBroker(await_inplace=True))
    await background.broker.startup()
    try:
        outcomes = await background.scheduler_inline().run_due()
        delivered = 0
        while (count := await background.relay_once()) > 0:
            delivered += count
            if count < loaded.outbox_batch:
                break
        return outcomes, delivered
    finally:
        await background.stop()


async def wait_for_signal() -> None:
    """Return on SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):
            # No handlers on Windows or outside the main thread; Ctrl+C then ends with status 130.
            continue
        handled.append(signum)
    try:
        await stop.wait()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)


def _outcome_line(outcome: JobOutcome) -> str:
    """``job tick status`` then the counts (``name=n``) or the error."""
    parts = [outcome.job, outcome.tick.isoformat(), outcome.status]
    if outcome.result:
        parts.extend(f"{name}={count}" for name, count in outcome.result.items())
    if outcome.error:
        parts.append(" ".join(outcome.error.split()))  # one line, even for a multi-line message
    return " ".join(parts)
