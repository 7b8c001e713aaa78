"""Messages held for the statement that ends a unit of work: written with it, written at the commit when
nobody took them, and gone with a rollback."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs import outbox
from supportdesk.jobs.models import DeliveryChannel, DeliveryState, OutboxMessage
from supportdesk.workspaces.models import Workspace

_ACK = outbox.Outgoing(
    channel=DeliveryChannel.email,
    target="maria@example.com",
    dedupe_key="ticket:1:created:ack",
    payload={"kind": "ticket_received"},
    ticket_id=1,
)


async def _stored(database: Database, workspace: Workspace) -> list[tuple[str, DeliveryState]]:
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        rows = await session.execute(select(OutboxMessage.dedupe_key, OutboxMessage.state))
        return [(key, state) for key, state in rows.all()]


async def _hold_and_enqueue(
    database: Database, workspace: Workspace, clock: FrozenClock, then: Callable[[], None]
) -> None:
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        outbox.hold_until_taken(session)
        assert await outbox.enqueue(session, clock, workspace.id, [_ACK]) == 1
        then()


def _fail() -> None:
    raise RuntimeError("the change failed after its side effect was enqueued")


async def test_what_nobody_took_is_written_when_the_unit_of_work_commits(
    database: Database, workspace: Workspace, clock: FrozenClock
) -> None:
    await _hold_and_enqueue(database, workspace, clock, then=lambda: None)

    assert await _stored(database, workspace) == [("ticket:1:created:ack", DeliveryState.pending)]


async def test_a_rollback_drops_what_was_held(
    database: Database, workspace: Workspace, clock: FrozenClock
) -> None:
    with pytest.raises(RuntimeError, match="failed after its side effect"):
        await _hold_and_enqueue(database, workspace, clock, then=_fail)

    assert await _stored(database, workspace) == []


async def test_the_taker_writes_the_held_rows_and_the_commit_writes_nothing_more(
    database: Database, workspace: Workspace, clock: FrozenClock
) -> None:
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        outbox.hold_until_taken(session)
        await outbox.enqueue(session, clock, workspace.id, [_ACK])
        held = outbox.take_held(session)
        assert [row["dedupe_key"] for row in held] == ["ticket:1:created:ack"]
        assert outbox.take_held(session) == [], "taken once"
        await outbox.write_rows(session, held)

    assert await _stored(database, workspace) == [("ticket:1:created:ack", DeliveryState.pending)]
