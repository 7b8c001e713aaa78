"""Workspace factory."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable

import pytest

from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.workspaces import service as workspace_service
from supportdesk.workspaces.models import Workspace

WorkspaceFactory = Callable[..., Awaitable[Workspace]]
_counter = itertools.count(1)


@pytest.fixture
def workspace_factory(database: Database, clock: FrozenClock) -> WorkspaceFactory:
    """Make a workspace: ``await workspace_factory(slug="acme", categories=[...])``."""

    async def make(
        *, slug: str | None = None, name: str | None = None, categories: list[str] | None = None
    ) -> Workspace:
        slug = slug or f"workspace-{next(_counter)}"
        async with database.unit_of_work() as session:
            workspace = await workspace_service.create_workspace(
                session, clock, slug=slug, name=name or slug.title()
            )
            if categories is not None:
                await workspace_service.set_categories(session, workspace, categories)
        return workspace

    return make


@pytest.fixture
async def workspace(workspace_factory: WorkspaceFactory) -> Workspace:
    """The workspace a test works in."""
    return await workspace_factory(slug="acme", name="Acme Support")


@pytest.fixture
async def other_workspace(workspace_factory: WorkspaceFactory) -> Workspace:
    """Another tenant, whose data the test's users must never see."""
    return await workspace_factory(slug="globex", name="Globex Support")
