"""How long a new ticket keeps its workspace locked.

Reserving a ticket's number locks the workspace's row until the commit, and every other ticket opened in
the workspace waits for it. On PostgreSQL the ticket's own insert reserves the number, so the rules that
decide about the ticket (its category, its SLA) run before the lock; only a workspace that assigns
automatically takes the lock first, because round robin stays fair by letting each pick see the one
before it. Either way the numbers count up without a gap."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.core.clock import FrozenClock
from supportdesk.core.errors import SupportdeskError
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.sla import service as sla_service
from supportdesk.tickets import flows
from supportdesk.workspaces import service as workspace_service

pytestmark = pytest.mark.integration


async def new_workspace(database: Database, clock: FrozenClock, *, auto_assign: bool) -> int:
    async with database.unit_of_work() as session:
        act_as(session.sync_session, SYSTEM, clock)
        workspace = await workspace_service.create_workspace(session, clock, slug="busy", name="Busy")
        await workspace_service.update_settings(session, workspace, {"auto_assign": auto_assign})
        return workspace.id


async def workspace_is_locked(database: Database, workspace_id: int) -> bool:
    """Whether another transaction holds the lock a ticket's number takes, asked without waiting."""
    async with database.engine.connect() as connection:
        try:
            await connection.execute(
                text("SELECT id FROM workspace WHERE id = :id FOR NO KEY UPDATE NOWAIT"), {"id": workspace_id}
            )
        except DBAPIError as error:
            if "could not obtain lock" not in str(error.orig):
                raise
            return True
        finally:
            await connection.rollback()
        return False


@pytest.mark.parametrize("db_backend", ["postgresql"])
@pytest.mark.parametrize(
    ("auto_assign", "locked_while_deciding"),
    [
        pytest.param(False, False, id="assigned-by-hand"),
        pytest.param(True, True, id="assigned-automatically"),
    ],
)
async def test_the_workspace_is_locked_from_the_tickets_insert_unless_it_assigns_automatically(
    real_database: Database,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    auto_assign: bool,
    locked_while_deciding: bool,
) -> None:
    workspace_id = await new_workspace(real_database, clock, auto_assign=auto_assign)
    seen_while_deciding: list[bool] = []
    load_setup = sla_service.load_setup

    async def deciding_the_sla(*args: Any) -> sla_service.SlaSetup:
        # The SLA is decided after intake and before the ticket is written.
        seen_while_deciding.append(await workspace_is_locked(real_database, workspace_id))
        return await load_setup(*args)

    monkeypatch.setattr(sla_service, "load_setup", deciding_the_sla)
    async with real_database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace_id)
        act_as(session.sync_session, SYSTEM, clock)
        ticket = await flows.open_ticket(session, clock, workspace_id=workspace_id, title="Export fails")
        locked_once_written = await workspace_is_locked(real_database, workspace_id)

    assert seen_while_deciding == [locked_while_deciding]
    assert locked_once_written
    assert not await workspace_is_locked(real_database, workspace_id), "the commit ends the lock"
    assert ticket.number == 1


async def test_a_ticket_refused_by_the_rules_leaves_no_gap_in_the_numbers(
    real_database: Database, clock: FrozenClock
) -> None:
    workspace_id = await new_workspace(real_database, clock, auto_assign=False)

    async def opened(category: str | None) -> int:
        async with real_database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace_id)
            act_as(session.sync_session, SYSTEM, clock)
            ticket = await flows.open_ticket(
                session, clock, workspace_id=workspace_id, title="Export fails", category=category
            )
            return ticket.number

    assert await opened(None) == 1
    with pytest.raises(SupportdeskError, match="categor"):
        await opened("no-such-category")
    assert await opened(None) == 2
