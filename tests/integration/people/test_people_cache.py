"""Customers and staff read by id through the object cache (decision 0045): answered from it after the
first read, and forgotten by every change that commits, through the API or not."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.integrations.crm.contract import CrmProfile
from supportdesk.people import service
from supportdesk.people.models import Tier
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory, UserFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.objects import cache_counts


async def test_a_customer_is_read_once_then_answered_from_the_cache(
    app: FastAPI, viewer_client: ApiClient, customer_factory: CustomerFactory
) -> None:
    customer = await customer_factory(name="Maria Lopez")
    counted = cache_counts(app, "customer")

    first = await viewer_client.get(f"/api/v1/customers/{customer.id}")
    second = await viewer_client.get(f"/api/v1/customers/{customer.id}")

    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert first.json()["name"] == "Maria Lopez"
    assert second.headers["etag"] == first.headers["etag"]
    assert cache_counts(app, "customer") == counted | {
        "hits": counted["hits"] + 1,
        "misses": counted["misses"] + 1,
    }


async def test_a_customer_changed_through_the_api_shows_at_the_next_read(
    app: FastAPI, agent_client: ApiClient, customer_factory: CustomerFactory
) -> None:
    customer = await customer_factory(name="Maria Lopez")
    before = (await agent_client.get(f"/api/v1/customers/{customer.id}")).json()

    changed = await agent_client.patch(
        f"/api/v1/customers/{customer.id}", json={"name": "Maria López", "company": "Acme"}
    )
    after = await agent_client.get(f"/api/v1/customers/{customer.id}")

    assert changed.status_code == 200, changed.text
    assert (after.json()["name"], after.json()["company"]) == ("Maria López", "Acme")
    assert after.json()["version"] == before["version"] + 1
    assert after.headers["etag"] == changed.headers["etag"]


async def test_what_the_crm_said_shows_at_the_next_read(
    app: FastAPI,
    viewer_client: ApiClient,
    customer_factory: CustomerFactory,
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
) -> None:
    customer = await customer_factory(tier=Tier.free)
    before = (await viewer_client.get(f"/api/v1/customers/{customer.id}")).json()
    clock.advance(timedelta(minutes=5))

    # As the CRM's sender records an answer: a unit of work of its own, in the background.
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        act_as(session.sync_session, SYSTEM, clock)
        stored = await service.get_customer(session, customer.id)
        profile = CrmProfile(tier=Tier.enterprise, plan="Scale", account_manager="Ada", crm_id="c-42")
        await service.record_crm_answer(session, clock, stored, profile, checked_at=clock.now())
    after = (await viewer_client.get(f"/api/v1/customers/{customer.id}")).json()

    assert (before["tier"], before["crm_plan"]) == ("free", None)
    assert (after["tier"], after["crm_plan"], after["crm_account_manager"]) == ("enterprise", "Scale", "Ada")


async def test_a_staff_member_is_read_once_then_answered_from_the_cache_until_changed(
    app: FastAPI, admin_client: ApiClient, user_factory: UserFactory
) -> None:
    agent = await user_factory(role=Role.agent, name="Kim")
    counted = cache_counts(app, "user")

    reads = [await admin_client.get(f"/api/v1/admin/users/{agent.id}") for _ in range(2)]
    changed = await admin_client.patch(
        f"/api/v1/admin/users/{agent.id}", json={"role": "senior_agent", "skills": ["billing"]}
    )
    after = (await admin_client.get(f"/api/v1/admin/users/{agent.id}")).json()

    assert reads[0].json() == reads[1].json()
    assert reads[0].json()["role"] == "agent"
    assert changed.status_code == 200, changed.text
    assert (after["role"], after["skills"]) == ("senior_agent", ["billing"])
    assert cache_counts(app, "user") == {
        "hits": counted["hits"] + 1,
        "misses": counted["misses"] + 2,
        "invalidations": counted["invalidations"] + 1,
    }


async def test_my_own_change_shows_on_me(agent_client: ApiClient) -> None:
    before = (await agent_client.get("/api/v1/me")).json()

    changed = await agent_client.patch("/api/v1/me", json={"name": "Kim Park", "email_notifications": False})
    after = (await agent_client.get("/api/v1/me")).json()

    assert changed.status_code == 200, changed.text
    assert (after["name"], after["email_notifications"]) == ("Kim Park", False)
    assert before["name"] != "Kim Park"
    assert after["permissions"] == before["permissions"]
