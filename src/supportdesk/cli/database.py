"""``supportdesk db``: the database schema, and copies of the whole database."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from supportdesk.cli.backups import backup, restore
from supportdesk.cli.common import Cell, out, print_rows, settings
from supportdesk.cli.errors import fail
from supportdesk.config import Settings
from supportdesk.db import migrate
from supportdesk.db.engine import create_engine

db_app = typer.Typer(help="Database schema, backups and restores.", no_args_is_help=True)

BASE = "base"


async def upgrade_to(loaded: Settings, revision: str) -> str | None:
    """Migrate to ``revision`` and return the revision the database is at afterwards."""
    engine = create_engine(loaded)
    try:
        await migrate.upgrade(engine, revision)
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()


async def downgrade_to(loaded: Settings, revision: str) -> str | None:
    """Undo migrations down to ``revision`` and return the revision the database is at afterwards."""
    engine = create_engine(loaded)
    try:
        await migrate.downgrade(engine, revision)
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()


async def current_of(loaded: Settings) -> str | None:
    """The revision the configured database is at (``None`` when it was never migrated)."""
    engine = create_engine(loaded)
    try:
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    reached = asyncio.run(upgrade_to(settings(), revision))
    out.print(f"database at revision {reached}", highlight=False)


@db_app.command("current")
def db_current() -> None:
    """Show the revision the database is at, and whether it is the newest; exit 1 unless it is."""
    revision = asyncio.run(current_of(settings()))
    head = migrate.head_revision()
    if revision == head:
        out.print(f"{revision} (up to date)", highlight=False)
        return
    if revision is None:
        out.print(f"not migrated (newest is {head})", highlight=False)
    elif revision in migrate.revisions():
        out.print(f"{revision} (behind; newest is {head})", highlight=False)
    else:
        out.print(f"{revision} (unknown to this version; newest is {head})", highlight=False)
    raise typer.Exit(1)


@db_app.command("history")
def db_history(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array instead of columns.")] = False,
) -> None:
    """List the migrations, oldest first: applied, current (the database's) or pending."""
    revision = asyncio.run(current_of(settings()))
    known = migrate.history()
    ids = [item.id for item in known]
    if revision is None:
        reached = -1
    elif revision in ids:
        reached = ids.index(revision)
    else:
        # A revision this version does not know was made by a newer release, which applied all of ours.
        reached = len(ids)
    rows: list[dict[str, Cell]] = [
        {
            "revision": item.id,
            "state": "current" if index == reached else "applied" if index < reached else "pending",
            "description": item.description,
        }
        for index, item in enumerate(known)
    ]
    if revision is not None and revision not in ids:
        rows.append(
            {
                "revision": revision,
                "state": "current",
                "description": "unknown to this version: a newer release migrated the database",
            }
        )
    print_rows(rows, ["revision", "state", "description"], as_json=as_json)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str | None,
        typer.Argument(help="Target revision (default: the one before the database's).", show_default=False),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Downgrade without asking first.")] = False,
) -> None:
    """Undo migrations down to REVISION; this drops what they added, with its data."""
    loaded = settings()
    known = migrate.history()
    by_id = {item.id: item for item in known}
    first, head = known[0].id, known[-1].id
    below_first = (
        f"revision {first} is the first; undoing it would remove every table: "
        "to start afresh, point SUPPORTDESK_DATABASE_URL at an empty database instead"
    )
    if revision == BASE:
        fail(below_first)
    if revision is not None and revision not in by_id:
        fail(
            f"there is no revision {revision!r} (this version has {first} to {head}): "
            "see `supportdesk db history`"
        )
    current = asyncio.run(current_of(loaded))
    if current is None:
        fail("the database is not migrated (it is at no revision): there is nothing to undo")
    if current not in by_id:
        fail(
            f"the database is at revision {current}, which this version does not know (newest is {head}): "
            "downgrade it with the supportdesk release that migrated it"
        )
    target = revision if revision is not None else by_id[current].previous
    if target is None:
        fail(below_first)
    ids = list(by_id)
    if target == current:
        out.print(f"the database is already at revision {current}; nothing to undo", highlight=False)
        return
    if ids.index(target) > ids.index(current):
        fail(
            f"revision {target} is newer than the database's ({current}): "
            f"to go forward, run `supportdesk db upgrade {target}`"
        )
    undone = [by_id[id_] for id_ in reversed(ids[ids.index(target) + 1 : ids.index(current) + 1])]
    for item in undone:
        if item.irreversible is not None:
            fail(
                f"revision {item.id} cannot be undone ({item.irreversible}): "
                "restore the backup taken before the upgrade instead (`supportdesk db restore FILE`)"
            )
    if not yes:
        for item in undone:
            out.print(f"undo {item.id}  {item.description}", highlight=False, markup=False)
        out.print(
            "Undoing a revision drops the tables and columns it added, with their data; "
            "`supportdesk db backup FILE` keeps a copy first.",
            highlight=False,
            markup=False,
        )
        typer.confirm(f"Downgrade the database from {current} to {target}?", abort=True)
    reached = asyncio.run(downgrade_to(loaded, target))
    out.print(
        f"database at revision {reached}: serve it with the supportdesk release that uses that revision "
        f"(this one needs {head})",
        highlight=False,
    )


# Registered last, so that --help lists them after the schema commands.
db_app.command("backup")(backup)
db_app.command("restore")(restore)
