"""Each process keeps a workspace's triggers parsed between requests, and notices every change to them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlalchemy.engine import Connection

from supportdesk.automation import engine as automation_engine
from supportdesk.automation.models import Trigger, TriggerEvent
from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people.models import User
from supportdesk.workspaces import revisions
from supportdesk.workspaces import service as workspace_service
from supportdesk.workspaces.models import Workspace
from tests.factories.automation import TriggerFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient
from tests.integration.automation.conftest import Fire, Reload

E = TriggerEvent
TRIGGERS = "/api/v1/triggers"


@pytest.fixture
def trigger_reads(database: Database) -> Iterator[list[str]]:
    """The statements that read trigger rows, as the database receives them."""
    seen: list[str] = []

    def capture(_conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        # SQLite quotes the name (a keyword there); PostgreSQL does not.
        if statement.lstrip().upper().startswith("SELECT") and (
            "FROM trigger" in statement or 'FROM "trigger"' in statement
        ):
            seen.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    yield seen
    event.remove(engine, "before_cursor_execute", capture)


async def test_tickets_opened_while_nothing_changed_read_no_trigger_rows(
    admin_client: ApiClient, trigger_factory: TriggerFactory, trigger_reads: list[str]
) -> None:
    await trigger_factory(actions=[{"type": "add_tags", "tags": ["seen"]}])
    trigger_reads.clear()  # the factory's own checks

    first = await admin_client.post("/api/v1/tickets", json={"title": "One"})
    reads_for_the_first = len(trigger_reads)
    second = await admin_client.post("/api/v1/tickets", json={"title": "Two"})

    assert [first.json()["tags"], second.json()["tags"]] == [["seen"], ["seen"]]
    assert (reads_for_the_first, len(trigger_reads)) == (1, 1)


async def test_a_trigger_changed_after_it_was_cached_runs_as_changed(
    admin_client: ApiClient, trigger_factory: TriggerFactory
) -> None:
    trigger = await trigger_factory(actions=[{"type": "add_tags", "tags": ["old"]}])
    before = await admin_client.post("/api/v1/tickets", json={"title": "Before"})

    changed = await admin_client.patch(
        f"{TRIGGERS}/{trigger.id}", json={"actions": [{"type": "add_tags", "tags": ["new"]}]}
    )
    assert changed.status_code == 200, changed.text
    after = await admin_client.post("/api/v1/tickets", json={"title": "After"})

    assert [before.json()["tags"], after.json()["tags"]] == [["old"], ["new"]]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda client, url: client.patch(url, json={"is_active": False}), id="deactivated"),
        pytest.param(lambda client, url: client.delete(url), id="deleted"),
    ],
)
async def test_a_trigger_switched_off_after_it_was_cached_stops_running(
    admin_client: ApiClient, trigger_factory: TriggerFactory, change: Any
) -> None:
    trigger = await trigger_factory(actions=[{"type": "add_tags", "tags": ["seen"]}])
    assert (await admin_client.post("/api/v1/tickets", json={"title": "Before"})).json()["tags"] == ["seen"]

    response = await change(admin_client, f"{TRIGGERS}/{trigger.id}")
    assert response.status_code in (200, 204), response.text

    assert (await admin_client.post("/api/v1/tickets", json={"title": "After"})).json()["tags"] == []


async def test_a_renamed_trigger_that_does_the_same_keeps_running(
    admin_client: ApiClient, trigger_factory: TriggerFactory
) -> None:
    trigger = await trigger_factory(actions=[{"type": "add_tags", "tags": ["seen"]}])
    await admin_client.post("/api/v1/tickets", json={"title": "Before"})

    renamed = await admin_client.patch(f"{TRIGGERS}/{trigger.id}", json={"name": "Tag everything"})

    assert renamed.status_code == 200
    assert (await admin_client.post("/api/v1/tickets", json={"title": "After"})).json()["tags"] == ["seen"]


async def test_a_stored_trigger_that_no_longer_parses_is_skipped_and_the_others_run(
    database: Database,
    workspace: Workspace,
    trigger_factory: TriggerFactory,
    ticket_factory: TicketFactory,
    agent: User,
    fire: Fire,
    reload: Reload,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = await trigger_factory(name="Old rule", position=1)
    working = await trigger_factory(
        name="New rule", position=2, actions=[{"type": "add_tags", "tags": ["ok"]}]
    )
    # As a rule written by an older version could look: an operator this version no longer knows.
    async with database.unit_of_work() as session:
        await session.execute(
            update(Trigger)
            .where(Trigger.id == broken.id)
            .values(conditions=[{"field": "priority", "operator": "resembles", "value": "high"}])
        )
        await revisions.bump(session, workspace.id, revisions.Covered.automation)
    ticket = await ticket_factory()

    with caplog.at_level(logging.WARNING, logger="supportdesk.automation"):
        assert await fire(ticket, E.created, actor=agent) == [working.id]

    assert (await reload(ticket)).ticket.tags == ["ok"]
    assert any("Old rule" in record.getMessage() for record in caplog.records)


async def test_new_workspaces_do_not_share_configuration_revisions(
    database: Database, clock: FrozenClock
) -> None:
    async with database.unit_of_work() as session:
        first = await workspace_service.create_workspace(session, clock, slug="first", name="First")
        second = await workspace_service.create_workspace(session, clock, slug="second", name="Second")
        scope_to_workspace(session.sync_session, first.id)
        seen = [await revisions.current(session, workspace.id) for workspace in (first, second)]

    assert seen[0] != seen[1]
    assert seen[0].sla != seen[0].automation


async def test_triggers_of_another_workspace_never_run(
    trigger_factory: TriggerFactory,
    ticket_factory: TicketFactory,
    other_workspace: Workspace,
    agent: User,
    fire: Fire,
) -> None:
    await trigger_factory(workspace=other_workspace)
    ticket = await ticket_factory()

    assert await fire(ticket, E.created, actor=agent) == []


async def test_reading_triggers_in_an_unscoped_session_still_reads_one_workspace(
    database: Database, workspace: Workspace, other_workspace: Workspace, trigger_factory: TriggerFactory
) -> None:
    mine = await trigger_factory()
    await trigger_factory(workspace=other_workspace)

    async with database.unit_of_work(readonly=True) as session:
        found = await automation_engine.active_triggers(session, workspace.id, E.created)

    assert [trigger.id for trigger in found] == [mine.id]
