"""The ``supportdesk`` command."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from supportdesk import __version__
from supportdesk.config import Settings, SettingsError, get_settings, load_settings
from supportdesk.core.clock import SystemClock
from supportdesk.core.emails import validate_email_detailed
from supportdesk.core.errors import SupportdeskError
from supportdesk.core.permissions import Role
from supportdesk.db import migrate
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database

if TYPE_CHECKING:
    from supportdesk.jobs.scheduler import JobOutcome, Scheduler

app = typer.Typer(help="supportdesk: a self-hosted customer-support platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Staff users.", no_args_is_help=True)
tokens_app = typer.Typer(help="Personal API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True, highlight=False)
T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line and exit non-zero."""
    err.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    """The settings, or a one-line error naming the bad one."""
    try:
        return load_settings()
    except SettingsError as error:
        fail(str(error), code=2)


def run_with_database(work: Callable[[Database, Settings], Awaitable[T]]) -> T:
    """Run ``work`` against the configured database, turning known errors into one line."""
    settings = settings_or_exit()

    async def runner() -> T:
        database = Database(create_engine(settings))
        try:
            if settings.migrate_at_startup:
                await migrate.upgrade(database.engine)
            return await work(database, settings)
        finally:
            await database.dispose()

    try:
        return asyncio.run(runner())
    except SupportdeskError as error:
        fail(error.detail)
    except OSError as error:
        fail(f"cannot reach the database: {error}")


def _version(value: bool) -> None:
    if value:
        out.print(f"supportdesk {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """supportdesk: a self-hosted customer-support platform."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: SUPPORTDESK_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: SUPPORTDESK_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: SUPPORTDESK_WORKERS).")
    ] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Serve the API (OpenAPI docs at /docs)."""
    import uvicorn

    settings = settings_or_exit()
    workers = workers or settings.workers
    if workers > 1 and settings.is_sqlite:
        err.print("note: several workers share one SQLite file; use PostgreSQL in production", style="yellow")
    if settings.migrate_at_startup and workers > 1:
        # Migrate once here rather than racing in every worker's start-up.
        asyncio.run(_upgrade_to(settings, "head"))
        os.environ["SUPPORTDESK_AUTO_MIGRATE"] = "false"
        get_settings.cache_clear()
    uvicorn.run(
        "supportdesk.asgi:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        reload=reload,
        log_level=settings.log_level,
        proxy_headers=True,
    )


@app.command()
def worker(
    once: Annotated[
        bool,
        typer.Option("--once", help="Run the jobs that are due now, print one line per job and exit."),
    ] = False,
) -> None:
    """Run the scheduled jobs until stopped (Ctrl+C or SIGTERM); migrates nothing."""
    from supportdesk.jobs.registry import default_jobs
    from supportdesk.jobs.scheduler import Scheduler

    settings = settings_or_exit()
    if not once:
        # Our own messages at the configured level; libraries (alembic, SQLAlchemy) only when they warn.
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("supportdesk").setLevel(settings.log_level.upper())

    async def work() -> list[JobOutcome]:
        database = Database(create_engine(settings))
        try:
            await _require_newest_schema(database)
            scheduler = Scheduler(database, SystemClock(), default_jobs(settings))
            if once:
                return await scheduler.run_due()
            await _run_until_signalled(scheduler)
            return []
        finally:
            await database.dispose()

    try:
        outcomes = asyncio.run(work())
    except OSError as error:
        fail(f"cannot reach the database: {error}")
    except SQLAlchemyError as error:
        fail(f"database error: {str(error).splitlines()[0]}")
    for outcome in outcomes:
        out.print(_outcome_line(outcome), markup=False, highlight=False)
    if any(outcome.status == "failed" for outcome in outcomes):
        # A non-zero status lets cron (or whatever runs --once) notice a failing job.
        raise typer.Exit(1)


async def _require_newest_schema(database: Database) -> None:
    """Refuse to run jobs against a schema other than the one this code was written for."""
    revision = await migrate.current_revision(database.engine)
    head = migrate.head_revision()
    if revision != head:
        fail(
            f"the database is at revision {revision or 'none (not migrated)'}, this version needs {head}; "
            "run `supportdesk db upgrade` first"
        )


async def _run_until_signalled(scheduler: Scheduler) -> None:
    """Run the scheduler until SIGINT or SIGTERM, letting a running job finish first."""
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
        await scheduler.run_forever(stop=stop)
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


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = settings_or_exit()
    try:
        asyncio.run(_upgrade_to(settings, revision))
    except OSError as error:
        fail(f"cannot reach the database: {error}")
    out.print(f"database at revision {migrate.head_revision() if revision == 'head' else revision}")


async def _upgrade_to(settings: Settings, revision: str) -> None:
    engine = create_engine(settings)
    try:
        await migrate.upgrade(engine, revision)
    finally:
        await engine.dispose()


@db_app.command("current")
def db_current() -> None:
    """Show the revision the database is at, and whether it is the newest."""
    settings = settings_or_exit()

    async def current() -> str | None:
        engine = create_engine(settings)
        try:
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    try:
        revision = asyncio.run(current())
    except OSError as error:
        fail(f"cannot reach the database: {error}")
    head = migrate.head_revision()
    state = "up to date" if revision == head else f"behind (newest is {head})"
    out.print(f"{revision or 'not migrated'} ({state})", highlight=False)
    if revision != head:
        raise typer.Exit(1)


def _checked_email(email: str) -> str:
    result = validate_email_detailed(email)
    if not result.is_valid or result.normalized is None:
        fail(f"invalid e-mail address {email!r} ({result.error_code}): {result.message}")
    return result.normalized


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Argument(help="The user's e-mail address.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    role: Annotated[Role, typer.Option(help="Role.")] = Role.agent,
    workspace: Annotated[str, typer.Option(help="Workspace slug (created if missing).")] = "default",
    password: Annotated[
        str | None,
        typer.Option(help="Password for browser login; prompted for if --prompt-password is given."),
    ] = None,
    prompt_password: Annotated[bool, typer.Option(help="Ask for the password.")] = False,
) -> None:
    """Create a staff user (and the workspace, the first time)."""
    from supportdesk.people import service as people_service
    from supportdesk.workspaces import service as workspace_service

    address = _checked_email(email)
    if prompt_password:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if password is not None and len(password) < 10:
        fail("the password needs at least 10 characters")

    async def work(database: Database, _settings: Settings) -> str:
        clock = SystemClock()
        async with database.unit_of_work() as session:
            found = await workspace_service.get_workspace_by_slug(session, workspace)
            ws = found or await workspace_service.create_workspace(
                session, clock, slug=workspace, name=workspace.replace("-", " ").title()
            )
            user = await people_service.create_user(
                session,
                clock,
                workspace_id=ws.id,
                email=address,
                name=name or address.split("@")[0],
                role=role,
                password=password,
            )
            return f"created {user.role.value} {user.email} (id {user.id}) in workspace {ws.slug}"

    out.print(run_with_database(work), highlight=False)


@tokens_app.command("create")
def tokens_create(
    email: Annotated[str, typer.Argument(help="The staff user's e-mail address.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    workspace: Annotated[str, typer.Option(help="Workspace slug.")] = "default",
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Lifetime in days.")] = None,
) -> None:
    """Create a personal API token and print it (it is shown only once)."""
    from sqlalchemy import select

    from supportdesk.auth import service as auth_service
    from supportdesk.people.models import User
    from supportdesk.workspaces import service as workspace_service

    address = _checked_email(email)

    async def work(database: Database, settings: Settings) -> str:
        clock = SystemClock()
        async with database.unit_of_work() as session:
            ws = await workspace_service.get_workspace_by_slug(session, workspace)
            if ws is None:
                fail(f"no workspace {workspace!r}")
            result = await session.execute(
                select(User).where(User.workspace_id == ws.id, User.email == address)
            )
            user = result.scalar_one_or_none()
            if user is None or not user.is_active:
                fail(f"no active staff user {address} in workspace {workspace}")
            issued = await auth_service.create_personal_token(
                session, settings, clock, user=user, name=name, expires_in_days=expires_in_days
            )
            return issued.secret

    out.print(run_with_database(work), highlight=False, soft_wrap=True)


@app.command()
def demo(
    workspace: Annotated[str, typer.Option(help="Workspace slug for the demo data.")] = "demo",
    tickets: Annotated[int, typer.Option(min=0, max=100_000, help="How many tickets.")] = 500,
    customers: Annotated[int, typer.Option(min=1, max=10_000, help="How many customers.")] = 50,
    if_missing: Annotated[
        bool, typer.Option("--if-missing", help="Do nothing when the workspace exists already.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed, for repeatable data.")] = 7,
) -> None:
    """Fill a demo workspace with agents, customers, tickets and comments."""
    from supportdesk.demo import DemoCredentials, seed_demo

    settings = settings_or_exit()
    if settings.env.value == "production":
        fail("refusing to create demo data with SUPPORTDESK_ENV=production")

    async def work(database: Database, settings: Settings) -> DemoCredentials | None:
        return await seed_demo(
            database,
            settings,
            SystemClock(),
            workspace_slug=workspace,
            ticket_count=tickets,
            customer_count=customers,
            skip_if_exists=if_missing,
            seed=seed,
            console=out,
        )

    credentials = run_with_database(work)
    if credentials is None:
        out.print(f"workspace {workspace!r} exists; demo data left as it is")
        return
    out.print(f"demo workspace: {credentials.workspace}")
    out.print(f"log in as {credentials.admin_email} with password {credentials.admin_password}")
    out.print(f"admin API token: {credentials.admin_token}", soft_wrap=True, highlight=False)


def main() -> None:
    """Entry point of the ``supportdesk`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
