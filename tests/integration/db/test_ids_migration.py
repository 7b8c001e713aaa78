"""The revision that stops SQLite from reusing ids keeps every row of a database that has data in it."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk.core.clock import FrozenClock
from supportdesk.db import migrate
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.demo import seed_demo
from supportdesk.tickets import flows as ticket_flows
from supportdesk.tickets.models import Ticket
from tests.fixtures.database import EngineRegistry, make_settings

REVISION = "0008"
PREVIOUS = "0007"

Snapshot = dict[str, list[tuple[object, ...]]]


@pytest.fixture
async def filled_database(engine_registry: EngineRegistry, clock: FrozenClock) -> AsyncIterator[Database]:
    """A SQLite database at the revision before, with a demo workspace in every table it has."""
    url = await engine_registry.url_for("sqlite", purpose="ids-migration")
    settings = make_settings(url)
    database = Database(create_engine(settings, url=url))
    # Filled through today's services, then taken back: rows the older schema can hold, made the real way.
    await migrate.upgrade(database.engine)
    await seed_demo(database, settings, clock, ticket_count=12, customer_count=4)
    await migrate.downgrade(database.engine, PREVIOUS)
    yield database
    await database.dispose()


async def _snapshot(connection: AsyncConnection) -> Snapshot:
    names = (
        await connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' "
            "AND name != 'alembic_version' ORDER BY name"
        )
    ).scalars()
    return {
        name: sorted(map(tuple, await connection.exec_driver_sql(f'SELECT * FROM "{name}"')), key=repr)  # noqa: S608
        for name in list(names)
    }


async def _newest_ticket_id(connection: AsyncConnection) -> int:
    return int((await connection.exec_driver_sql("SELECT max(id) FROM ticket")).scalar_one())


async def test_upgrading_keeps_every_row_and_never_reuses_a_deleted_newest_id(
    filled_database: Database, clock: FrozenClock
) -> None:
    engine = filled_database.engine
    async with engine.begin() as connection:
        # Deleted before the upgrade: its audit events stay and must never name another ticket.
        deleted_before = await _newest_ticket_id(connection)
        await connection.execute(text("DELETE FROM ticket WHERE id = :id"), {"id": deleted_before})
        before = await _snapshot(connection)
    assert all(before[table] for table in ("ticket", "comment", "customer", "user", "audit_event", "macro"))

    await migrate.upgrade(engine, REVISION)
    async with engine.connect() as connection:
        assert await _snapshot(connection) == before
        assert (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all() == []
        # The pooled connection got its foreign keys back after the migration.
        assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        indexes = (await connection.exec_driver_sql("PRAGMA index_list(ticket)")).mappings()
        assert {"ix_ticket_resolved_at", "ix_ticket_workspace_created"} <= {
            index["name"] for index in indexes
        }

    # The way back keeps every row too (and the way forward again, below, still works).
    await migrate.downgrade(engine, PREVIOUS)
    async with engine.connect() as connection:
        assert await _snapshot(connection) == before
        stored = (
            await connection.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table'")
        ).scalars()
        assert not any("AUTOINCREMENT" in sql for sql in stored)

    await migrate.upgrade(engine)
    first = await _create_ticket(filled_database, clock)
    assert first.id > deleted_before
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM ticket WHERE id = :id"), {"id": first.id})
    second = await _create_ticket(filled_database, clock)
    assert second.id > first.id


async def test_an_upgrade_that_leaves_a_broken_foreign_key_is_rolled_back(
    engine_registry: EngineRegistry,
) -> None:
    url = await engine_registry.url_for("sqlite", purpose="broken-foreign-key")
    engine = create_engine(make_settings(url), url=url)
    try:
        await migrate.upgrade(engine, PREVIOUS)
        assert engine.url.database is not None
        # An orphan such as a hand edit with foreign keys off leaves; the plain driver has them off.
        with sqlite3.connect(engine.url.database) as raw:
            raw.execute("INSERT INTO ticket_tag (ticket_id, name, workspace_id) VALUES (999, 'lost', 999)")
        raw.close()

        with pytest.raises(RuntimeError, match="broken foreign keys"):
            await migrate.upgrade(engine)

        assert await migrate.current_revision(engine) == PREVIOUS
        async with engine.connect() as connection:
            stored = (
                await connection.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table'")
            ).scalars()
            assert not any("AUTOINCREMENT" in sql for sql in stored)
            assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    finally:
        await engine.dispose()


async def _create_ticket(database: Database, clock: FrozenClock) -> Ticket:
    async with database.unit_of_work() as session:
        workspace_id = int((await session.execute(text("SELECT min(id) FROM workspace"))).scalar_one())
        scope_to_workspace(session.sync_session, workspace_id)
        return await ticket_flows.open_ticket(
            session,
            clock,
            workspace_id=workspace_id,
            title="After the upgrade",
            customer_email="new@example.com",
        )
