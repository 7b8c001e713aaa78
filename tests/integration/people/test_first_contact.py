"""A customer's first contact creates them once, even when two requests race to do it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people import service as people_service
from supportdesk.people.models import Customer
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory


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
