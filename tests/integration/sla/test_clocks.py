"""A ticket's SLA clocks follow its changes from inside the flush, whichever way the ticket was changed:
through the services as through a plain session (a notebook, a data migration), with the workspace's
setup taken from the cache the services read, and no work at all for a change the clocks do not follow."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.core.clock import FrozenClock
from supportdesk.db.caches import Caches
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people.models import Tier
from supportdesk.sla import service as sla_service
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Priority, Ticket, TicketStatus
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory, UserFactory
from tests.fixtures.clock import FROZEN_AT
from tests.fixtures.statements import statements_run
from tests.integration.sla.helpers import PolicyFactory

T0 = FROZEN_AT
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def bare(session: AsyncSession, clock: FrozenClock) -> AsyncSession:
    """A plain session (no service involved), stamping with the test's clock."""
    act_as(session.sync_session, SYSTEM, clock)
    return session


async def bare_ticket(bare: AsyncSession, workspace: Workspace, **fields: Any) -> Ticket:
    ticket = Ticket(workspace_id=workspace.id, title="Printer on fire", **fields)
    bare.add(ticket)
    await bare.commit()
    return ticket


def due_of(ticket: Ticket) -> tuple[datetime | None, datetime | None]:
    return ticket.first_response_due_at, ticket.resolution_due_at


async def stored(database: Database, ticket: Ticket) -> Ticket:
    async with database.new_session() as fresh:
        return await fresh.get_one(Ticket, ticket.id)


# --- Changes through a plain session ---------------------------------------------------------------


async def test_a_status_change_on_a_plain_session_pauses_and_resumes_the_resolution_clock(
    bare: AsyncSession, database: Database, workspace: Workspace, clock: FrozenClock
) -> None:
    ticket = await bare_ticket(bare, workspace, priority="high")
    assert due_of(ticket) == (T0 + 4 * HOUR, T0 + 24 * HOUR)

    clock.advance(HOUR)
    ticket.status = TicketStatus.pending
    await bare.commit()
    pending = await stored(database, ticket)
    assert (pending.sla_paused_at, pending.sla_paused_seconds) == (T0 + HOUR, 0)
    assert due_of(pending) == (T0 + 4 * HOUR, T0 + 24 * HOUR)

    clock.advance(2 * HOUR)
    ticket.status = "in_progress"  # type: ignore[assignment]  # a plain session takes the string
    await bare.commit()
    resumed = await stored(database, ticket)
    assert (resumed.sla_paused_at, resumed.sla_paused_seconds) == (None, 2 * 3600)
    # The two hours it waited on the customer are added to the resolution target, and moving into
    # progress is the first response.
    assert due_of(resumed) == (T0 + 4 * HOUR, T0 + 26 * HOUR)
    assert resumed.resolution_at_risk_at == T0 + 20 * HOUR
    assert resumed.first_responded_at == T0 + 3 * HOUR


async def test_a_priority_change_on_a_plain_session_moves_the_due_times(
    bare: AsyncSession, database: Database, workspace: Workspace, clock: FrozenClock
) -> None:
    ticket = await bare_ticket(bare, workspace, priority="low")
    assert due_of(ticket) == (T0 + 72 * HOUR, T0 + 168 * HOUR)

    clock.advance(2 * HOUR)
    ticket.priority = Priority.critical
    await bare.commit()

    moved = await stored(database, ticket)
    # Counted from the ticket's creation, not from the change.
    assert due_of(moved) == (T0 + HOUR, T0 + 8 * HOUR)
    assert (moved.first_response_at_risk_at, moved.resolution_at_risk_at) == (
        T0 + 45 * MINUTE,
        T0 + 6 * HOUR,
    )


async def test_a_status_set_without_being_loaded_still_pauses_the_clock(
    bare: AsyncSession, database: Database, workspace: Workspace, clock: FrozenClock
) -> None:
    ticket = await bare_ticket(bare, workspace)
    clock.advance(HOUR)
    # As a session that expires what it committed leaves it: the change cannot tell what it replaced.
    bare.expire(ticket, ["status"])
    ticket.status = TicketStatus.resolved
    await bare.commit()

    assert (await stored(database, ticket)).sla_paused_at == T0 + HOUR


async def test_a_category_or_customer_change_matches_the_policy_again(
    bare: AsyncSession,
    database: Database,
    workspace: Workspace,
    clock: FrozenClock,
    policy_factory: PolicyFactory,
    customer_factory: CustomerFactory,
) -> None:
    billing = await policy_factory(category="billing", first_response_minutes={"medium": 120})
    enterprise = await policy_factory(tier=Tier.enterprise, first_response_minutes={"medium": 30})
    vip = await customer_factory(tier=Tier.enterprise)
    ticket = await bare_ticket(bare, workspace)
    assert (ticket.sla_policy_id, ticket.first_response_due_at) == (None, T0 + 24 * HOUR)

    clock.advance(HOUR)
    ticket.category = "billing"
    await bare.commit()
    assert ((await stored(database, ticket)).sla_policy_id, ticket.first_response_due_at) == (
        billing.id,
        T0 + 2 * HOUR,
    )

    ticket.customer_id = vip.id
    await bare.commit()
    # The customer's tier outranks the category.
    assert ((await stored(database, ticket)).sla_policy_id, ticket.first_response_due_at) == (
        enterprise.id,
        T0 + 30 * MINUTE,
    )


# --- Changes through the services ---------------------------------------------------------------------


async def test_the_clocks_stop_at_the_instant_the_service_stamped_the_change_with(
    session: AsyncSession,
    database: Database,
    workspace: Workspace,
    clock: FrozenClock,
    user_factory: UserFactory,
) -> None:
    """A service is given its clock; the session here has none (it would stamp with the wall clock), and
    the pause still starts when the ticket was resolved."""
    agent = await user_factory()
    scope_to_workspace(session.sync_session, workspace.id)
    ticket = Ticket(workspace_id=workspace.id, title="Printer on fire", assigned_agent_id=agent.id)
    session.add(ticket)
    await session.flush()
    clock.advance(HOUR)

    await ticket_service.update_ticket(session, clock, ticket, {"status": TicketStatus.resolved}, actor=agent)
    await session.commit()

    resolved = await stored(database, ticket)
    assert resolved.resolved_at == resolved.updated_at == resolved.sla_paused_at == T0 + HOUR


# --- What it costs ------------------------------------------------------------------------------------


class CacheUse:
    """Counts how often the flush asks a database's caches for anything."""

    def __init__(self, caches: Caches, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = caches.revision_cache

        def counted(key: Any) -> Any:
            self.count += 1
            return original(key)

        monkeypatch.setattr(caches, "revision_cache", counted)


async def test_a_change_the_clocks_do_not_follow_reads_and_consults_nothing(
    bare: AsyncSession,
    connection: AsyncConnection,
    database: Database,
    workspace: Workspace,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticket = await bare_ticket(bare, workspace)
    use = CacheUse(database.caches, monkeypatch)
    clock.advance(HOUR)
    ticket.title = "Printer still on fire"
    ticket.description = "Smoke everywhere."
    ticket.escalated = True
    await bare.connection()  # the session's transaction (a savepoint here) begins outside the count

    with statements_run(connection) as seen:
        await bare.flush()

    assert use.count == 0
    # The ticket's update and its audit event, nothing read.
    assert seen == ["UPDATE", "INSERT"]
    assert due_of(ticket) == (T0 + 24 * HOUR, T0 + 72 * HOUR)

    # The same flush with a followed change does consult the cache, so the count above means something.
    ticket.priority = Priority.high
    await bare.flush()
    assert use.count > 0


async def test_the_flush_takes_the_setup_the_services_cached_while_its_revision_holds(
    bare: AsyncSession,
    database: Database,
    workspace: Workspace,
    clock: FrozenClock,
    policy_factory: PolicyFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticket = await bare_ticket(bare, workspace, category="billing")
    cached = await sla_service.load_setup(bare, workspace.id)
    reads: list[int] = []
    read_setup = sla_service.read_setup

    def counted(session: Any, workspace_id: int, revision: int) -> sla_service.SlaSetup:
        reads.append(revision)
        return read_setup(session, workspace_id, revision)

    monkeypatch.setattr(sla_service, "read_setup", counted)

    ticket.priority = Priority.high
    await bare.commit()
    assert reads == []
    assert due_of(ticket) == (T0 + 4 * HOUR, T0 + 24 * HOUR)

    # A policy saved through the service gives the workspace a new revision; the service builds the
    # setup at that revision, and a flush of another unit of work takes that one.
    policy = await policy_factory(category="billing", first_response_minutes={"medium": 90})
    assert len(reads) == 1
    assert reads[0] != cached.revision
    async with database.new_session() as fresh:
        act_as(fresh.sync_session, SYSTEM, clock)
        changed = await fresh.get_one(Ticket, ticket.id)
        changed.priority = Priority.medium
        await fresh.commit()
    assert (changed.sla_policy_id, changed.first_response_due_at) == (policy.id, T0 + 90 * MINUTE)
    assert len(reads) == 1
