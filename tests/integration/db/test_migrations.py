"""Migrations build the schema the models describe, on both databases, and can be undone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Integer, inspect
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import CreateTable

from supportdesk.db import migrate
from supportdesk.db.engine import create_engine
from supportdesk.db.models import Base
from tests.fixtures.database import EngineRegistry, make_settings


@pytest.fixture
async def empty_engine(engine_registry: EngineRegistry, db_backend: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh, never-migrated database."""
    url = await engine_registry.url_for(db_backend, purpose="migrations")
    engine = create_engine(make_settings(url), url=url)
    yield engine
    await engine.dispose()


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_a_fresh_database_is_not_migrated(empty_engine: AsyncEngine) -> None:
    assert await migrate.current_revision(empty_engine) is None
    assert not await migrate.is_up_to_date(empty_engine)


async def test_upgrade_reaches_the_head_and_matches_the_models(empty_engine: AsyncEngine) -> None:
    await migrate.upgrade(empty_engine)
    assert await migrate.current_revision(empty_engine) == migrate.head_revision()
    async with empty_engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


async def test_upgrade_twice_is_harmless(empty_engine: AsyncEngine) -> None:
    await migrate.upgrade(empty_engine)
    await migrate.upgrade(empty_engine)
    assert await migrate.is_up_to_date(empty_engine)


async def test_downgrade_to_base_removes_every_table(empty_engine: AsyncEngine) -> None:
    await migrate.upgrade(empty_engine)
    await migrate.downgrade(empty_engine, "base")
    async with empty_engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    assert set(tables) <= {"alembic_version"}


def _tables_with_an_integer_id() -> set[str]:
    return {
        table.name
        for table in Base.metadata.sorted_tables
        if [column.name for column in table.primary_key.columns] == ["id"]
        and isinstance(table.c.id.type, Integer)
    }


@pytest.mark.parametrize("db_backend", [pytest.param("sqlite", id="sqlite")])
async def test_every_table_with_an_integer_id_autoincrements_on_sqlite(empty_engine: AsyncEngine) -> None:
    # compare_metadata does not look at AUTOINCREMENT; without it SQLite gives a deleted newest id again.
    await migrate.upgrade(empty_engine)
    async with empty_engine.connect() as connection:
        stored = (
            await connection.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        ).mappings()
    migrated = {row["name"] for row in stored if "AUTOINCREMENT" in row["sql"].upper()}
    modelled = {
        table.name
        for table in Base.metadata.sorted_tables
        if "AUTOINCREMENT" in str(CreateTable(table).compile(dialect=sqlite.dialect()))
    }
    expected = _tables_with_an_integer_id()
    assert {"ticket", "comment", "customer", "user", "api_token", "audit_event"} <= expected
    assert modelled == expected
    assert migrated == expected
