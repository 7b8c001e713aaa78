"""``supportdesk db backup`` and ``db restore`` on SQLite and on PostgreSQL.

A backup taken while tickets are being written holds everything committed before it began, in whole
transactions, and the server starts on the database it restores to. Every refusal is one line.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from supportdesk.cli import backups
from supportdesk.db import migrate
from supportdesk.db.engine import create_engine
from tests.fixtures.database import EngineRegistry, make_settings

from .conftest import Cli, single_error_line

HEAD = migrate.head_revision()
PREVIOUS = migrate.history()[-1].previous
TAGS = ["billing", "export"]
SQLITE_ONLY = pytest.mark.parametrize("db_backend", [pytest.param("sqlite", id="sqlite")])
POSTGRESQL_ONLY = pytest.mark.parametrize(
    "db_backend", [pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)]
)


@pytest.fixture
async def empty_url(cli: Cli, db_backend: str, engine_registry: EngineRegistry) -> str:
    """A second database on the test's backend, empty, to restore into."""
    if db_backend == "sqlite":
        return f"sqlite+aiosqlite:///{cli.database_path.with_name('restored.db')}"
    return await engine_registry.url_for("postgresql", purpose="cli_restored")


@pytest.fixture
def backup_file(tmp_path: Path) -> Path:
    return tmp_path / "supportdesk.backup"


def use_database(cli: Cli, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the command, and the app the test builds, at another database from now on."""
    cli.url = url
    monkeypatch.setenv("SUPPORTDESK_DATABASE_URL", url)


async def admin_token(cli: Cli) -> str:
    created = await cli.run("users", "create", "ada@example.com", "--role", "admin", "--workspace", "acme")
    assert created.exit_code == 0, created.output
    token = await cli.run("tokens", "create", "ada@example.com")
    assert token.exit_code == 0, token.output
    return token.stdout.strip()


@dataclass
class TicketWriter:
    """Creates tickets through the API, one after the other, until told to stop."""

    api: httpx.AsyncClient
    written: list[int] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    wrote: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        # Each ticket is one transaction: the workspace's counter, the ticket, its tags, a customer on
        # first contact and the audit events. A copy that cut one in half would show in the checks.
        while not self.stopping.is_set():
            index = len(self.written)
            body = {"title": f"Ticket {index}", "customer_email": f"c{index % 4}@example.com", "tags": TAGS}
            response = await self.api.post("/api/v1/tickets", json=body)
            assert response.status_code == 201, response.text
            self.written.append(int(response.json()["id"]))
            self.wrote.set()

    async def wait_for(self, count: int) -> None:
        """Until ``count`` tickets are written in all."""
        async with asyncio.timeout(10):
            while len(self.written) < count:
                self.wrote.clear()
                await self.wrote.wait()


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def backups_in(folder: Path) -> list[str]:
    """The files whose name says backup, finished or not."""
    return [name for name in files_in(folder) if "backup" in name]


def content(path: Path) -> bytes:
    return path.read_bytes()


def write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    path.write_bytes(data)
    path.chmod(mode)


@asynccontextmanager
async def uncommitted_counter_bump(url: str) -> AsyncIterator[None]:
    """Hold a transaction that moved the workspace's ticket counter, and roll it back on leaving."""
    engine = create_engine(make_settings(url), url=url)
    try:
        async with engine.connect() as connection:
            transaction = await connection.begin()
            await connection.execute(
                text("UPDATE workspace SET ticket_counter = ticket_counter + 1000 WHERE slug = 'acme'")
            )
            try:
                yield
            finally:
                await transaction.rollback()
    finally:
        await engine.dispose()


@dataclass
class Restored:
    """What the restored database holds of the tickets, read with plain SQL."""

    numbers: dict[int, int]  # ticket id: ticket number
    counter: int  # the workspace's ticket counter
    created_events: set[int]  # tickets with their "created" audit event
    tag_counts: dict[int, int]  # ticket id: how many tags it has


async def read_restored(url: str) -> Restored:
    engine = create_engine(make_settings(url), url=url)
    try:
        async with engine.connect() as connection:
            numbers = {
                int(id_): int(number)
                for id_, number in await connection.execute(text("SELECT id, number FROM ticket"))
            }
            counter = (
                await connection.execute(text("SELECT ticket_counter FROM workspace WHERE slug = 'acme'"))
            ).scalar_one()
            created = await connection.execute(
                text("SELECT object_id FROM audit_event WHERE object_type = 'ticket' AND action = 'created'")
            )
            tags = await connection.execute(
                text("SELECT ticket_id, count(*) FROM ticket_tag GROUP BY ticket_id")
            )
            return Restored(
                numbers=numbers,
                counter=int(counter),
                created_events={int(id_) for id_ in created.scalars()},
                tag_counts={int(id_): int(count) for id_, count in tags},
            )
    finally:
        await engine.dispose()


async def test_a_backup_taken_while_tickets_are_written_restores_what_was_committed_before_it(
    migrated_cli: Cli, empty_url: str, backup_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = migrated_cli
    token = await admin_token(cli)
    async with cli.api(token) as api:
        writer = TicketWriter(api)
        task = asyncio.create_task(writer.run())
        await writer.wait_for(5)
        committed = list(writer.written)
        # Writes that are in flight when the copy starts must be left out whole. Whether the writer is
        # inside one at that instant is luck, so one is held open across the backup for certain.
        async with uncommitted_counter_bump(cli.database_url):
            result = await cli.run("db", "backup", str(backup_file))
        # Writing goes on after the backup too, so there are rows the copy must not hold.
        await writer.wait_for(len(writer.written) + 3)
        writer.stopping.set()
        await task
    written = writer.written

    assert result.exit_code == 0, result.output
    assert result.stdout == f"backup of revision {HEAD} written to {backup_file}\n"
    # It holds password and token hashes: only its owner may read it.
    assert file_mode(backup_file) == 0o600

    use_database(cli, empty_url, monkeypatch)
    restored = await cli.run("db", "restore", str(backup_file))
    current = await cli.run("db", "current")

    assert restored.exit_code == 0, restored.output
    assert restored.stdout == f"restored revision {HEAD} from {backup_file} (up to date)\n"
    assert current.exit_code == 0, current.output
    assert current.stdout == f"{HEAD} (up to date)\n"
    found = await read_restored(empty_url)
    assert set(committed) <= set(found.numbers) <= set(written)
    # Whole transactions only: numbers without a gap up to the counter (which the open transaction
    # had moved by 1,000), and every ticket with its audit event and its tags.
    assert sorted(found.numbers.values()) == list(range(1, found.counter + 1))
    assert found.created_events == set(found.numbers)
    assert found.tag_counts == dict.fromkeys(found.numbers, len(TAGS))
    async with cli.api(token) as api:
        ready = await api.get("/readyz")
        last = await api.get(f"/api/v1/tickets/{committed[-1]}")
    assert ready.status_code == 200, ready.text
    assert last.status_code == 200, last.text
    assert sorted(last.json()["tags"]) == TAGS


@SQLITE_ONLY
async def test_a_backup_of_an_older_revision_is_restored_at_it_then_upgraded(
    backend_cli: Cli, empty_url: str, backup_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert PREVIOUS is not None
    assert (await backend_cli.run("db", "upgrade", PREVIOUS)).exit_code == 0
    assert (await backend_cli.run("db", "backup", str(backup_file))).exit_code == 0

    use_database(backend_cli, empty_url, monkeypatch)
    restored = await backend_cli.run("db", "restore", str(backup_file))
    behind = await backend_cli.run("db", "current")
    upgraded = await backend_cli.run("db", "upgrade")
    current = await backend_cli.run("db", "current")

    assert restored.exit_code == 0, restored.output
    assert restored.stdout == (
        f"restored revision {PREVIOUS} from {backup_file} (behind; newest is {HEAD}): "
        "run `supportdesk db upgrade`\n"
    )
    assert (behind.exit_code, behind.stdout) == (1, f"{PREVIOUS} (behind; newest is {HEAD})\n")
    assert upgraded.exit_code == 0, upgraded.output
    assert current.exit_code == 0, current.output


@SQLITE_ONLY
async def test_an_existing_file_is_kept_unless_forced(migrated_cli: Cli, backup_file: Path) -> None:
    write(backup_file, b"an older backup")

    refused = await migrated_cli.run("db", "backup", str(backup_file))

    assert refused.exit_code == 1
    assert single_error_line(refused) == (
        f"error: {backup_file} already exists: choose another name, or add --force to overwrite it"
    )
    assert content(backup_file) == b"an older backup"

    forced = await migrated_cli.run("db", "backup", str(backup_file), "--force")

    assert forced.exit_code == 0, forced.output
    assert content(backup_file).startswith(b"SQLite format 3\x00")
    # Nothing is left beside it: the copy was written under another name and then took this one.
    assert backups_in(backup_file.parent) == [backup_file.name]


@SQLITE_ONLY
async def test_a_folder_that_does_not_exist_is_named(migrated_cli: Cli, tmp_path: Path) -> None:
    result = await migrated_cli.run("db", "backup", str(tmp_path / "missing" / "supportdesk.backup"))

    assert result.exit_code == 1
    assert single_error_line(result) == (
        f"error: the folder {tmp_path / 'missing'} does not exist: create it, or write the backup elsewhere"
    )


async def test_restoring_into_a_database_that_holds_tables_is_refused(
    migrated_cli: Cli, backup_file: Path, db_backend: str
) -> None:
    await admin_token(migrated_cli)
    assert (await migrated_cli.run("db", "backup", str(backup_file))).exit_code == 0
    assert (
        await migrated_cli.run("users", "create", "sam@example.com", "--workspace", "acme")
    ).exit_code == 0

    result = await migrated_cli.run("db", "restore", str(backup_file))

    assert result.exit_code == 1
    line = single_error_line(result)
    if db_backend == "sqlite":
        assert line.startswith(
            f"error: the SQLite database {migrated_cli.database_path} is not empty (it has "
        )
        assert line.endswith(
            "restore only into an empty database; "
            "point SUPPORTDESK_DATABASE_URL at a new file, or move this one away"
        )
    else:
        assert line.startswith("error: the database 'supportdesk_test_")
        assert line.endswith(
            "restore only into an empty database; "
            "create one (`createdb NAME`) and point SUPPORTDESK_DATABASE_URL at it"
        )
    assert "tables: alembic_version, api_token, attachment, ...)" in line
    # Nothing was restored over it: the user added after the backup is still there.
    listed = await migrated_cli.run("users", "list", "--json")
    assert "sam@example.com" in listed.stdout


@SQLITE_ONLY
async def test_restoring_into_a_file_that_exists_but_holds_no_table(
    migrated_cli: Cli, empty_url: str, backup_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await migrated_cli.run("db", "backup", str(backup_file))).exit_code == 0
    use_database(migrated_cli, empty_url, monkeypatch)
    # `db current` opens the file, which creates it (in WAL mode) without any table.
    assert (await migrated_cli.run("db", "current")).exit_code == 1

    result = await migrated_cli.run("db", "restore", str(backup_file))

    assert result.exit_code == 0, result.output
    assert (await migrated_cli.run("db", "current")).exit_code == 0


@pytest.mark.parametrize(
    ("command", "tool"),
    [pytest.param("backup", "pg_dump", id="backup"), pytest.param("restore", "pg_restore", id="restore")],
)
async def test_a_missing_postgresql_client_tool_is_named(
    cli: Cli, backup_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, tool: str
) -> None:
    # The tool is looked for before the server: this one need not exist.
    monkeypatch.setenv("SUPPORTDESK_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:1/supportdesk")
    if command == "restore":
        write(backup_file, b"PGDMP" + bytes(64))
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    monkeypatch.setenv("PATH", str(empty_path))

    result = await cli.run("db", command, str(backup_file))

    assert result.exit_code == 1
    assert single_error_line(result) == (
        f"error: {tool} is not on PATH, and PostgreSQL backups and restores need it: install the "
        "PostgreSQL client tools (the server's version or newer), or add their folder to PATH"
    )
    assert backups_in(tmp_path) == ([backup_file.name] if command == "restore" else [])


async def test_a_backup_of_the_other_database_kind_is_refused(
    migrated_cli: Cli, backup_file: Path, db_backend: str
) -> None:
    if db_backend == "sqlite":
        write(backup_file, b"PGDMP" + bytes(64))
        found, configured = "PostgreSQL", "SQLite"
    else:
        with closing(sqlite3.connect(backup_file)) as other:
            other.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        found, configured = "SQLite", "PostgreSQL"

    result = await migrated_cli.run("db", "restore", str(backup_file))

    assert result.exit_code == 1
    assert single_error_line(result) == (
        f"error: {backup_file} is a backup of a {found} database, and the configured database is "
        f"{configured}: point SUPPORTDESK_DATABASE_URL at an empty {found} database"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "there is no file {file}", id="missing"),
        pytest.param(b"name,email\n", "{file} is neither a SQLite database nor a pg_dump archive", id="csv"),
    ],
)
@SQLITE_ONLY
async def test_a_file_that_is_not_a_backup_is_refused(
    migrated_cli: Cli, backup_file: Path, content: bytes | None, message: str
) -> None:
    if content is not None:
        write(backup_file, content)

    result = await migrated_cli.run("db", "restore", str(backup_file))

    assert result.exit_code == 1
    assert single_error_line(result) == (
        f"error: {message.format(file=backup_file)}: name a file that `supportdesk db backup` wrote"
    )


@SQLITE_ONLY
async def test_a_backup_from_a_newer_release_is_refused(
    migrated_cli: Cli, empty_url: str, backup_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await migrated_cli.run("db", "backup", str(backup_file))).exit_code == 0
    with closing(sqlite3.connect(backup_file)) as copy, copy:
        copy.execute("UPDATE alembic_version SET version_num = '9999'")
    use_database(migrated_cli, empty_url, monkeypatch)

    result = await migrated_cli.run("db", "restore", str(backup_file))

    assert result.exit_code == 1
    assert single_error_line(result) == (
        f"error: {backup_file} is at revision 9999, which this version does not know (newest is {HEAD}): "
        "restore it with the supportdesk release that wrote it"
    )
    assert "restored.db" not in files_in(backup_file.parent)


async def test_an_unmigrated_database_is_not_backed_up(
    backend_cli: Cli, backup_file: Path, db_backend: str
) -> None:
    if db_backend == "sqlite":
        backend_cli.database_path.touch()
        database = f"the SQLite database {backend_cli.database_path}"
    else:
        database = f"the database '{backend_cli.database_url.rsplit('/', 1)[-1]}'"

    result = await backend_cli.run("db", "backup", str(backup_file))

    assert result.exit_code == 1
    assert single_error_line(result) == (
        f"error: {database} is not migrated, so there is nothing to back up: fix SUPPORTDESK_DATABASE_URL"
    )
    assert backups_in(backup_file.parent) == []


async def test_a_missing_sqlite_database_is_not_created_by_a_backup(cli: Cli, backup_file: Path) -> None:
    result = await cli.run("db", "backup", str(backup_file))

    assert result.exit_code == 1
    assert single_error_line(result) == (
        f"error: there is no SQLite database at {cli.database_path}: fix SUPPORTDESK_DATABASE_URL"
    )
    assert files_in(backup_file.parent) == []


@pytest.mark.parametrize(
    ("stderr", "explained"),
    [
        # What a pg_dump older than the server says.
        pytest.param(
            "pg_dump: error: aborting because of server version mismatch\n"
            "pg_dump: detail: server version: 17.2; pg_dump version: 13.1",
            "aborting because of server version mismatch; server version: 17.2; pg_dump version: 13.1): "
            "install the PostgreSQL client tools (the server's version or newer)",
            id="too-old",
        ),
        pytest.param(
            "out of memory",
            "out of memory): nothing was written; fix that and back up again",
            id="other",
        ),
    ],
)
@POSTGRESQL_ONLY
async def test_a_failing_pg_dump_leaves_no_file_and_says_why(
    migrated_cli: Cli,
    backup_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stderr: str,
    explained: str,
) -> None:
    # It fails after writing part of the file it was given.
    fake = tmp_path / "bin" / "pg_dump"
    fake.parent.mkdir()
    script = (
        "#!/bin/sh\n"
        'for argument; do case "$argument" in --file=*) echo half > "${argument#--file=}";; esac; done\n'
        f"cat >&2 <<'END'\n{stderr}\nEND\n"
        "exit 1\n"
    )
    write(fake, script.encode(), mode=0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")

    result = await migrated_cli.run("db", "backup", str(backup_file))

    assert result.exit_code == 1
    assert single_error_line(result) == f"error: pg_dump failed ({explained}"
    assert backups_in(backup_file.parent) == []


@SQLITE_ONLY
async def test_the_database_itself_is_never_the_backup_file(migrated_cli: Cli) -> None:
    result = await migrated_cli.run("db", "backup", "supportdesk.db", "--force")

    assert result.exit_code == 1
    assert single_error_line(result) == (
        "error: supportdesk.db is the database itself: write the backup to another file"
    )
    assert (await migrated_cli.run("db", "current")).exit_code == 0


async def test_a_file_that_is_not_a_sqlite_database_is_named(cli: Cli, backup_file: Path) -> None:
    write(cli.database_path, b"name,email\n" * 100)

    result = await cli.run("db", "backup", str(backup_file))

    assert result.exit_code == 1
    assert single_error_line(result) == (
        f"error: cannot copy the SQLite database {cli.database_path} (file is not a database): "
        "check that it is one, or fix SUPPORTDESK_DATABASE_URL"
    )
    assert backups_in(backup_file.parent) == []


@SQLITE_ONLY
async def test_a_damaged_backup_is_not_restored(
    migrated_cli: Cli, empty_url: str, backup_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await migrated_cli.run("db", "backup", str(backup_file))).exit_code == 0
    whole = content(backup_file)
    # The header survives, the pages after it do not.
    write(backup_file, whole[:100] + bytes(len(whole) - 100))
    use_database(migrated_cli, empty_url, monkeypatch)

    result = await migrated_cli.run("db", "restore", str(backup_file))

    assert result.exit_code == 1
    line = single_error_line(result)
    assert line.startswith(f"error: {backup_file} is damaged (")
    assert line.endswith("): restore another backup")
    assert "restored.db" not in files_in(backup_file.parent)


def test_the_postgresql_tools_get_the_connection_in_their_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGHOST", "somewhere-else")
    monkeypatch.setenv("PGAPPNAME", "kept")
    loaded = make_settings("postgresql+asyncpg://sd:s3cret@db.example.internal:6543/helpdesk?ssl=verify-full")

    environment = backups._libpq_environment(loaded)

    # The URL wins over what the shell had set; the rest of the shell's environment stays.
    names = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE", "PGAPPNAME")
    assert {name: environment.get(name) for name in names} == {
        "PGHOST": "db.example.internal",
        "PGPORT": "6543",
        "PGUSER": "sd",
        "PGPASSWORD": "s3cret",
        "PGDATABASE": "helpdesk",
        "PGSSLMODE": "verify-full",
        "PGAPPNAME": "kept",
    }
