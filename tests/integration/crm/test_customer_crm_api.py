"""/api/v1/customers/{id}/crm and /customers/lookup/crm: what the CRM says of a customer, fresh or
cached, the last known answer while the CRM is down, and the stored tier when there is none; never an
error for the CRM's trouble."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import respx
import stamina
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.people.models import Tier
from tests.factories.people import CustomerFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.integration

CRM = "https://crm.example.test/api"
PROFILE = {"tier": "enterprise", "plan": "Gold support", "account_manager": "Lee Park", "id": "c-17"}


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    """A server with a JSON CRM."""
    return make_settings(
        engine.url.render_as_string(hide_password=False), crm_kind="json", crm_url=CRM, crm_token="crm-token"
    )


@pytest.fixture(autouse=True)
def no_waiting_between_attempts() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3, cap=True):
        yield


@pytest.fixture
def crm() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=CRM, assert_all_called=False) as router:
        yield router


async def test_the_crm_answers_and_the_next_look_is_cached(
    agent_client: ApiClient, customer_factory: CustomerFactory, crm: respx.MockRouter
) -> None:
    customer = await customer_factory(email="maria@example.com", tier=Tier.free)
    route = crm.get("/customers", params={"email": "maria@example.com"}).respond(200, json=PROFILE)

    first = await agent_client.get(f"/api/v1/customers/{customer.id}/crm")
    second = await agent_client.get("/api/v1/customers/lookup/crm", params={"email": "maria@example.com"})

    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["tier"], body["stored_tier"], body["plan"], body["account_manager"]) == (
        "enterprise",
        "free",
        "Gold support",
        "Lee Park",
    )
    assert (body["source"], body["reason"]) == ("fresh", None)
    assert body["checked_at"] is not None
    assert second.json()["source"] == "cached"
    assert second.json()["customer_id"] == customer.id
    assert route.call_count == 1
    assert route.calls[0].request.headers["authorization"] == "Bearer crm-token"


async def test_while_the_crm_is_down_the_last_answer_is_served_then_the_stored_tier(
    agent_client: ApiClient, customer_factory: CustomerFactory, crm: respx.MockRouter, clock: FrozenClock
) -> None:
    known = await customer_factory(email="maria@example.com")
    unknown = await customer_factory(email="kim@example.com", tier=Tier.premium)
    crm.get("/customers", params={"email": "maria@example.com"}).respond(200, json=PROFILE)
    await agent_client.get(f"/api/v1/customers/{known.id}/crm")
    clock.advance(timedelta(hours=2))  # past the cache's hour: the CRM is asked again
    crm.routes.clear()
    crm.get("/customers").mock(side_effect=httpx.ConnectError("connection refused"))

    stale = await agent_client.get(f"/api/v1/customers/{known.id}/crm")
    stored = await agent_client.get(f"/api/v1/customers/{unknown.id}/crm")

    assert stale.status_code == stored.status_code == 200
    assert (stale.json()["source"], stale.json()["tier"]) == ("stale", "enterprise")
    assert "connection refused" in stale.json()["reason"]
    assert (stored.json()["source"], stored.json()["tier"]) == ("stored", "premium")
    assert stored.json()["reason"]


async def test_an_address_the_crm_does_not_know_keeps_the_stored_tier(
    agent_client: ApiClient, customer_factory: CustomerFactory, crm: respx.MockRouter
) -> None:
    customer = await customer_factory(email="new@example.com", tier=Tier.basic)
    crm.get("/customers").respond(404)

    body = (await agent_client.get(f"/api/v1/customers/{customer.id}/crm")).json()

    assert (body["source"], body["tier"], body["plan"]) == ("stored", "basic", None)
    assert body["reason"] == "the CRM does not know this address"


async def test_only_the_workspaces_own_customers_are_looked_up(
    agent_client: ApiClient, crm: respx.MockRouter
) -> None:
    route = crm.get("/customers").respond(200, json=PROFILE)
    response = await agent_client.get(
        "/api/v1/customers/lookup/crm", params={"email": "stranger@example.com"}
    )
    assert response.status_code == 404
    assert route.call_count == 0
