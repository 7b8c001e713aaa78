"""A customer's first contact creates them once, even when two requests race to do it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.models import ActorType, AuditAction, AuditEvent
from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people import repository as people_repository
from supportdesk.people import service as people_service
from supportdesk.people.models import Customer
from supportdesk.tickets import flows
from supportdesk.tickets.models import Ticket
from supportdesk.workspaces import service as workspace_service
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory
from tests.fixtures.statements import statements_run


async def test_an_unknown_address_becomes_a_customer(
    database: Database, workspace: Workspace, clock: FrozenClock
) -> None:
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        customer = await people_service.find_or_create_customer(
            session, clock, email="new@example.com", name="N"
        )
    assert customer.email == "new@example.com"
    assert customer.name == "N"


async def test_losing_the_race_returns_the_winners_customer(
    database: Database,
    workspace: Workspace,
    clock: FrozenClock,
    customer_factory: CustomerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The other request commits the customer between our look-up and our insert: our look-up saw
    # nothing, so we try to create, fail on the uniqueness check, and must return the winner's row.
    winner = await customer_factory(email="race@example.com")
    real_lookup = people_service.find_customer_by_email
    calls = 0

    async def lookup_that_is_one_step_behind(session: object, email: str) -> Customer | None:
        nonlocal calls
        calls += 1
        return None if calls == 1 else await real_lookup(session, email)  # type: ignore[arg-type]

    monkeypatch.setattr(people_service, "find_customer_by_email", lookup_that_is_one_step_behind)
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        customer = await people_service.find_or_create_customer(session, clock, email="race@example.com")
        count = await session.execute(select(func.count()).select_from(Customer))
    assert customer.id == winner.id
    assert count.scalar_one() == 1


async def _created_events(session: AsyncSession, customer_id: int) -> list[AuditEvent]:
    found = await session.execute(
        select(AuditEvent).where(
            AuditEvent.object_type == "customer",
            AuditEvent.object_id == customer_id,
            AuditEvent.action == AuditAction.created,
        )
    )
    return list(found.scalars())


async def test_a_first_contact_is_recorded_in_the_audit_trail_once(
    database: Database, workspace: Workspace, clock: FrozenClock
) -> None:
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        act_as(session.sync_session, SYSTEM, clock)
        customer = await people_service.find_or_create_customer(
            session, clock, email="first@example.com", name="First"
        )
        customer_id = customer.id
    async with database.unit_of_work(readonly=True) as session:
        [event] = await _created_events(session, customer_id)
        assert event.workspace_id == workspace.id
        assert event.actor_type == ActorType.system
        assert event.created_at == clock.now()
        assert event.changes["email"] == [None, "first@example.com"]
        assert event.changes["name"] == [None, "First"]


async def test_a_lost_race_writes_nothing_and_the_transaction_goes_on(
    database: Database,
    workspace: Workspace,
    clock: FrozenClock,
    customer_factory: CustomerFactory,
) -> None:
    # Losing the race must not spoil the unit of work: the ticket the first contact was for is still
    # written and committed with it, and the loser leaves no event about a customer it did not create.
    # ``found=None`` is a look-up that found nothing before the winner committed.
    winner = await customer_factory(email="race@example.com")
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        customer = await people_service.find_or_create_customer(
            session, clock, email="race@example.com", found=None
        )
        ticket = await flows.process_new_ticket(
            session,
            clock,
            actor=None,
            workspace_id=workspace.id,
            title="Printer on fire",
            customer_email=customer.email,
            found_customer=customer,
        )
        customer_id, ticket_id = customer.id, ticket.id
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, workspace.id)
        stored = await session.get(Ticket, ticket_id)
        assert stored is not None
        assert stored.customer_id == winner.id
        events = await _created_events(session, winner.id)
    assert customer_id == winner.id
    assert len(events) == 1, "only the winner's own creation is recorded"


async def test_two_first_contacts_at_once_make_one_customer(
    real_database: Database, clock: FrozenClock
) -> None:
    # Two units of work, each with its own connection: the second writes while the first, which wrote
    # the same address, has not committed yet. It waits for that commit and then finds the first's row.
    async with real_database.unit_of_work() as session:
        workspace = await workspace_service.create_workspace(session, clock, slug="acme", name="Acme")
    first_wrote = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> int:
        async with real_database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            customer = await people_service.find_or_create_customer(
                session, clock, email="both@example.com", found=None
            )
            first_wrote.set()
            await release_first.wait()
            return customer.id

    async def second() -> int:
        await first_wrote.wait()
        async with real_database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            customer = await people_service.find_or_create_customer(
                session, clock, email="both@example.com", found=None
            )
            return customer.id

    first_task, second_task = asyncio.create_task(first()), asyncio.create_task(second())
    await first_wrote.wait()
    await asyncio.sleep(0.2)  # the second is waiting for the first's commit (PostgreSQL) or its turn
    assert not second_task.done()
    release_first.set()
    first_id, second_id = await asyncio.wait_for(asyncio.gather(first_task, second_task), timeout=10)
    async with real_database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, workspace.id)
        count = await session.execute(select(func.count()).select_from(Customer))
        events = await _created_events(session, first_id)
    assert second_id == first_id
    assert count.scalar_one() == 1
    assert len(events) == 1


async def test_a_first_contact_written_by_the_driver_is_the_customer_sqlalchemy_loads(
    session: AsyncSession, workspace: Workspace, clock: FrozenClock
) -> None:
    # Watching the SQL sends the statement through SQLAlchemy: the second customer is the one to
    # compare with.
    scope_to_workspace(session.sync_session, workspace.id)
    act_as(session.sync_session, SYSTEM, clock)
    by_driver = await people_repository.insert_first_contact(
        session, clock.now(), email="a@example.com", name="A"
    )
    with statements_run(await session.connection()) as watched:
        by_query = await people_repository.insert_first_contact(
            session, clock.now(), email="b@example.com", name="A"
        )

    assert watched
    assert by_driver is not None
    assert by_query is not None
    assert not session.sync_session.is_modified(by_driver)
    ignored = {"id", "email"}
    assert {key: value for key, value in vars_of(by_driver).items() if key not in ignored} == {
        key: value for key, value in vars_of(by_query).items() if key not in ignored
    }
    by_driver.name = "Changed later"
    await session.flush()
    stored = await session.scalar(select(Customer.name).where(Customer.id == by_driver.id))
    assert stored == "Changed later"


def vars_of(customer: Customer) -> dict[str, object]:
    return {column.key: getattr(customer, column.key) for column in Customer.__table__.columns}
