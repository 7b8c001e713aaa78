"""Alembic environment: runs migrations on a connection we are handed, or on a fresh engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from supportdesk.config import get_settings
from supportdesk.db.engine import create_engine
from supportdesk.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    """Run the migrations in one transaction of their own on ``connection`` (which must not be in one)."""
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite changes a table's key or constraints by copying it and dropping the original (batch
        # mode, or revision 0008's rebuild). With foreign keys on, that drop deletes (ON DELETE
        # CASCADE) or nulls every row pointing at the table, so they are off while migrating. SQLite
        # only switches them between transactions, hence before BEGIN.
        _set_sqlite_foreign_keys(connection, enabled=False)
    try:
        with connection.begin():
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=sqlite,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                # What was not enforced along the way is checked once before anything is committed.
                _check_sqlite_foreign_keys(connection)
    finally:
        if sqlite:
            # The connection goes back to the pool, whose users rely on the pragma the engine set.
            _set_sqlite_foreign_keys(connection, enabled=True)


def _set_sqlite_foreign_keys(connection: Connection, *, enabled: bool) -> None:
    # Through the driver's cursor: a statement on the SQLAlchemy connection would begin a transaction
    # first, inside which SQLite silently ignores this pragma.
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if enabled else 'OFF'}")
    finally:
        cursor.close()


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if violations:
        shown = ", ".join(f"{table} row {rowid} -> {parent}" for table, rowid, parent, _ in violations[:5])
        raise RuntimeError(f"migrations left {len(violations)} broken foreign keys ({shown}); rolled back")


async def _run_with_new_engine(url: str) -> None:
    engine = create_engine(get_settings(), url=url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    asyncio.run(_run_with_new_engine(url))


if context.is_offline_mode():
    raise SystemExit("supportdesk migrations run online only: use `supportdesk db upgrade`")
_main()
