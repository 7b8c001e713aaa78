"""Every migration can be undone: its downgrade gives back the schema the revision before it built, on
both databases, with rows in the tables, and the way up works again afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk.core import security
from supportdesk.core.clock import FrozenClock
from supportdesk.db import migrate
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from supportdesk.demo import seed_demo
from tests.fixtures.database import EngineRegistry, make_settings

Shape = dict[str, dict[str, list[str]]]


def _shape(connection: Connection) -> Shape:
    """Each table's columns, keys, indexes and constraints as the database reports them."""
    inspector = inspect(connection)
    # One query per kind for all tables, rather than one per table and kind.
    kinds: dict[str, dict[tuple[str | None, str], Any]] = {
        "columns": inspector.get_multi_columns(),
        "primary key": inspector.get_multi_pk_constraint(),
        "indexes": inspector.get_multi_indexes(),
        "foreign keys": inspector.get_multi_foreign_keys(),
        "unique": inspector.get_multi_unique_constraints(),
        "checks": inspector.get_multi_check_constraints(),
    }
    tables = {table for _schema, table in kinds["columns"]}
    return {
        table: {
            kind: sorted(_text(item) for item in _listed(found.get((None, table), [])))
            for kind, found in kinds.items()
        }
        for table in tables
    }


def _listed(value: Any) -> list[Any]:
    # A primary key is reported as one item, the other kinds as lists.
    return value if isinstance(value, list) else [value]


def _text(value: object) -> str:
    # Reflected options hold SQL expressions (a partial index's WHERE), which compare by identity and
    # print their address: compare what they say instead.
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_text(item)}" for key, item in sorted(value.items())) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_text(item) for item in value) + "]"
    return str(value)


async def _shape_of(engine: AsyncEngine) -> Shape:
    async with engine.connect() as connection:
        return await connection.run_sync(_shape)


async def test_each_downgrade_gives_back_the_schema_of_the_revision_before(
    engine_registry: EngineRegistry, db_backend: str, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo's staff get passwords; hashed as in production they would take most of this test's time.
    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    url = await engine_registry.url_for(db_backend, purpose="downgrades")
    database = Database(create_engine(make_settings(url), url=url))
    try:
        shapes: dict[str, Shape] = {}
        for built in migrate.revisions():
            await migrate.upgrade(database.engine, built)
            shapes[built] = await _shape_of(database.engine)
        # Rows in every table, so that a downgrade that only works on empty tables fails here.
        await seed_demo(database, make_settings(url), clock, ticket_count=8, customer_count=3)

        # Not below the first revision: there is no schema there, and `db downgrade` refuses to go.
        for revision in reversed(migrate.history()[1:]):
            assert revision.previous is not None
            await migrate.downgrade(database.engine, revision.previous)
            assert await _shape_of(database.engine) == shapes[revision.previous], f"undoing {revision.id}"

        await migrate.upgrade(database.engine)
        assert await _shape_of(database.engine) == shapes[migrate.revisions()[-1]]
    finally:
        await database.dispose()
