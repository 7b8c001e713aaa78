"""What a server that owns its database does once it has started, beyond serving requests."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from supportdesk.app import create_app
from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from tests.fixtures.database import make_settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """The collector as a fresh process has it: nothing frozen before the test, nothing left after."""
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
async def test_a_started_server_keeps_its_startup_objects_out_of_full_collections(
    tmp_path: Path, clock: FrozenClock
) -> None:
    app = create_app(
        make_settings(f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}", auto_migrate=True, scheduler="off"),
        clock=clock,
    )
    assert gc.get_freeze_count() == 0

    async with app.router.lifespan_context(app):
        frozen = gc.get_freeze_count()

    # The modules, mappers and schemas of a started server: far more than the test's own objects.
    assert frozen > 50_000


@pytest.mark.usefixtures("unfrozen")
async def test_an_app_given_its_database_freezes_nothing(database: Database, clock: FrozenClock) -> None:
    app = create_app(make_settings(), database=database, clock=clock)

    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() == 0
