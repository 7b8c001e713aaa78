"""The ``supportdesk`` command, run against its own SQLite file in ``tmp_path``.

These tests do not use the shared test database (no ``db_backend``): the command opens, migrates and
closes its own database, exactly as an operator's shell would.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from supportdesk import cli as cli_module
from supportdesk.app import create_app
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from tests.fixtures.database import TEST_SECRET_KEY, EngineRegistry, make_settings


@dataclass
class Cli:
    """Runs ``supportdesk`` commands on one database file, and serves the API from that file."""

    database_path: Path
    runner: CliRunner = field(default_factory=CliRunner)
    # Another database than the SQLite file (PostgreSQL, for tests that run on both).
    url: str | None = None

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
        app = create_app(settings, database=database)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=headers
            ) as client:
                yield client
        finally:
            await database.dispose()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The command with a clean environment: development settings, a fresh database file, no ``.env``."""
    for name in list(os.environ):
        if name.startswith("SUPPORTDESK_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    command = Cli(tmp_path / "supportdesk.db")
    monkeypatch.setenv("SUPPORTDESK_ENV", "development")
    monkeypatch.setenv("SUPPORTDESK_DATABASE_URL", command.database_url)
    # The server the tests build uses the test secret; tokens the command prints must verify there.
    monkeypatch.setenv("SUPPORTDESK_SECRET_KEY", TEST_SECRET_KEY)
    # What the console assumes for a pipe or a log file, whatever terminal the tests happen to run in.
    monkeypatch.setenv("COLUMNS", "80")
    return command


@pytest.fixture
async def backend_cli(
    cli: Cli, db_backend: str, engine_registry: EngineRegistry, monkeypatch: pytest.MonkeyPatch
) -> Cli:
    """The command on this test's backend (its SQLite file, or a fresh PostgreSQL database), not migrated."""
    if db_backend == "postgresql":
        cli.url = await engine_registry.url_for("postgresql", purpose="cli")
        monkeypatch.setenv("SUPPORTDESK_DATABASE_URL", cli.url)
    return cli


@pytest.fixture
async def migrated_cli(backend_cli: Cli) -> Cli:
    """:func:`backend_cli` after ``supportdesk db upgrade``."""
    result = await backend_cli.run("db", "upgrade")
    assert result.exit_code == 0, result.output
    return backend_cli


def single_error_line(result: Result) -> str:
    """The one line a failing command prints to stderr, checked to be exactly one ``error:`` line."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]
