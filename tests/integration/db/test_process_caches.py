"""What a process caches belongs to the object that owns it: a database's configuration caches to that
database, checked tokens to their application. Nothing is shared through module state, so two
applications or databases in one process (tests, tools) cannot see each other's entries."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk.app import create_app
from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.db.caches import caches_of
from supportdesk.db.session import Database
from supportdesk.sla import service as sla_service
from supportdesk.workspaces.models import Workspace


async def _setup_of(database: Database, workspace: Workspace) -> sla_service.SlaSetup:
    async with database.unit_of_work(readonly=True) as session:
        return await sla_service.load_setup(session, workspace.id)


async def test_each_database_keeps_its_own_configuration_cache(
    engine: AsyncEngine, connection: AsyncConnection, workspace: Workspace
) -> None:
    first, second = Database(engine, connection=connection), Database(engine, connection=connection)

    built = await _setup_of(first, workspace)

    assert await _setup_of(first, workspace) is built  # reused while the revision holds
    assert len(second.caches.revision_cache(sla_service.SETUPS)) == 0
    assert await _setup_of(second, workspace) is not built


async def test_clearing_a_databases_caches_makes_it_build_again(
    database: Database, workspace: Workspace
) -> None:
    built = await _setup_of(database, workspace)

    database.caches.clear()

    rebuilt = await _setup_of(database, workspace)
    assert rebuilt is not built
    assert rebuilt.policies == built.policies


async def test_every_session_of_a_database_carries_its_caches(database: Database) -> None:
    async with database.unit_of_work(readonly=True) as reader, database.unit_of_work() as writer:
        assert caches_of(reader) is database.caches
        assert caches_of(writer) is database.caches


def test_each_application_owns_its_token_cache(
    settings: Settings, database: Database, clock: FrozenClock, app: FastAPI
) -> None:
    another = create_app(settings, database=database, clock=clock)

    assert another.state.token_cache is not app.state.token_cache
