"""The outbox's rows written by the database driver itself (``outbox.enqueue_at`` inside an open
transaction): the same rows, in the same order, as SQLAlchemy's statement writes, committed or rolled
back with the change, and SQLAlchemy's way taken wherever the driver's is not possible or the SQL is
watched."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.core.clock import FrozenClock
from supportdesk.db import direct
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs import outbox
from supportdesk.jobs.models import DeliveryChannel, OutboxMessage
from supportdesk.tickets.models import TicketTag
from supportdesk.workspaces.models import Workspace
from tests.factories.tickets import TicketFactory
from tests.fixtures.statements import statements_run

pytestmark = pytest.mark.integration

# Every kind of value a payload holds, and a message without a ticket.
PAYLOADS: list[tuple[DeliveryChannel, str, dict[str, Any], int | None]] = [
    (
        DeliveryChannel.webhook,
        "7",
        {"type": "ticket.created", "data": {"ticket": {"id": 1, "title": "Zoë's “export” fails", "x": 1.5}}},
        None,
    ),
    (
        DeliveryChannel.email,
        "zoe@example.org",
        {"kind": "ticket_received", "context": {"customer": {"name": None}}, "tags": ["a", "b"], "ok": True},
        None,
    ),
    (DeliveryChannel.crm, "42", {}, None),
]


@pytest.fixture
def ways(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each write went through the driver (True) or SQLAlchemy (False), in order."""
    taken: list[bool] = []
    original = outbox._insert_through_driver

    async def watched(*args: Any) -> bool:
        through = await original(*args)
        taken.append(through)
        return through

    monkeypatch.setattr(outbox, "_insert_through_driver", watched)
    return taken


def outgoing(prefix: str) -> list[outbox.Outgoing]:
    return [
        outbox.Outgoing(channel, target, f"{prefix}:{index}", payload, ticket_id)
        for index, (channel, target, payload, ticket_id) in enumerate(PAYLOADS)
    ]


async def open_transaction(session: AsyncSession) -> None:
    """What a flow has done before it announces: sent a statement, so the transaction is open."""
    await session.execute(text("SELECT 1"))


async def write(
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
    prefix: str,
    *,
    watched: bool = False,
    fail: bool = False,
) -> None:
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        await open_transaction(session)
        if watched:
            with statements_run(await session.connection()):
                await outbox.enqueue(session, clock, workspace.id, outgoing(prefix))
        else:
            await outbox.enqueue(session, clock, workspace.id, outgoing(prefix))
        if fail:
            raise RuntimeError("the change failed after its side effects were recorded")


def comparable(message: OutboxMessage) -> dict[str, Any]:
    return {
        column: getattr(message, column)
        for column in OutboxMessage.__table__.columns.keys()  # noqa: SIM118  (a column collection)
        if column not in ("id", "dedupe_key")
    } | {"key_index": message.dedupe_key.rsplit(":", 1)[1]}


async def written(database: Database, prefix: str) -> list[OutboxMessage]:
    async with database.unit_of_work(readonly=True) as session:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.dedupe_key.startswith(f"{prefix}:"))
            .order_by(OutboxMessage.id)
        )
        found = list((await session.execute(query)).scalars())
        session.expunge_all()
        return found


async def test_the_driver_writes_the_rows_sqlalchemy_writes_in_the_same_order(
    database: Database, clock: FrozenClock, workspace: Workspace, ways: list[bool]
) -> None:
    clock.set(datetime(2026, 12, 7, 0, 14, 3, 123456, tzinfo=UTC))
    await write(database, clock, workspace, "driver")
    await write(database, clock, workspace, "sqlalchemy", watched=True)
    assert ways == [True, False], "a watched connection takes SQLAlchemy's way"

    by_driver, by_sqlalchemy = await written(database, "driver"), await written(database, "sqlalchemy")
    assert [message.dedupe_key for message in by_driver] == ["driver:0", "driver:1", "driver:2"]
    assert [comparable(message) for message in by_driver] == [comparable(m) for m in by_sqlalchemy]
    assert by_driver[0].next_attempt_at == by_driver[0].created_at == clock.now()
    async with database.unit_of_work(readonly=True) as session:
        # Stored alike, not only read back alike (SQLite keeps the JSON's and the timestamps' text).
        stored = text(
            "SELECT CAST(payload AS TEXT), CAST(created_at AS TEXT) FROM outbox_message "
            "WHERE dedupe_key IN ('driver:0', 'sqlalchemy:0') ORDER BY id"
        )
        first, second = (await session.execute(stored)).all()
    assert first == second


async def test_a_dedupe_key_on_record_is_not_written_again_by_the_driver(
    database: Database, clock: FrozenClock, workspace: Workspace, ways: list[bool]
) -> None:
    await write(database, clock, workspace, "again")
    await write(database, clock, workspace, "again")
    assert ways == [True, True]
    assert [message.dedupe_key for message in await written(database, "again")] == [
        "again:0",
        "again:1",
        "again:2",
    ]


async def test_what_the_driver_wrote_rolls_back_with_the_change(
    database: Database, clock: FrozenClock, workspace: Workspace, ways: list[bool]
) -> None:
    with pytest.raises(RuntimeError):
        await write(database, clock, workspace, "failed", fail=True)
    assert ways == [True]
    assert await written(database, "failed") == []


async def test_rows_written_first_in_a_unit_of_work_are_part_of_its_transaction(
    real_database: Database, clock: FrozenClock, ways: list[bool]
) -> None:
    # Nothing was sent before the rows: the driver opens the transaction as SQLAlchemy would, so the
    # rows commit, or roll back, with the rest of the change.
    async with real_database.unit_of_work() as session:
        workspace = Workspace(name="Rows first", slug="rows-first")
        session.add(workspace)
    for prefix, fail in (("first-failed", True), ("first-kept", False)):
        with contextlib.suppress(RuntimeError):
            async with real_database.unit_of_work() as session:
                scope_to_workspace(session.sync_session, workspace.id)
                await outbox.enqueue(session, clock, workspace.id, outgoing(prefix))
                if fail:
                    raise RuntimeError("the change failed after its side effects were recorded")

    assert ways == [True, True]
    assert await written(real_database, "first-failed") == []
    assert len(await written(real_database, "first-kept")) == len(PAYLOADS)


async def _write_a_tag_again(
    database: Database, workspace: Workspace, row: dict[str, Any], *, returning: bool
) -> bool:
    """Write a ticket's tag it has already through the driver: whether the driver's way was taken."""
    tags = cast(Table, TicketTag.__table__)
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        await open_transaction(session)
        connection = (await session.connection()).sync_connection
        if returning:
            statement = insert(tags).returning(tags.c.name)
            return await direct.fetch_row_in_one_trip(connection, statement, row) is not None
        return await direct.insert_in_one_trip(connection, insert(tags), [row])


async def test_a_constraint_the_driver_breaks_is_raised_as_sqlalchemy_raises_it(
    database: Database, workspace: Workspace, ticket_factory: TicketFactory, db_backend: str
) -> None:
    # A uniqueness lost to a concurrent request must reach the API as an IntegrityError (409 conflict),
    # not as the driver's own error, which it would answer as the database being out of reach.
    ticket = await ticket_factory(tags=["billing"])
    row = {"workspace_id": workspace.id, "ticket_id": ticket.id, "name": "billing"}

    with pytest.raises(IntegrityError):
        await _write_a_tag_again(database, workspace, row, returning=True)
    if db_backend == "sqlite":
        with pytest.raises(IntegrityError):
            await _write_a_tag_again(database, workspace, row, returning=False)
    else:
        # PostgreSQL sends a plain INSERT through SQLAlchemy, which raises its own error.
        assert not await _write_a_tag_again(database, workspace, row, returning=False)
