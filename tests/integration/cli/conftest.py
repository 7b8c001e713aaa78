"""The ``supportdesk`` command, run against its own SQLite file in ``tmp_path``.

These tests do not use the shared test database (no ``db_backend``): the command opens, migrates and
closes its own database, exactly as an operator's shell would.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import typer.main
import typer.testing
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from supportdesk import cli as cli_module
from supportdesk.app import bind_state, create_app
from supportdesk.core.clock import SystemClock
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from tests.fixtures.database import TEST_SECRET_KEY, EngineRegistry, make_settings

# Typer's test runner builds the click command from the Typer app again on every invocation (some 15 ms,
# more under coverage, and this folder invokes the command over 400 times). The command is wiring only:
# each invocation parses its arguments and runs in a context of its own, which is how click commands are
# always used, so one built once per worker serves them all, as one built once serves a whole process.
_command_of = functools.cache(typer.main.get_command)


@dataclass
class Cli:
    """Runs ``supportdesk`` commands on one database file, and serves the API from that file."""

    database_path: Path
    runner: CliRunner = field(default_factory=CliRunner)
    # Another database than the SQLite file (PostgreSQL, for tests that run on both).
    url: str | None = None
    # The apps :meth:`api` serves with, by their settings (without the database URL); see ``cli_apps``.
    apps: dict[str, FastAPI] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        return self.url or f"sqlite+aiosqlite:///{self.database_path}"

    async def run(self, *args: str, input: str | None = None) -> Result:
        """``supportdesk ARGS`` (with ``input`` on standard input); in a thread, because the command runs
        its own event loop."""
        runner = self.runner

        def invoke() -> Result:
            return runner.invoke(cli_module.app, list(args), input=input)

        return await asyncio.to_thread(invoke)

    @asynccontextmanager
    async def api(self, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
        """An HTTP client for the app on this database, as a server with the same settings would run it."""
        settings = make_settings(self.database_url)
        database = Database(create_engine(settings))
        # FastAPI resolves each route's parameters on an app's first requests, about 0.1 s of CPU per
        # app. The wiring depends on the settings but not on the database they name, so an app is built
        # once per worker and configuration; bind_state gives it this database, settings and clock, and
        # fresh metrics, checked tokens and login counters, as a newly built app would have. (The
        # transport runs no lifespan, so the app never starts background work on its first database.)
        key = settings.model_dump_json(exclude={"database_url"})
        app = self.apps.get(key)
        if app is None:
            app = self.apps[key] = create_app(settings, database=database)
        else:
            bind_state(app, settings, database, SystemClock())
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=headers
            ) as client:
                yield client
        finally:
            await database.dispose()


@pytest.fixture(scope="session")
def cli_apps() -> dict[str, FastAPI]:
    """The apps the tests' :meth:`Cli.api` clients are served by, built once per worker."""
    return {}


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_apps: dict[str, FastAPI]) -> Cli:
    """The command with a clean environment: development settings, a fresh database file, no ``.env``."""
    for name in list(os.environ):
        if name.startswith("SUPPORTDESK_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(typer.testing, "_get_command", _command_of)
    command = Cli(tmp_path / "supportdesk.db", apps=cli_apps)
    monkeypatch.setenv("SUPPORTDESK_ENV", "development")
    monkeypatch.setenv("SUPPORTDESK_DATABASE_URL", command.database_url)
    # The server the tests build uses the test secret; tokens the command prints must verify there.
    monkeypatch.setenv("SUPPORTDESK_SECRET_KEY", TEST_SECRET_KEY)
    # What the console assumes for a pipe or a log file, whatever terminal the tests happen to run in.
    monkeypatch.setenv("COLUMNS", "80")
    return command


async def _on_postgres(
    cli: Cli, engine_registry: EngineRegistry, monkeypatch: pytest.MonkeyPatch, template: str | None = None
) -> Cli:
    """Point ``cli`` at a fresh PostgreSQL database: empty, or a copy of database ``template``."""
    cli.url = await engine_registry.url_for("postgresql", purpose="cli", template=template)
    monkeypatch.setenv("SUPPORTDESK_DATABASE_URL", cli.url)
    return cli


@pytest.fixture
async def backend_cli(
    cli: Cli, db_backend: str, engine_registry: EngineRegistry, monkeypatch: pytest.MonkeyPatch
) -> Cli:
    """The command on this test's backend (its SQLite file, or a fresh PostgreSQL database), not migrated."""
    if db_backend == "postgresql":
        return await _on_postgres(cli, engine_registry, monkeypatch)
    return cli


@dataclass
class MigratedDatabases:
    """What ``supportdesk db upgrade`` made of an empty database, once per worker: a SQLite file, and the
    name of a PostgreSQL database that nothing connects to."""

    directory: Path
    sqlite: Path | None = None
    postgresql: str | None = None


@pytest.fixture(scope="session")
def migrated_databases(tmp_path_factory: pytest.TempPathFactory) -> MigratedDatabases:
    return MigratedDatabases(tmp_path_factory.mktemp("migrated"))


def copy_sqlite(source: Path, target: Path) -> Path:
    """Copy a SQLite database that nothing has open: its file, and its write-ahead log if one was left."""
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    return target


async def _upgrade(cli: Cli) -> Cli:
    result = await cli.run("db", "upgrade")
    assert result.exit_code == 0, result.output
    return cli


@pytest.fixture
async def migrated_cli(
    cli: Cli,
    db_backend: str,
    engine_registry: EngineRegistry,
    migrated_databases: MigratedDatabases,
    monkeypatch: pytest.MonkeyPatch,
) -> Cli:
    """:func:`backend_cli` after ``supportdesk db upgrade``.

    Migrating an empty database takes a fifth of a second of CPU, and some sixty tests start here. The
    first of them on each backend in each worker runs the command; the database it migrated is kept,
    and the others start from a copy of it: the same file byte for byte on SQLite, a database made
    from it as the template on PostgreSQL. What the command does to an empty database is what
    test_cli_database.py and the tests on ``backend_cli`` check.
    """
    migrated = migrated_databases
    if db_backend == "sqlite":
        if migrated.sqlite is not None:
            copy_sqlite(migrated.sqlite, cli.database_path)
            return cli
        await _upgrade(cli)
        migrated.sqlite = copy_sqlite(cli.database_path, migrated.directory / "supportdesk.db")
        return cli
    if migrated.postgresql is not None:
        return await _on_postgres(cli, engine_registry, monkeypatch, template=migrated.postgresql)
    await _upgrade(await _on_postgres(cli, engine_registry, monkeypatch))
    copied = await engine_registry.url_for(
        "postgresql", purpose="cli_migrated", template=make_url(cli.database_url).database
    )
    migrated.postgresql = make_url(copied).database
    return cli


def single_error_line(result: Result) -> str:
    """The one line a failing command prints to stderr, checked to be exactly one ``error:`` line."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


async def start_command(*args: str) -> asyncio.subprocess.Process:
    """``supportdesk ARGS`` as a process of its own (for the long-running commands), in the test's
    environment, with its output piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "supportdesk.cli",
        *args,
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
