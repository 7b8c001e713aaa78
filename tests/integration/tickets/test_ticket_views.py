"""The API view of a ticket is built once per version of it in a transaction (a change's announcement
and the answer to the request share it), and never shown stale: a change not yet flushed, a commit or
a rollback builds it anew."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.core.clock import FrozenClock
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.tickets import service
from supportdesk.tickets.models import Ticket
from supportdesk.tickets.views import ticket_view
from supportdesk.workspaces.models import Workspace
from tests.factories.tickets import TicketFactory

pytestmark = pytest.mark.integration


async def loaded(session: AsyncSession, workspace: Workspace, ticket_factory: TicketFactory) -> Ticket:
    made = await ticket_factory(title="Printer on fire")
    scope_to_workspace(session.sync_session, workspace.id)
    return await service.get_ticket(session, made.id)


async def test_a_second_view_of_the_same_version_is_the_first(
    session: AsyncSession, workspace: Workspace, ticket_factory: TicketFactory, clock: FrozenClock
) -> None:
    ticket = await loaded(session, workspace, ticket_factory)
    first = await ticket_view(session, ticket, clock.now())
    again = await ticket_view(session, ticket, clock.now() + timedelta(milliseconds=1))
    assert again is first


async def test_a_change_not_yet_flushed_is_shown(
    session: AsyncSession, workspace: Workspace, ticket_factory: TicketFactory, clock: FrozenClock
) -> None:
    ticket = await loaded(session, workspace, ticket_factory)
    await ticket_view(session, ticket, clock.now())
    ticket.title = "Printer still on fire"
    assert (await ticket_view(session, ticket, clock.now())).title == "Printer still on fire"
    await session.flush()
    assert (await ticket_view(session, ticket, clock.now())).version == ticket.version


@pytest.mark.parametrize("end", ["commit", "rollback"], ids=["after-a-commit", "after-a-rollback"])
async def test_the_end_of_the_transaction_forgets_every_view(
    session: AsyncSession,
    workspace: Workspace,
    ticket_factory: TicketFactory,
    clock: FrozenClock,
    end: str,
) -> None:
    ticket = await loaded(session, workspace, ticket_factory)
    ticket_id = ticket.id
    first = await ticket_view(session, ticket, clock.now())
    await (session.commit() if end == "commit" else session.rollback())
    clock.advance(timedelta(hours=1))
    later = await ticket_view(session, await service.get_ticket(session, ticket_id), clock.now())
    assert later is not first
    assert later.sla is not None
    assert first.sla is not None
    assert later.sla.resolution is not None
    assert first.sla.resolution is not None
    assert later.sla.resolution.remaining_seconds == first.sla.resolution.remaining_seconds - 3600
