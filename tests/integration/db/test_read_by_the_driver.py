"""A row read by the driver's own call (``direct.first``) is the row SQLAlchemy's query gives: the same
objects and values, the objects in the session as a query puts them there, limited to the session's
workspace the same way. Watching the SQL sends the statement through SQLAlchemy, which is how a test
gets the row to compare with."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import BindParameter, bindparam, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.models import AuditEvent
from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.core.clock import FrozenClock
from supportdesk.db import direct
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people.models import Customer
from supportdesk.tickets.models import Ticket
from supportdesk.workspaces.models import Workspace
from tests.factories.tickets import TicketFactory
from tests.fixtures.statements import statements_run

pytestmark = pytest.mark.integration

_TICKET: BindParameter[int] = bindparam("ticket")
# Two entities (the second outer-joined) and a value of a third table, as the busiest reads select them.
_TICKET_WITH_CUSTOMER = (
    select(Ticket, Customer, Workspace.name)
    .join(Workspace, Workspace.id == Ticket.workspace_id)
    .outerjoin(Customer, Customer.id == Ticket.customer_id)
    .where(Ticket.id == _TICKET)
)


def columns_of(instance: Any) -> dict[str, Any]:
    return {
        attribute.key: getattr(instance, attribute.key) for attribute in inspect(type(instance)).column_attrs
    }


async def read_both_ways(session: AsyncSession, ticket_id: int) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The row read by the driver, then, in an emptied session, by SQLAlchemy's query."""
    by_driver = await direct.first(session, _TICKET_WITH_CUSTOMER, {"ticket": ticket_id})
    assert by_driver is not None
    session.expunge_all()
    with statements_run(await session.connection()) as watched:
        by_query = await direct.first(session, _TICKET_WITH_CUSTOMER, {"ticket": ticket_id})
    assert watched == ["SELECT"]
    assert by_query is not None
    return by_driver, by_query


async def test_a_row_read_by_the_driver_is_the_row_the_query_loads(
    session: AsyncSession, workspace: Workspace, ticket_factory: TicketFactory
) -> None:
    ticket = await ticket_factory(customer_email="ines@example.org", tags=["billing"])
    scope_to_workspace(session.sync_session, workspace.id)

    (
        (ticket_read, customer_read, name_read),
        (ticket_loaded, customer_loaded, name_loaded),
    ) = await read_both_ways(session, ticket.id)

    assert isinstance(ticket_read, Ticket)
    assert isinstance(customer_read, Customer)
    assert columns_of(ticket_read) == columns_of(ticket_loaded)
    assert columns_of(customer_read) == columns_of(customer_loaded)
    assert customer_read.email == "ines@example.org"
    assert name_read == name_loaded == workspace.name


async def test_an_outer_joined_entity_that_is_not_there_is_none(
    session: AsyncSession, workspace: Workspace, ticket_factory: TicketFactory
) -> None:
    ticket = await ticket_factory(customer_email=None)
    scope_to_workspace(session.sync_session, workspace.id)

    (ticket_read, customer_read, _), (_, customer_loaded, _) = await read_both_ways(session, ticket.id)

    assert ticket_read.id == ticket.id
    assert customer_read is None
    assert customer_loaded is None


async def test_no_row_is_none(session: AsyncSession, workspace: Workspace) -> None:
    scope_to_workspace(session.sync_session, workspace.id)

    assert await direct.first(session, _TICKET_WITH_CUSTOMER, {"ticket": 987_654_321}) is None


async def test_another_workspaces_row_is_not_read(
    session: AsyncSession, workspace: Workspace, other_workspace: Workspace, ticket_factory: TicketFactory
) -> None:
    theirs = await ticket_factory(workspace=other_workspace, customer_email="ines@example.org")

    scope_to_workspace(session.sync_session, workspace.id)
    seen_from_ours = await direct.first(session, _TICKET_WITH_CUSTOMER, {"ticket": theirs.id})
    scope_to_workspace(session.sync_session, other_workspace.id)
    seen_from_theirs = await direct.first(session, _TICKET_WITH_CUSTOMER, {"ticket": theirs.id})

    assert seen_from_ours is None
    assert seen_from_theirs is not None
    assert seen_from_theirs[0].id == theirs.id


async def test_an_object_the_session_holds_comes_back_as_it_is(
    session: AsyncSession, workspace: Workspace, ticket_factory: TicketFactory
) -> None:
    ticket = await ticket_factory()
    scope_to_workspace(session.sync_session, workspace.id)
    held = await session.get_one(Ticket, ticket.id)
    with session.no_autoflush:
        held.title = "Changed, not written yet"
        row = await direct.first(session, _TICKET_WITH_CUSTOMER, {"ticket": ticket.id})

    assert row is not None
    assert row[0] is held
    assert row[0].title == "Changed, not written yet"


async def test_a_session_that_flushes_before_queries_writes_its_changes_before_the_read(
    session: AsyncSession, workspace: Workspace, ticket_factory: TicketFactory
) -> None:
    # The desk's own sessions flush when their services say; a session made to flush before every
    # query (autoflush, SQLAlchemy's default) gets that from the driver's read too.
    ticket = await ticket_factory()
    scope_to_workspace(session.sync_session, workspace.id)
    session.sync_session.autoflush = True
    held = await session.get_one(Ticket, ticket.id)
    held.title = "Written by the flush first"

    row = await direct.first(session, select(Ticket.title).where(Ticket.id == _TICKET), {"ticket": ticket.id})

    assert row == ("Written by the flush first",)


async def test_an_object_read_by_the_driver_changes_like_any_other(
    session: AsyncSession, workspace: Workspace, ticket_factory: TicketFactory, clock: FrozenClock
) -> None:
    ticket = await ticket_factory()
    version = ticket.version
    session.expunge_all()
    scope_to_workspace(session.sync_session, workspace.id)
    act_as(session.sync_session, SYSTEM, clock)
    row = await direct.first(session, _TICKET_WITH_CUSTOMER, {"ticket": ticket.id})
    assert row is not None
    read: Ticket = row[0]
    assert not session.sync_session.is_modified(read)

    read.title = "Renamed after the read"
    await session.flush()

    stored = await session.execute(select(Ticket.title, Ticket.version).where(Ticket.id == ticket.id))
    assert stored.one() == ("Renamed after the read", version + 1)
    events = await session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "ticket", AuditEvent.object_id == ticket.id)
    )
    assert [event.changes.get("title") for event in events if "title" in event.changes][-1] == [
        ticket.title,
        "Renamed after the read",
    ]


async def test_the_first_statement_of_a_unit_of_work_is_read_by_the_driver(
    real_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On PostgreSQL SQLAlchemy opens the transaction with its first statement; a read sent past it
    # opens it the same way, and the rest of the unit of work runs in that transaction.
    ways: list[bool] = []
    original = direct._first_row

    async def watched(*args: Any) -> Any:
        found = await original(*args)
        ways.append(not isinstance(found, direct.NotSent))
        return found

    monkeypatch.setattr(direct, "_first_row", watched)
    async with real_database.unit_of_work() as session:
        workspace = Workspace(name="Read first", slug="read-first")
        session.add(workspace)
    async with real_database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        row = await direct.first(
            session, select(Workspace.name).where(Workspace.id == bindparam("id")), {"id": workspace.id}
        )
        session.add(Customer(email="first@example.org"))

    assert row == ("Read first",)
    assert ways == [True]
    async with real_database.unit_of_work(readonly=True) as session:
        found = await session.scalars(select(Customer.email).where(Customer.workspace_id == workspace.id))
        assert found.all() == ["first@example.org"]


async def test_a_statement_expected_to_return_its_row_and_returning_none_is_an_error(
    session: AsyncSession, workspace: Workspace
) -> None:
    scope_to_workspace(session.sync_session, workspace.id)
    connection = await session.connection()

    with pytest.raises(LookupError):
        await direct.fetch_row_in_one_trip(
            connection.sync_connection,
            select(Workspace.name).where(Workspace.id == bindparam("id")),
            {"id": 987_654_321},
        )
