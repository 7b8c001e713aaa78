"""Workspace rules that the API does not reach: creation and settings."""

from __future__ import annotations

import pytest

from supportdesk.core.clock import FrozenClock
from supportdesk.core.errors import InvalidInput, NotFound
from supportdesk.db.session import Database
from supportdesk.workspaces import service as workspace_service
from supportdesk.workspaces.models import DEFAULT_CATEGORIES, Workspace


@pytest.mark.parametrize(
    "slug",
    ["Acme", "acme corp", "-acme", "", "a" * 65],
    ids=["capitals", "space", "leading-hyphen", "empty", "too-long"],
)
async def test_a_slug_is_lower_case_letters_digits_and_hyphens(
    database: Database, clock: FrozenClock, slug: str
) -> None:
    async with database.unit_of_work() as session:
        with pytest.raises(InvalidInput) as refused:
            await workspace_service.create_workspace(session, clock, slug=slug, name="X")
    assert refused.value.field == "slug"


async def test_a_slug_is_taken_once(database: Database, clock: FrozenClock, workspace: Workspace) -> None:
    async with database.unit_of_work() as session:
        with pytest.raises(workspace_service.WorkspaceExists):
            await workspace_service.create_workspace(session, clock, slug=workspace.slug, name="Again")


async def test_a_new_workspace_has_the_default_categories(database: Database, clock: FrozenClock) -> None:
    async with database.unit_of_work() as session:
        created = await workspace_service.create_workspace(session, clock, slug="fresh", name="Fresh")
    assert created.categories == list(DEFAULT_CATEGORIES)
    assert created.ticket_counter == 0


async def test_an_unknown_workspace_is_not_found(database: Database) -> None:
    async with database.unit_of_work() as session:
        with pytest.raises(NotFound):
            await workspace_service.get_workspace(session, 987_654)


async def test_a_workspace_keeps_at_least_one_category(database: Database, workspace: Workspace) -> None:
    async with database.unit_of_work() as session:
        fresh = await workspace_service.get_workspace(session, workspace.id)
        with pytest.raises(InvalidInput) as refused:
            await workspace_service.set_categories(session, fresh, [])
    assert refused.value.field == "categories"


async def test_categories_keep_their_order_without_duplicates(
    database: Database, workspace: Workspace
) -> None:
    async with database.unit_of_work() as session:
        fresh = await workspace_service.get_workspace(session, workspace.id)
        updated = await workspace_service.set_categories(session, fresh, ["hardware", "billing", "hardware"])
    assert updated.categories == ["hardware", "billing"]
