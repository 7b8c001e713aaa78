"""``supportdesk db``: the database schema."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from supportdesk.cli.common import out, settings
from supportdesk.config import Settings
from supportdesk.db import migrate
from supportdesk.db.engine import create_engine

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


async def upgrade_to(loaded: Settings, revision: str) -> str | None:
    """Migrate to ``revision`` and return the revision the database is at afterwards."""
    engine = create_engine(loaded)
    try:
        await migrate.upgrade(engine, revision)
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
    loaded = settings()

    async def current() -> str | None:
        engine = create_engine(loaded)
        try:
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    revision = asyncio.run(current())
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
