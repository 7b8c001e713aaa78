"""``supportdesk db backup`` and ``db restore``: the whole database in one file, and back.

Each database is copied with its own tools, which read one consistent snapshot while the server keeps
writing. SQLite's online backup API copies every page inside one read transaction; in WAL mode the
server's writer does not wait for it, nor it for the writer. PostgreSQL's ``pg_dump`` reads everything in
one transaction and writes its custom format, which ``pg_restore`` loads in one transaction, so a restore
that fails leaves the database as empty as it found it.

A restore only goes into an empty database: overwriting or merging into live data is too easy to do by
mistake and impossible to take back.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, make_url

from supportdesk.cli.common import UPGRADE_HINT, out, settings
from supportdesk.cli.errors import FIX_URL, fail
from supportdesk.config import Settings
from supportdesk.db import migrate
from supportdesk.db.engine import create_engine

SQLITE_HEADER = b"SQLite format 3\x00"
PG_DUMP_HEADER = b"PGDMP"
# libpq's sslmode values; asyncpg URLs carry the same names as ``ssl`` or ``sslmode``.
SSL_MODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
CLIENT_TOOLS = "the PostgreSQL client tools (the server's version or newer)"
WROTE_BY_BACKUP = "name a file that `supportdesk db backup` wrote"


def backup(
    file: Annotated[Path, typer.Argument(help="The file to write.", dir_okay=False, show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Copy the whole database into FILE while the server keeps running (PostgreSQL: needs pg_dump)."""
    loaded = settings()
    if file.exists() and not force:
        fail(f"{file} already exists: choose another name, or add --force to overwrite it")
    if not file.parent.is_dir():
        fail(f"the folder {file.parent} does not exist: create it, or write the backup elsewhere")
    revision = _backup_sqlite(loaded, file) if loaded.is_sqlite else _backup_postgresql(loaded, file)
    out.print(f"backup of revision {revision} written to {file}", highlight=False)


def restore(
    file: Annotated[
        Path, typer.Argument(help="A file `supportdesk db backup` wrote.", dir_okay=False, show_default=False)
    ],
) -> None:
    """Load FILE into the configured database, which must be empty (PostgreSQL: needs pg_restore)."""
    loaded = settings()
    found = _backup_kind(file)
    configured = "SQLite" if loaded.is_sqlite else "PostgreSQL"
    if found != configured:
        fail(
            f"{file} is a backup of a {found} database, and the configured database is {configured}: "
            f"point SUPPORTDESK_DATABASE_URL at an empty {found} database"
        )
    revision = _restore_sqlite(loaded, file) if loaded.is_sqlite else _restore_postgresql(loaded, file)
    head = migrate.head_revision()
    if revision == head:
        out.print(f"restored revision {revision} from {file} (up to date)", highlight=False)
    else:
        out.print(
            f"restored revision {revision} from {file} (behind; newest is {head}): {UPGRADE_HINT}",
            highlight=False,
        )


@contextmanager
def _replacing(file: Path) -> Iterator[Path]:
    """A new file beside ``file`` that takes its name only once the block succeeds, so that a failed or
    interrupted backup never leaves a partial copy under the name one would restore from, nor destroys
    the older file that ``--force`` was going to replace."""
    try:
        # mkstemp makes a file only its owner may read, which suits a copy of password and token hashes.
        handle, name = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".partial")
    except OSError as error:
        fail(
            f"cannot write in {file.parent} ({error.strerror}): "
            "write the backup to a folder this user may write to"
        )
    os.close(handle)
    partial = Path(name)
    try:
        yield partial
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)


def _backup_kind(file: Path) -> str:
    """Which database ``file`` is a backup of, read from its first bytes."""
    if not file.is_file():
        fail(f"there is no file {file}: {WROTE_BY_BACKUP}")
    try:
        with file.open("rb") as stream:
            header = stream.read(len(SQLITE_HEADER))
    except OSError as error:
        fail(f"cannot read {file} ({error.strerror}): run the restore as a user who may read it")
    if header.startswith(SQLITE_HEADER):
        return "SQLite"
    if header.startswith(PG_DUMP_HEADER):
        return "PostgreSQL"
    fail(f"{file} is neither a SQLite database nor a pg_dump archive: {WROTE_BY_BACKUP}")


def _known_revision(revision: str | None, file: Path) -> str:
    """The backup's revision, if this version can upgrade a database from it."""
    head = migrate.head_revision()
    if revision is None:
        fail(f"{file} holds no supportdesk schema (it was never migrated): {WROTE_BY_BACKUP}")
    if revision not in migrate.revisions():
        fail(
            f"{file} is at revision {revision}, which this version does not know (newest is {head}): "
            "restore it with the supportdesk release that wrote it"
        )
    return revision


def _not_empty(database: str, tables: list[str], step: str) -> str:
    shown = ", ".join(tables[:3]) + (", ..." if len(tables) > 3 else "")
    count = f"{len(tables)} table{'s' if len(tables) != 1 else ''}"
    return f"{database} is not empty (it has {count}: {shown}): restore only into an empty database; {step}"


# SQLite


def _sqlite_path(loaded: Settings) -> Path:
    database = make_url(loaded.database_url).database
    if not database or database == ":memory:":
        fail(f"the database is in memory, so there is nothing to copy: {FIX_URL}")
    return Path(database)


def _connect(path: Path, loaded: Settings, *, mode: str = "rwc") -> sqlite3.Connection:
    # A URI, so that opening never creates a file that must exist ("rw") nor writes to a backup ("ro").
    return sqlite3.connect(
        f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=loaded.sqlite_busy_timeout_ms / 1000
    )


def _sqlite_revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None  # no such table: never migrated
    return None if row is None else str(row[0])


def _backup_sqlite(loaded: Settings, file: Path) -> str:
    source = _sqlite_path(loaded)
    if not source.is_file():
        fail(f"there is no SQLite database at {source}: {FIX_URL}")
    if file.resolve() == source.resolve():
        # With --force the copy would take the place of the file the server has open.
        fail(f"{file} is the database itself: write the backup to another file")
    with _replacing(file) as partial:
        try:
            with (
                closing(_connect(source, loaded, mode="rw")) as origin,
                closing(_connect(partial, loaded)) as copy,
            ):
                # All pages in one step (pages=-1, the default) are read in one read transaction: a
                # snapshot of what was committed when it began. Copying in several steps would start over
                # each time the server commits in between, and might never end on a busy server.
                origin.backup(copy)
                # The copy stands alone: outside WAL mode it needs no -wal or -shm file beside it.
                copy.execute("PRAGMA journal_mode = DELETE")
                revision = _sqlite_revision(copy)
        except sqlite3.Error as error:
            fail(f"cannot copy the SQLite database {source} ({error}): check that it is one, or {FIX_URL}")
        if revision is None:
            fail(f"the SQLite database {source} is not migrated, so there is nothing to back up: {FIX_URL}")
    return revision


def _restore_sqlite(loaded: Settings, file: Path) -> str:
    target = _sqlite_path(loaded)
    with closing(_connect(file, loaded, mode="ro")) as copy:
        revision = _checked_backup(copy, file)
        try:
            with closing(_connect(target, loaded)) as database:
                tables = [
                    str(row[0])
                    for row in database.execute(
                        # SQLite's own tables (sqlite_sequence) hold nothing of ours.
                        "SELECT name FROM sqlite_master WHERE type = 'table' "
                        "AND substr(name, 1, 7) != 'sqlite_' ORDER BY name"
                    )
                ]
                if tables:
                    fail(
                        _not_empty(
                            f"the SQLite database {target}",
                            tables,
                            "point SUPPORTDESK_DATABASE_URL at a new file, or move this one away",
                        )
                    )
                # The backup API again: it writes every page in one transaction, so the target is
                # either still empty or a whole copy.
                copy.backup(database)
        except sqlite3.Error as error:
            fail(
                f"cannot restore into the SQLite database {target} ({error}): "
                f"check that this user may write it, or {FIX_URL}"
            )
    return revision


def _checked_backup(copy: sqlite3.Connection, file: Path) -> str:
    """The revision of a SQLite backup whose pages and indexes are intact."""
    try:
        checked = copy.execute("PRAGMA quick_check").fetchone()
        revision = _sqlite_revision(copy)
    except sqlite3.DatabaseError as error:
        fail(f"{file} is damaged ({error}): restore another backup")
    if checked is None or checked[0] != "ok":
        fail(f"{file} is damaged ({checked[0] if checked else 'no answer'}): restore another backup")
    return _known_revision(revision, file)


# PostgreSQL


def _client_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        fail(
            f"{name} is not on PATH, and PostgreSQL backups and restores need it: "
            f"install {CLIENT_TOOLS}, or add their folder to PATH"
        )
    return found


def _libpq_environment(loaded: Settings) -> dict[str, str]:
    """The environment of pg_dump and pg_restore: the connection of SUPPORTDESK_DATABASE_URL in libpq's
    variables, where the password does not show in the process list as an argument would."""
    url = make_url(loaded.database_url)
    environment = dict(os.environ)
    for name, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value is not None:
            environment[name] = str(value)
    ssl = url.query.get("ssl", url.query.get("sslmode"))
    if isinstance(ssl, str) and ssl in SSL_MODES:
        environment["PGSSLMODE"] = ssl
    return environment


def _run_client(tool: str, arguments: list[str], loaded: Settings, *, afterwards: str) -> str:
    """Run a PostgreSQL client tool and return what it printed; on failure, stop with its own message."""
    # --no-password: a tool that cannot log in fails at once instead of waiting for someone to type.
    command = [tool, "--no-password", *arguments]
    result = subprocess.run(  # noqa: S603  (our arguments and no shell)
        command, env=_libpq_environment(loaded), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        name = Path(tool).name
        message = _client_message(name, result.stderr)
        if "version mismatch" in message or "unsupported version" in message:
            afterwards = f"install {CLIENT_TOOLS}"
        fail(f"{name} failed ({message}): {afterwards}")
    return result.stdout


def _client_message(name: str, stderr: str) -> str:
    """The tool's error and detail lines as one, without its ``pg_dump: error:`` prefixes."""
    wanted = [
        line.split(":", 2)[2].strip()
        for line in stderr.splitlines()
        if line.startswith((f"{name}: error:", f"{name}: detail:"))
    ]
    if not wanted:
        wanted = [line.strip() for line in stderr.splitlines() if line.strip()][:1]
    return "; ".join(wanted) or "no message"


def _table_names(connection: Connection) -> list[str]:
    return sorted(inspect(connection).get_table_names())


async def _postgresql_state(loaded: Settings) -> tuple[str | None, list[str]]:
    """The configured database's revision and its tables; reaching it here first means a wrong URL or a
    server that is down gets the same one-line explanation as every other command."""
    engine = create_engine(loaded)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(_table_names)
            return await migrate.revision_on(connection), tables
    finally:
        await engine.dispose()


def _backup_postgresql(loaded: Settings, file: Path) -> str:
    pg_dump = _client_tool("pg_dump")
    revision, _tables = asyncio.run(_postgresql_state(loaded))
    if revision is None:
        database = make_url(loaded.database_url).database
        fail(f"the database {database!r} is not migrated, so there is nothing to back up: {FIX_URL}")
    with _replacing(file) as partial:
        _run_client(
            pg_dump,
            ["--format=custom", f"--file={partial}"],
            loaded,
            afterwards="nothing was written; fix that and back up again",
        )
    return revision


def _archive_revision(pg_restore: str, file: Path, loaded: Settings) -> str | None:
    """The revision stored in a pg_dump archive, read without touching any database."""
    # Given no database, pg_restore prints the archive as SQL; of alembic_version's data, that is a
    # COPY statement followed by the revision's row.
    script = _run_client(
        pg_restore,
        ["--data-only", "--table=alembic_version", "--file=-", str(file)],
        loaded,
        afterwards=WROTE_BY_BACKUP,
    )
    lines = script.splitlines()
    for index, line in enumerate(lines[:-1]):
        if line.startswith("COPY ") and "alembic_version" in line:
            row = lines[index + 1].strip()
            return None if row == "\\." else row
    return None


def _restore_postgresql(loaded: Settings, file: Path) -> str:
    pg_restore = _client_tool("pg_restore")
    revision = _known_revision(_archive_revision(pg_restore, file, loaded), file)
    _revision, tables = asyncio.run(_postgresql_state(loaded))
    database = make_url(loaded.database_url).database or ""
    if tables:
        fail(
            _not_empty(
                f"the database {database!r}",
                tables,
                "create one (`createdb NAME`) and point SUPPORTDESK_DATABASE_URL at it",
            )
        )
    # Objects belong to the role that restores, and no grants are replayed: the roles of the server
    # that was backed up need not exist on this one.
    _run_client(
        pg_restore,
        [
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={database}",
            str(file),
        ],
        loaded,
        afterwards="nothing was restored; fix that and restore again",
    )
    return revision
