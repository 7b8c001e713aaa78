"""What the command groups share: settings, the database, finding a staff user, printing lists."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from supportdesk.cli.errors import fail, missing_sqlite_folder, remember_database
from supportdesk.config import Settings, load_settings
from supportdesk.core.emails import validate_email_detailed
from supportdesk.db import migrate
from supportdesk.db.engine import create_engine
from supportdesk.db.objects import build_object_cache
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace

if TYPE_CHECKING:
    from supportdesk.people.models import User

out = Console(soft_wrap=True)
T = TypeVar("T")
Cell = str | int | bool | datetime | Enum | None

UPGRADE_HINT = "run `supportdesk db upgrade`"


def settings() -> Settings:
    """The settings (a bad one ends the command with status 2), remembering which database they name."""
    loaded = load_settings()
    remember_database(loaded.database_url)
    if (missing := missing_sqlite_folder(loaded.database_url)) is not None:
        raise missing
    return loaded


async def require_current_schema(engine: AsyncEngine) -> None:
    """Refuse a database at any revision but the newest, saying what to do about it."""
    revision = await migrate.current_revision(engine)
    head = migrate.head_revision()
    if revision == head:
        return
    if revision is None:
        fail(f"the database is not migrated (it is at no revision; newest is {head}): {UPGRADE_HINT}")
    if revision in migrate.revisions():
        fail(f"the database is at revision {revision}, behind the newest ({head}): {UPGRADE_HINT}")
    fail(
        f"the database is at revision {revision}, which this version does not know (newest is {head}): "
        "install the supportdesk release that migrated it"
    )


def run_with_database(work: Callable[[Database, Settings], Awaitable[T]]) -> T:
    """Run ``work`` on the configured database: migrated first if ``SUPPORTDESK_AUTO_MIGRATE`` says so,
    otherwise refused unless it is at the newest revision (a missing table would be a worse message)."""
    loaded = settings()

    async def runner() -> T:
        database = Database(create_engine(loaded))
        # What a command changes (a deactivation, a new role) is forgotten in the servers' object cache
        # when they share one through Redis; a memory cache is out of reach (decision 0045).
        shared = database.objects.cache = build_object_cache(loaded, shared_only=True)
        try:
            if loaded.migrate_at_startup:
                await migrate.upgrade(database.engine)
            else:
                await require_current_schema(database.engine)
            return await work(database, loaded)
        finally:
            if shared is not None:
                await shared.aclose()
            await database.dispose()

    return asyncio.run(runner())


def checked_email(email: str) -> str:
    """The normalised address, or a one-line error giving the reason it is not one."""
    result = validate_email_detailed(email)
    if not result.is_valid or result.normalized is None:
        fail(f"invalid e-mail address {email!r} ({result.error_code}): {result.message}")
    return result.normalized


async def find_user(session: AsyncSession, email: str, workspace: str | None) -> User:
    """The staff user with ``email`` (in ``workspace``, needed only when the address is staff in several),
    active or not; the session is scoped to their workspace from then on, as an API request's would be."""
    from supportdesk.people import service as people_service
    from supportdesk.workspaces import service as workspace_service

    address = checked_email(email)
    users = await people_service.find_users_by_email(session, address)
    if workspace is not None:
        found = await workspace_service.get_workspace_by_slug(session, workspace)
        if found is None:
            fail(f"no workspace {workspace!r}: see `supportdesk workspaces list`")
        users = [user for user in users if user.workspace_id == found.id]
        if not users:
            fail(f"no staff user {address} in workspace {workspace}: see `supportdesk users list`")
    if not users:
        fail(f"no staff user {address}: see `supportdesk users list`")
    if len(users) > 1:
        slugs = [(await workspace_service.get_workspace(session, user.workspace_id)).slug for user in users]
        fail(f"{address} is staff in several workspaces ({', '.join(slugs)}): add --workspace SLUG")
    user = users[0]
    scope_to_workspace(session.sync_session, user.workspace_id)
    return user


def print_rows(rows: Sequence[dict[str, Cell]], columns: Sequence[str], *, as_json: bool) -> None:
    """One row per item in aligned columns under a heading, or (``--json``) a JSON array of objects."""
    if as_json:
        typer.echo(json.dumps([{key: json_value(row[key]) for key in columns} for row in rows], indent=2))
        return
    table = [[column.upper() for column in columns], *([_text(row[key]) for key in columns] for row in rows)]
    widths = [max(len(line[index]) for line in table) for index in range(len(columns))]
    for line in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def json_value(value: Cell) -> str | int | bool | None:
    """``value`` as JSON holds it: times in ISO 8601, enums by value."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    return value


def _text(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)
