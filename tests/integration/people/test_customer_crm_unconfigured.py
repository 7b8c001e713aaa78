"""Without a CRM, a customer's CRM view is what is stored, saying so, and no new customer is sent to a
CRM: not one outbox row more per first contact."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.integrations.crm import CrmProfile
from supportdesk.jobs.models import DeliveryChannel, OutboxMessage
from supportdesk.people import service as people_service
from supportdesk.people.models import Tier
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory
from tests.fixtures.app import ApiClient

pytestmark = pytest.mark.integration


async def test_without_a_crm_the_stored_tier_is_the_answer(
    viewer_client: ApiClient, customer_factory: CustomerFactory
) -> None:
    customer = await customer_factory(tier=Tier.enterprise)

    response = await viewer_client.get(f"/api/v1/customers/{customer.id}/crm")

    assert response.status_code == 200
    body = response.json()
    assert (body["tier"], body["source"], body["reason"]) == ("enterprise", "stored", "no CRM is configured")
    assert (body["plan"], body["account_manager"], body["checked_at"]) == (None, None, None)


async def test_what_a_crm_said_before_is_the_stored_answer(
    viewer_client: ApiClient,
    customer_factory: CustomerFactory,
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
) -> None:
    """A desk that had a CRM and no longer has one still shows what the CRM last said."""
    customer = await customer_factory(tier=Tier.basic)
    checked_at = datetime(2026, 2, 27, 16, 30, tzinfo=UTC)
    said = CrmProfile(tier=Tier.premium, plan="Gold", account_manager="Lee Park", crm_id="c-17")
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        stored = await people_service.get_customer(session, customer.id)
        await people_service.record_crm_answer(session, clock, stored, said, checked_at=checked_at)

    body = (await viewer_client.get(f"/api/v1/customers/{customer.id}/crm")).json()

    assert (body["source"], body["tier"], body["stored_tier"]) == ("stored", "premium", "premium")
    assert (body["plan"], body["account_manager"]) == ("Gold", "Lee Park")
    assert datetime.fromisoformat(body["checked_at"]) == checked_at


async def test_without_a_crm_no_new_customer_is_sent_to_one(
    admin_client: ApiClient, database: Database, clock: FrozenClock, workspace: Workspace
) -> None:
    opened = await admin_client.post(
        "/api/v1/tickets", json={"title": "Printer on fire", "customer_email": "maria@example.com"}
    )
    assert opened.status_code == 201, opened.text
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        await people_service.create_customer(session, clock, email="kim@example.com")

    async with database.unit_of_work(readonly=True) as session:
        query = select(OutboxMessage.channel).order_by(OutboxMessage.id)
        channels = list((await session.execute(query)).scalars())
    assert DeliveryChannel.crm not in channels
    assert channels, "the ticket's acknowledgement was written, so the outbox was in use"
