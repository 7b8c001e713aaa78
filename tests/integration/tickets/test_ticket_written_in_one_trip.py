"""A new ticket written and read back by the driver's own call (``repository.insert_ticket``), with its
"created" event (in the same statement on PostgreSQL, by one more call on SQLite), is the ticket
SQLAlchemy's statement loads and the event it writes: the same values, the ticket in the session as if
read by a query and changed later like any other. Watching the SQL sends it through SQLAlchemy, which
is how each test gets the one to compare with."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.models import AuditEvent
from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.core.clock import FrozenClock
from supportdesk.db import direct as direct_calls
from supportdesk.db.tenancy import CrossWorkspaceWrite, scope_to_workspace
from supportdesk.tickets import flows as ticket_flows
from supportdesk.tickets import repository
from supportdesk.tickets.models import Priority, Ticket, TicketStatus
from supportdesk.workspaces.models import Workspace
from tests.fixtures.statements import statements_run

pytestmark = pytest.mark.integration


def values_of(ticket: Ticket) -> dict[str, Any]:
    return {
        column.key: getattr(ticket, column.key)
        for column in Ticket.__table__.columns
        if column.key not in ("id", "number")
    }


async def opened_both_ways(
    session: AsyncSession, workspace: Workspace, clock: FrozenClock
) -> tuple[Ticket, Ticket, list[str]]:
    """The same ticket opened twice: the driver's way where the database takes it, then SQLAlchemy's,
    with the statements the second sent."""
    scope_to_workspace(session.sync_session, workspace.id)
    act_as(session.sync_session, SYSTEM, clock)

    async def opened() -> Ticket:
        return await ticket_flows.open_ticket(
            session,
            clock,
            workspace_id=workspace.id,
            title="Export stops at a thousand rows",
            description="Every time",
            priority=Priority.high,
            customer_email="zoe@example.org",
            auto_assign=False,
        )

    direct = await opened()
    with statements_run(await session.connection()) as watched:
        loaded = await opened()
    return direct, loaded, watched


async def test_a_ticket_written_in_one_trip_is_the_ticket_sqlalchemy_loads(
    session: AsyncSession, workspace: Workspace, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips: list[bool] = []
    original = direct_calls.returned_object

    async def counted(*args: Any) -> Any:
        returned = await original(*args)
        if "title" in args[3]:  # the ticket's own statement, not the customer's
            trips.append(not isinstance(returned, direct_calls.NotSent))
        return returned

    monkeypatch.setattr(direct_calls, "returned_object", counted)
    direct, loaded, watched = await opened_both_ways(session, workspace, clock)
    assert "INSERT" in watched or "WITH" in watched
    assert trips == [True, False]

    assert values_of(direct) == values_of(loaded)
    for ticket in (direct, loaded):
        state = inspect(ticket)
        assert state.persistent
        assert not state.modified
        assert not state.expired_attributes
        assert state.key is not None
        assert session.identity_map.get(state.key) is ticket
    assert isinstance(direct.status, TicketStatus)
    assert direct.created_at.tzinfo is not None

    # Changed later like any ticket read by a query: its version guards the update.
    direct.priority = Priority.low
    await session.flush()
    session.expunge(direct)
    again = (await session.execute(select(Ticket).where(Ticket.id == direct.id))).scalar_one()
    assert (again.priority, again.version) == (Priority.low, 2)


async def test_the_created_event_written_in_one_trip_is_the_one_sqlalchemy_writes(
    session: AsyncSession, workspace: Workspace, clock: FrozenClock
) -> None:
    direct, loaded, watched = await opened_both_ways(session, workspace, clock)
    dialect = (await session.connection()).dialect.name
    assert watched[-1] == ("WITH" if dialect == "postgresql" else "INSERT")

    found = []
    for ticket in (direct, loaded):
        query = select(AuditEvent).where(
            AuditEvent.object_type == "ticket", AuditEvent.object_id == ticket.id
        )
        [event] = (await session.execute(query)).scalars()
        changes = dict(event.changes)
        assert changes.pop("number") == [None, ticket.number]
        found.append(
            (event.workspace_id, event.actor_type, event.actor_id, event.action, event.created_at, changes)
        )
    assert found[0] == found[1]


async def test_a_ticket_of_another_workspace_is_refused_before_anything_is_sent(
    session: AsyncSession,
    workspace: Workspace,
    other_workspace: Workspace,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[object] = []
    original = direct_calls.returned_object

    async def counted(*args: Any) -> Any:
        sent.append(args)
        return await original(*args)

    monkeypatch.setattr(direct_calls, "returned_object", counted)
    scope_to_workspace(session.sync_session, workspace.id)
    act_as(session.sync_session, SYSTEM, clock)
    now = clock.now()
    values = {
        "workspace_id": other_workspace.id,
        "number": 1,
        "title": "Not ours",
        "description": "",
        "status": TicketStatus.open,
        "priority": Priority.medium,
        "category": "general",
        "channel": "api",
        "escalated": False,
        "created_at": now,
        "updated_at": now,
    }

    with pytest.raises(CrossWorkspaceWrite):
        await repository.insert_ticket(session, values)

    assert sent == []
    assert (await session.execute(select(Ticket.id).where(Ticket.title == "Not ours"))).first() is None
