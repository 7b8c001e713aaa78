"""The session enforces tenancy by itself: scoped sessions neither see nor write another workspace's rows."""

from __future__ import annotations

from typing import cast

import pytest
from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.db.tenancy import (
    NAMES_ITS_WORKSPACE,
    CrossWorkspaceWrite,
    UnscopedSession,
    current_workspace_id,
    required_workspace_id,
    scope_to_workspace,
)
from supportdesk.people.models import Customer
from supportdesk.tickets.models import Comment, Ticket, TicketTag
from supportdesk.workspaces.models import Workspace
from tests.factories.people import UserFactory
from tests.factories.tickets import CommentFactory, TicketFactory


@pytest.fixture
async def two_tenants(
    workspace: Workspace,
    other_workspace: Workspace,
    ticket_factory: TicketFactory,
    comment_factory: CommentFactory,
    user_factory: UserFactory,
) -> tuple[Ticket, Ticket]:
    mine = await ticket_factory(workspace=workspace, tags=["shared"], customer_email="a@example.com")
    theirs = await ticket_factory(workspace=other_workspace, tags=["shared"], customer_email="a@example.com")
    await comment_factory(theirs, author=await user_factory(workspace=other_workspace))
    return mine, theirs


async def test_an_unscoped_session_sees_everything(
    session: AsyncSession, two_tenants: tuple[Ticket, Ticket]
) -> None:
    assert current_workspace_id(session.sync_session) is None
    assert (await session.execute(select(func.count()).select_from(Ticket))).scalar_one() == 2


async def test_a_scoped_session_sees_only_its_workspace(
    session: AsyncSession, workspace: Workspace, two_tenants: tuple[Ticket, Ticket]
) -> None:
    mine, theirs = two_tenants
    scope_to_workspace(session.sync_session, workspace.id)
    assert (await session.execute(select(Ticket.id))).scalars().all() == [mine.id]
    assert (await session.execute(select(func.count()).select_from(Ticket))).scalar_one() == 1
    assert await session.get(Ticket, theirs.id) is None
    assert (await session.execute(select(func.count()).select_from(Customer))).scalar_one() == 1
    assert (await session.execute(select(func.count()).select_from(Comment))).scalar_one() == 0
    tags = await session.execute(select(TicketTag.ticket_id).where(TicketTag.name == "shared"))
    assert tags.scalars().all() == [mine.id]


# Built once, as the services build theirs: the session keeps one scoped form of it per workspace.
_TICKETS_TAGGED_SHARED = (
    select(Ticket.id).join(TicketTag, TicketTag.ticket_id == Ticket.id).where(TicketTag.name == "shared")
)


async def test_a_statement_kept_and_run_for_each_workspace_in_turn_sees_only_the_current_one(
    session: AsyncSession, workspace: Workspace, two_tenants: tuple[Ticket, Ticket]
) -> None:
    mine, theirs = two_tenants
    seen = []
    for workspace_id in (workspace.id, theirs.workspace_id, workspace.id, theirs.workspace_id):
        scope_to_workspace(session.sync_session, workspace_id)
        seen.append((await session.execute(_TICKETS_TAGGED_SHARED)).scalars().all())

    assert seen == [[mine.id], [theirs.id], [mine.id], [theirs.id]]


async def test_joins_are_scoped_too(
    session: AsyncSession, workspace: Workspace, two_tenants: tuple[Ticket, Ticket]
) -> None:
    scope_to_workspace(session.sync_session, workspace.id)
    joined = await session.execute(
        select(Ticket.id, Customer.id).join(Customer, Customer.id == Ticket.customer_id)
    )
    assert len(joined.all()) == 1


async def test_bulk_updates_cannot_touch_another_workspace(
    session: AsyncSession, workspace: Workspace, two_tenants: tuple[Ticket, Ticket]
) -> None:
    mine, theirs = two_tenants
    scope_to_workspace(session.sync_session, workspace.id)
    await session.execute(
        update(Ticket).values(title="Bulk"), execution_options={"synchronize_session": False}
    )
    updated = (await session.execute(select(Ticket.title).where(Ticket.id == mine.id))).scalar_one()
    scope_to_workspace(session.sync_session, theirs.workspace_id)
    untouched = (await session.execute(select(Ticket.title).where(Ticket.id == theirs.id))).scalar_one()
    assert updated == "Bulk"
    assert untouched != "Bulk"


async def test_new_rows_get_the_sessions_workspace(
    session: AsyncSession, workspace: Workspace, two_tenants: tuple[Ticket, Ticket]
) -> None:
    from datetime import UTC, datetime

    scope_to_workspace(session.sync_session, workspace.id)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    customer = Customer(email="new@example.com", created_at=now, updated_at=now)
    session.add(customer)
    await session.flush()
    assert customer.workspace_id == workspace.id


async def test_writing_into_another_workspace_is_refused(
    session: AsyncSession,
    workspace: Workspace,
    other_workspace: Workspace,
    two_tenants: tuple[Ticket, Ticket],
) -> None:
    from datetime import UTC, datetime

    scope_to_workspace(session.sync_session, workspace.id)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    session.add(
        Customer(workspace_id=other_workspace.id, email="x@example.com", created_at=now, updated_at=now)
    )
    with pytest.raises(CrossWorkspaceWrite):
        await session.flush()


async def test_statements_below_the_orm_refuse_an_unscoped_session(
    session: AsyncSession, workspace: Workspace
) -> None:
    with pytest.raises(UnscopedSession):
        required_workspace_id(session.sync_session)
    scope_to_workspace(session.sync_session, workspace.id)
    assert required_workspace_id(session.sync_session) == workspace.id


async def test_an_ordinary_select_naming_a_workspace_is_still_limited_to_the_sessions(
    session: AsyncSession, workspace: Workspace, two_tenants: tuple[Ticket, Ticket]
) -> None:
    """The option ticket creation's INSERT carries lifts the criteria only from a statement loaded as
    objects; a plain select that carries it still sees the session's workspace alone."""
    mine, theirs = two_tenants
    scope_to_workspace(session.sync_session, workspace.id)

    seen = await session.execute(
        select(Ticket.id), execution_options={NAMES_ITS_WORKSPACE: theirs.workspace_id}
    )

    assert seen.scalars().all() == [mine.id]


async def test_a_statement_naming_another_workspace_is_refused(
    session: AsyncSession, workspace: Workspace, two_tenants: tuple[Ticket, Ticket]
) -> None:
    _mine, theirs = two_tenants
    scope_to_workspace(session.sync_session, workspace.id)
    loaded = select(Ticket).from_statement(select(cast(Table, Ticket.__table__)))

    with pytest.raises(CrossWorkspaceWrite):
        await session.execute(loaded, execution_options={NAMES_ITS_WORKSPACE: theirs.workspace_id})
