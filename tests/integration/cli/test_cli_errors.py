"""Every failure of a command is one line on standard error naming the cause and the next step, with a
non-zero exit status; ``--debug`` shows the traceback instead."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import uvicorn
from alembic.util.exc import CommandError

from supportdesk.db import migrate
from supportdesk.workspaces import service as workspace_service
from tests.fixtures.database import postgres_server_url

from .conftest import Cli, single_error_line

HEAD = migrate.head_revision()
NOT_MIGRATED = (
    f"error: the database is not migrated (it is at no revision; newest is {HEAD}): "
    "run `supportdesk db upgrade`"
)
# The commands that open the database, each with arguments that would otherwise succeed.
DATABASE_COMMANDS = [
    pytest.param(("db", "current"), id="db-current"),
    pytest.param(("db", "upgrade"), id="db-upgrade"),
    pytest.param(("users", "create", "ada@example.com"), id="users-create"),
    pytest.param(("tokens", "create", "ada@example.com"), id="tokens-create"),
    pytest.param(("demo", "--tickets", "1", "--customers", "1"), id="demo"),
    pytest.param(("worker", "--once"), id="worker"),
    pytest.param(("db", "history"), id="db-history"),
    pytest.param(("db", "downgrade", "--yes"), id="db-downgrade"),
    pytest.param(("db", "backup", "supportdesk.backup"), id="db-backup"),
]
# Those that need the newest schema (db current and db upgrade are how one gets there).
SCHEMA_COMMANDS = [
    pytest.param(("users", "create", "ada@example.com"), id="users-create"),
    pytest.param(("users", "list"), id="users-list"),
    pytest.param(("tokens", "create", "ada@example.com"), id="tokens-create"),
    pytest.param(("workspaces", "list"), id="workspaces-list"),
    pytest.param(("demo", "--tickets", "1", "--customers", "1"), id="demo"),
    pytest.param(("worker", "--once"), id="worker"),
]


def closed_port() -> int:
    """A local port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def server_url() -> str:
    """The local PostgreSQL server's URL without a database (skipped when no server is reachable)."""
    return await postgres_server_url()


async def test_db_current_says_not_migrated_in_plain_words(cli: Cli) -> None:
    result = await cli.run("db", "current")

    assert result.exit_code == 1
    assert result.stdout == f"not migrated (newest is {HEAD})\n"


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
async def test_a_sqlite_file_in_a_missing_folder(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: tuple[str, ...]
) -> None:
    monkeypatch.setenv("SUPPORTDESK_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/missing/supportdesk.db")

    result = await cli.run(*command)

    assert result.exit_code == 1
    line = single_error_line(result)
    assert f"the folder {tmp_path}/missing does not exist" in line
    assert "SUPPORTDESK_DATABASE_URL" in line


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
async def test_an_unreachable_postgresql_server(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    port = closed_port()
    monkeypatch.setenv(
        "SUPPORTDESK_DATABASE_URL", f"postgresql+asyncpg://postgres@127.0.0.1:{port}/supportdesk"
    )

    result = await cli.run(*command)

    assert result.exit_code == 1
    assert single_error_line(result) == (
        f"error: cannot reach PostgreSQL on 127.0.0.1:{port} (connection refused): "
        "start it, or fix SUPPORTDESK_DATABASE_URL"
    )


@pytest.mark.postgres
@pytest.mark.parametrize("command", DATABASE_COMMANDS)
async def test_a_missing_postgresql_database(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, server_url: str, command: tuple[str, ...]
) -> None:
    monkeypatch.setenv("SUPPORTDESK_DATABASE_URL", f"{server_url}/supportdesk_missing")

    result = await cli.run(*command)

    assert result.exit_code == 1
    line = single_error_line(result)
    assert "the database 'supportdesk_missing' does not exist on 127.0.0.1:5432" in line
    assert "createdb supportdesk_missing" in line


@pytest.mark.postgres
@pytest.mark.parametrize("command", DATABASE_COMMANDS[:3])
async def test_an_unknown_postgresql_role(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, server_url: str, command: tuple[str, ...]
) -> None:
    url = server_url.replace("postgres@", "supportdesk_nobody@", 1)
    monkeypatch.setenv("SUPPORTDESK_DATABASE_URL", f"{url}/postgres")

    result = await cli.run(*command)

    assert result.exit_code == 1
    line = single_error_line(result)
    assert "refused the login" in line
    assert "supportdesk_nobody" in line
    assert "SUPPORTDESK_DATABASE_URL" in line


@pytest.mark.parametrize("command", SCHEMA_COMMANDS)
async def test_an_unmigrated_database_is_refused(
    backend_cli: Cli, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.setenv("SUPPORTDESK_AUTO_MIGRATE", "false")

    result = await backend_cli.run(*command)

    assert result.exit_code == 1
    assert single_error_line(result) == NOT_MIGRATED


async def test_a_database_behind_the_newest_revision_is_named(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    await cli.run("db", "upgrade", "0007")
    monkeypatch.setenv("SUPPORTDESK_AUTO_MIGRATE", "false")

    current = await cli.run("db", "current")
    result = await cli.run("users", "list")

    assert current.stdout == f"0007 (behind; newest is {HEAD})\n"
    assert single_error_line(result) == (
        f"error: the database is at revision 0007, behind the newest ({HEAD}): run `supportdesk db upgrade`"
    )


async def test_upgrading_to_an_unknown_revision(cli: Cli) -> None:
    result = await cli.run("db", "upgrade", "9999")

    assert result.exit_code == 1
    assert single_error_line(result) == (
        f"error: there is no revision '9999' (this version has 0001 to {HEAD}): "
        "leave it out to upgrade to the newest"
    )


async def test_debug_shows_the_traceback_instead(cli: Cli) -> None:
    result = await cli.run("--debug", "db", "upgrade", "9999")

    assert result.exit_code == 1
    assert isinstance(result.exception, CommandError)
    assert "error:" not in result.stderr


async def test_an_unknown_role_option_is_one_line(cli: Cli) -> None:
    result = await cli.run("users", "create", "ada@example.com", "--role", "boss")

    assert result.exit_code == 2
    line = single_error_line(result)
    assert "'--role'" in line
    assert "'boss'" in line
    assert line.endswith("users create --help`")


async def test_password_and_prompt_password_together_are_refused(cli: Cli) -> None:
    result = await cli.run(
        "users",
        "create",
        "ada@example.com",
        "--password",
        "a-long-password",
        "--prompt-password",
        input="x\n",
    )

    assert result.exit_code == 2
    assert "either --password or --prompt-password" in single_error_line(result)
    assert not cli.database_path.exists()


async def test_an_unexpected_error_is_one_line_that_points_at_debug(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object) -> None:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(workspace_service, "list_workspaces", broken)

    result = await cli.run("workspaces", "list")

    assert result.exit_code == 1
    assert single_error_line(result) == (
        "error: unexpected RuntimeError: disk on fire: "
        "run it again as `supportdesk --debug ...` to see the traceback"
    )


async def test_serve_refuses_an_unmigrated_database(
    backend_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(args))
    monkeypatch.setenv("SUPPORTDESK_AUTO_MIGRATE", "false")

    result = await backend_cli.run("serve")

    assert result.exit_code == 1
    assert single_error_line(result) == NOT_MIGRATED
    assert started == []


async def test_serve_migrates_once_then_starts(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *_args, **kwargs: started.append(kwargs))
    # Set here so the test restores it: serve turns it off for the server processes it starts.
    monkeypatch.setenv("SUPPORTDESK_AUTO_MIGRATE", "true")

    result = await cli.run("serve", "--port", "8123")

    assert result.exit_code == 0, result.output
    assert [kwargs["port"] for kwargs in started] == [8123]
    assert (await cli.run("db", "current")).exit_code == 0
