"""``supportdesk db history`` and ``db downgrade``, and the way back up, on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import text

from supportdesk.db import migrate
from supportdesk.db.engine import create_engine
from tests.fixtures.database import make_settings

from .conftest import Cli, single_error_line

HISTORY = migrate.history()
FIRST = HISTORY[0].id
HEAD = HISTORY[-1].id
PREVIOUS = HISTORY[-2].id
UPGRADE_LATER = f"(this one needs {HEAD})"
# What the command refuses does not depend on the database: those tests run on SQLite only.
SQLITE_ONLY = pytest.mark.parametrize("db_backend", [pytest.param("sqlite", id="sqlite")])


async def set_revision(cli: Cli, revision: str) -> None:
    """Make the database claim ``revision``, as one a newer release migrated would."""
    engine = create_engine(make_settings(cli.database_url))
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision}
            )
    finally:
        await engine.dispose()


async def test_history_lists_the_revisions_oldest_first_and_marks_the_current_one(
    backend_cli: Cli,
) -> None:
    assert (await backend_cli.run("db", "upgrade", PREVIOUS)).exit_code == 0

    table = await backend_cli.run("db", "history")
    as_json = await backend_cli.run("db", "history", "--json")

    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["REVISION", "STATE", "DESCRIPTION"]
    assert [line.split()[:2] for line in lines[1:]] == [
        *([item.id, "applied"] for item in HISTORY[:-2]),
        [PREVIOUS, "current"],
        [HEAD, "pending"],
    ]
    assert lines[1].endswith(f"  {HISTORY[0].description}")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)[-2:] == [
        {"revision": PREVIOUS, "state": "current", "description": HISTORY[-2].description},
        {"revision": HEAD, "state": "pending", "description": HISTORY[-1].description},
    ]


async def test_history_of_an_unmigrated_database_is_all_pending(cli: Cli) -> None:
    result = await cli.run("db", "history", "--json")

    assert result.exit_code == 0, result.output
    assert {row["state"] for row in json.loads(result.stdout)} == {"pending"}


async def test_history_names_a_revision_from_a_newer_release(migrated_cli: Cli) -> None:
    await set_revision(migrated_cli, "9999")

    result = await migrated_cli.run("db", "history", "--json")

    rows = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert {row["state"] for row in rows[:-1]} == {"applied"}
    assert rows[-1] == {
        "revision": "9999",
        "state": "current",
        "description": "unknown to this version: a newer release migrated the database",
    }


async def test_upgrade_downgrade_upgrade_keeps_the_rows_the_older_schema_holds(migrated_cli: Cli) -> None:
    created = await migrated_cli.run(
        "users", "create", "ada@example.com", "--role", "admin", "--workspace", "acme"
    )
    assert created.exit_code == 0, created.output

    one_back = await migrated_cli.run("db", "downgrade", "--yes")
    to_first = await migrated_cli.run("db", "downgrade", FIRST, "--yes")
    behind = await migrated_cli.run("db", "current")
    upgraded = await migrated_cli.run("db", "upgrade")
    current = await migrated_cli.run("db", "current")
    users = await migrated_cli.run("users", "list", "--json")

    assert one_back.exit_code == 0, one_back.output
    assert one_back.stdout == (
        f"database at revision {PREVIOUS}: serve it with the supportdesk release that uses that revision "
        f"{UPGRADE_LATER}\n"
    )
    assert to_first.exit_code == 0, to_first.output
    assert to_first.stdout.startswith(f"database at revision {FIRST}: ")
    assert (behind.exit_code, behind.stdout) == (1, f"{FIRST} (behind; newest is {HEAD})\n")
    assert upgraded.exit_code == 0, upgraded.output
    assert (current.exit_code, current.stdout) == (0, f"{HEAD} (up to date)\n")
    assert [(user["email"], user["role"]) for user in json.loads(users.stdout)] == [
        ("ada@example.com", "admin")
    ]


@SQLITE_ONLY
async def test_downgrade_asks_first_and_changes_nothing_unless_told_yes(migrated_cli: Cli) -> None:
    declined = await migrated_cli.run("db", "downgrade", input="n\n")
    unchanged = await migrated_cli.run("db", "current")
    accepted = await migrated_cli.run("db", "downgrade", input="y\n")
    current = await migrated_cli.run("db", "current")

    assert declined.exit_code == 1
    assert single_error_line(declined) == "error: aborted; nothing was changed"
    assert declined.stdout.splitlines() == [
        f"undo {HEAD}  {HISTORY[-1].description}",
        "Undoing a revision drops the tables and columns it added, with their data; "
        "`supportdesk db backup FILE` keeps a copy first.",
        # The test runner echoes the answer after the question.
        f"Downgrade the database from {HEAD} to {PREVIOUS}? [y/N]: n",
    ]
    assert unchanged.stdout == f"{HEAD} (up to date)\n"
    assert accepted.exit_code == 0, accepted.output
    assert current.stdout == f"{PREVIOUS} (behind; newest is {HEAD})\n"


@SQLITE_ONLY
async def test_downgrading_to_the_revision_the_database_is_at_does_nothing(migrated_cli: Cli) -> None:
    result = await migrated_cli.run("db", "downgrade", HEAD)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"the database is already at revision {HEAD}; nothing to undo\n"


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param(
            ("9999",),
            f"there is no revision '9999' (this version has {FIRST} to {HEAD}): see `supportdesk db history`",
            id="unknown-revision",
        ),
        pytest.param(
            ("base",),
            f"revision {FIRST} is the first; undoing it would remove every table: "
            "to start afresh, point SUPPORTDESK_DATABASE_URL at an empty database instead",
            id="below-the-first",
        ),
    ],
)
async def test_downgrade_refuses_a_target_it_cannot_reach(
    migrated_cli: Cli, arguments: tuple[str, ...], message: str
) -> None:
    result = await migrated_cli.run("db", "downgrade", *arguments, "--yes")

    assert result.exit_code == 1
    assert single_error_line(result) == f"error: {message}"
    assert (await migrated_cli.run("db", "current")).exit_code == 0


@SQLITE_ONLY
async def test_downgrade_refuses_to_undo_the_first_revision(migrated_cli: Cli) -> None:
    assert (await migrated_cli.run("db", "downgrade", FIRST, "--yes")).exit_code == 0

    result = await migrated_cli.run("db", "downgrade", "--yes")

    assert result.exit_code == 1
    assert single_error_line(result).startswith(f"error: revision {FIRST} is the first; ")


@SQLITE_ONLY
async def test_downgrade_refuses_a_target_newer_than_the_database(migrated_cli: Cli) -> None:
    assert (await migrated_cli.run("db", "downgrade", "--yes")).exit_code == 0

    result = await migrated_cli.run("db", "downgrade", HEAD, "--yes")

    assert result.exit_code == 1
    assert single_error_line(result) == (
        f"error: revision {HEAD} is newer than the database's ({PREVIOUS}): "
        f"to go forward, run `supportdesk db upgrade {HEAD}`"
    )


async def test_downgrade_refuses_an_unmigrated_database(cli: Cli) -> None:
    result = await cli.run("db", "downgrade", "--yes")

    assert result.exit_code == 1
    assert single_error_line(result) == (
        "error: the database is not migrated (it is at no revision): there is nothing to undo"
    )


@SQLITE_ONLY
async def test_downgrade_refuses_a_revision_from_a_newer_release(migrated_cli: Cli) -> None:
    await set_revision(migrated_cli, "9999")

    result = await migrated_cli.run("db", "downgrade", "--yes")

    assert result.exit_code == 1
    assert single_error_line(result) == (
        f"error: the database is at revision 9999, which this version does not know (newest is {HEAD}): "
        "downgrade it with the supportdesk release that migrated it"
    )


@SQLITE_ONLY
async def test_downgrade_refuses_to_pass_a_revision_that_cannot_be_undone(
    migrated_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No revision today is irreversible; one that says so in its module is reported like this.
    marked = [
        dataclasses.replace(item, irreversible="merges two columns") if item.id == PREVIOUS else item
        for item in HISTORY
    ]
    monkeypatch.setattr(migrate, "history", lambda: marked)

    passing = await migrated_cli.run("db", "downgrade", HISTORY[-3].id, "--yes")
    above = await migrated_cli.run("db", "downgrade", "--yes")

    assert passing.exit_code == 1
    assert single_error_line(passing) == (
        f"error: revision {PREVIOUS} cannot be undone (merges two columns): restore the backup taken "
        "before the upgrade instead (`supportdesk db restore FILE`)"
    )
    # Undoing the revisions above it is still allowed.
    assert above.exit_code == 0, above.output
