"""Without a CRM, a customer's CRM view is the stored tier, saying so."""

from __future__ import annotations

import pytest

from supportdesk.people.models import Tier
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
