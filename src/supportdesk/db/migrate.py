"""Applying and inspecting migrations from code: the CLI, the embedded start-up and the tests use this."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for our migrations; ``url`` defaults to the configured database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url)
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest revision in the code.

    Read once per process: Alembic reads it by loading every revision file, which took longer than
    most commands' own work, and the files do not change while the process runs.
    """
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def revisions() -> list[str]:
    """Every revision in the code, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


@dataclass(frozen=True, slots=True)
class Revision:
    """One migration as an operator sees it."""

    id: str
    # The revision its downgrade returns to; None for the first, below which there is no schema.
    previous: str | None
    # The first line of its docstring.
    description: str
    # Why its downgrade cannot undo it, when it cannot: the module says so in ``irreversible``.
    irreversible: str | None


def history() -> list[Revision]:
    """Every revision in the code, oldest first, with what the operator's commands need to know."""
    script = ScriptDirectory.from_config(alembic_config())
    found = []
    for revision in reversed(list(script.walk_revisions())):
        previous = revision.down_revision
        reason = getattr(revision.module, "irreversible", None)
        found.append(
            Revision(
                id=revision.revision,
                # A linear history: no revision of ours merges two others.
                previous=previous if isinstance(previous, str) else None,
                description=revision.doc.strip(),
                irreversible=str(reason) if reason else None,
            )
        )
    return found


def _upgrade_on(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade_on(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


def _current_on(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision``."""
    # Not engine.begin(): env.py begins the one transaction itself, after switching SQLite's foreign
    # keys off, which SQLite only allows outside a transaction.
    async with engine.connect() as connection:
        if revision == "head" and await connection.run_sync(_current_on) == head_revision():
            # Already there, as it is for every command after the first on the embedded database:
            # one query instead of loading every revision file and running the environment script.
            return
        # The look ended the connection's "no transaction" state, which env.py needs.
        await connection.rollback()
        await connection.run_sync(_upgrade_on, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Undo migrations down to ``revision`` (``base`` removes every table)."""
    async with engine.connect() as connection:
        await connection.run_sync(_downgrade_on, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or ``None`` if it was never migrated."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current_on)


async def is_up_to_date(engine: AsyncEngine) -> bool:
    """Whether the database is at the code's newest revision."""
    return await current_revision(engine) == head_revision()


async def revision_on(connection: AsyncConnection) -> str | None:
    """The revision seen through an open connection (inside whatever transaction it has)."""
    return await connection.run_sync(_current_on)
