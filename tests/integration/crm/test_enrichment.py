"""A new customer is checked against the CRM in the background: the outbox message written with the
customer, the CRM's answer kept on the customer by the worker (and the tier it gives re-timing the
customer's open tickets), retries with backoff while the CRM is down, and nothing at all without a CRM.

The CRM is stood in for at its HTTP boundary (respx); the worker is the server's own background work,
delivering in place when the relay hands a message over. stamina's test mode takes the waits out of
the client's retries; purgatory's breaker reads ``time.time``, which time-machine moves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
import stamina
from fastapi import FastAPI
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine
from taskiq import InMemoryBroker
from time_machine import TimeMachineFixture

from supportdesk.audit.models import ActorType, AuditEvent
from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.integrations.crm import ATTEMPTS
from supportdesk.jobs import outbox
from supportdesk.jobs.background import Background
from supportdesk.jobs.models import DeliveryAttempt, DeliveryChannel, DeliveryState, OutboxMessage
from supportdesk.people import service as people_service
from supportdesk.people.models import Customer, Tier
from supportdesk.runtime import build_background
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.clock import FROZEN_AT
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.integration

CRM = "https://crm.example.test/api"
PROFILE = {"tier": "enterprise", "plan": "Gold support", "account_manager": "Lee Park", "id": "c-17"}
# Two failed look-ups in a row open the breaker, for 30 seconds.
THRESHOLD = 2
BREAKER_SECONDS = 30


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    """A server with a JSON CRM; the API and the worker share the settings."""
    return make_settings(
        engine.url.render_as_string(hide_password=False),
        crm_kind="json",
        crm_url=CRM,
        crm_token="crm-token",
        crm_breaker_threshold=THRESHOLD,
        crm_breaker_seconds=BREAKER_SECONDS,
    )


@pytest.fixture(autouse=True)
def no_waiting_between_attempts() -> Iterator[None]:
    with stamina.set_testing(True, attempts=ATTEMPTS, cap=True):
        yield


@pytest.fixture
def crm() -> Iterator[respx.MockRouter]:
    """The CRM's side of HTTP; a request no route matches fails the test."""
    with respx.mock(base_url=CRM, assert_all_called=False) as router:
        yield router


@asynccontextmanager
async def running(database: Database, clock: FrozenClock, settings: Settings) -> AsyncIterator[Background]:
    """The background work of that server, delivering in place when the relay hands a message over."""
    background = build_background(database, clock, settings, broker=InMemoryBroker(await_inplace=True))
    await background.broker.startup()
    try:
        yield background
    finally:
        await background.stop()


@pytest.fixture
async def worker(database: Database, clock: FrozenClock, settings: Settings) -> AsyncIterator[Background]:
    async with running(database, clock, settings) as background:
        yield background


async def crm_messages(database: Database) -> list[OutboxMessage]:
    async with database.unit_of_work(readonly=True) as session:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.channel == DeliveryChannel.crm)
            .order_by(OutboxMessage.id)
        )
        rows = list((await session.execute(query)).scalars())
        session.expunge_all()  # read after the session ends
        return rows


async def attempts_of(database: Database, message: OutboxMessage) -> list[DeliveryAttempt]:
    async with database.unit_of_work(readonly=True) as session:
        query = (
            select(DeliveryAttempt)
            .where(DeliveryAttempt.message_id == message.id)
            .order_by(DeliveryAttempt.number)
        )
        rows = list((await session.execute(query)).scalars())
        session.expunge_all()
        return rows


async def customer_events(database: Database, customer_id: int) -> list[AuditEvent]:
    async with database.new_session() as session:
        query = (
            select(AuditEvent)
            .where(AuditEvent.object_type == "customer", AuditEvent.object_id == customer_id)
            .order_by(AuditEvent.id)
        )
        return list((await session.execute(query)).scalars())


async def customer(client: ApiClient, customer_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/customers/{customer_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_new_customers_ticket_follows_the_tier_the_crm_gives(
    admin_client: ApiClient, worker: Background, crm: respx.MockRouter, database: Database
) -> None:
    policy = await admin_client.post(
        "/api/v1/sla/policies",
        json={"name": "Enterprise", "tier": "enterprise", "first_response_minutes": {"medium": 30}},
    )
    assert policy.status_code == 201, policy.text
    route = crm.get("/customers", params={"email": "maria@example.com"}).respond(200, json=PROFILE)
    opened = await admin_client.post(
        "/api/v1/tickets", json={"title": "Printer on fire", "customer_email": "maria@example.com"}
    )
    assert opened.status_code == 201, opened.text
    ticket = opened.json()
    # A new customer is free until the CRM says otherwise: the built-in day for a first response.
    assert instant(ticket["sla"]["first_response"]["due_at"]) == FROZEN_AT + timedelta(hours=24)
    customer_id = ticket["customer_id"]
    [message] = await crm_messages(database)
    assert (message.target, message.dedupe_key, message.payload) == (
        "json",
        f"crm:customer:{customer_id}:created",
        {"customer_id": customer_id, "email": "maria@example.com"},
    )

    await worker.relay_once()

    stored = await customer(admin_client, customer_id)
    assert (stored["tier"], stored["crm_plan"], stored["crm_account_manager"], stored["crm_id"]) == (
        "enterprise",
        "Gold support",
        "Lee Park",
        "c-17",
    )
    assert instant(stored["crm_checked_at"]) == FROZEN_AT
    retimed = (await admin_client.get(f"/api/v1/tickets/{ticket['id']}")).json()
    assert retimed["sla"]["policy_id"] == policy.json()["id"]
    assert instant(retimed["sla"]["first_response"]["due_at"]) == FROZEN_AT + timedelta(minutes=30)
    [delivered] = await crm_messages(database)
    assert (delivered.state, delivered.attempts, delivered.provider) == (DeliveryState.delivered, 1, "json")
    assert route.call_count == 1
    # The system changed the customer, and the trail says what it changed.
    changed = (await customer_events(database, customer_id))[-1]
    assert (changed.actor_type, changed.actor_id) == (ActorType.system, None)
    assert changed.changes["tier"] == ["free", "enterprise"]
    assert changed.changes["crm_plan"] == [None, "Gold support"]


async def test_while_the_crm_is_down_the_check_waits_and_is_made_once_when_it_is_back(
    admin_client: ApiClient,
    agent_client: ApiClient,
    worker: Background,
    crm: respx.MockRouter,
    database: Database,
    clock: FrozenClock,
    time_machine: TimeMachineFixture,
) -> None:
    time_machine.move_to(FROZEN_AT)  # ticking: only the breaker's wait is skipped, below
    down = crm.get("/customers").respond(503)
    created = await admin_client.post("/api/v1/customers", json={"email": "kim@example.com", "tier": "basic"})
    customer_id = created.json()["id"]

    assert await worker.relay_once() == 1
    [message] = await crm_messages(database)
    # Tried again later, after the backoff, with the reason on the message and on its attempt.
    assert (message.state, message.attempts) == (DeliveryState.pending, 1)
    assert message.next_attempt_at > clock.now()
    assert message.last_error is not None
    assert "HTTP 503" in message.last_error
    [attempt] = await attempts_of(database, message)
    assert (attempt.succeeded, attempt.error, attempt.provider) == (False, message.last_error, "json")
    assert down.call_count == ATTEMPTS

    # The second failed look-up opens the breaker: the third attempt does not reach the CRM.
    for _ in range(THRESHOLD):
        clock.set(message.next_attempt_at)
        assert await worker.relay_once() == 1
        [message] = await crm_messages(database)
    assert (message.state, message.attempts) == (DeliveryState.pending, THRESHOLD + 1)
    assert down.call_count == THRESHOLD * ATTEMPTS
    assert message.last_error == (
        f"the CRM is not being asked for {BREAKER_SECONDS} s after {THRESHOLD} failed look-ups in a row"
    )

    # Agents still see the customer, from what is stored.
    seen = await agent_client.get(f"/api/v1/customers/{customer_id}/crm")
    assert seen.status_code == 200, seen.text
    assert (seen.json()["source"], seen.json()["tier"]) == ("stored", "basic")

    crm.routes.clear()
    back = crm.get("/customers", params={"email": "kim@example.com"}).respond(200, json=PROFILE)
    time_machine.shift(BREAKER_SECONDS + 1)
    clock.set(message.next_attempt_at)
    assert await worker.relay_once() == 1
    clock.advance(timedelta(hours=6))  # past any retry the message could still have had
    assert await worker.relay_once() == 0

    [message] = await crm_messages(database)
    assert (message.state, message.attempts, message.last_error) == (
        DeliveryState.delivered,
        THRESHOLD + 2,
        None,
    )
    assert [attempt.succeeded for attempt in await attempts_of(database, message)] == [False] * 3 + [True]
    assert back.call_count == 1
    assert (await customer(admin_client, customer_id))["tier"] == "enterprise"


async def test_an_address_the_crm_does_not_know_is_checked_and_keeps_its_tier(
    admin_client: ApiClient, worker: Background, crm: respx.MockRouter, database: Database, clock: FrozenClock
) -> None:
    crm.get("/customers").respond(404)
    created = await admin_client.post("/api/v1/customers", json={"email": "new@example.com", "tier": "basic"})
    customer_id = created.json()["id"]
    clock.advance(timedelta(minutes=5))

    assert await worker.relay_once() == 1

    [message] = await crm_messages(database)
    assert message.state == DeliveryState.delivered
    stored = await customer(admin_client, customer_id)
    assert (stored["tier"], stored["crm_plan"], stored["crm_id"]) == ("basic", None, None)
    assert instant(stored["crm_checked_at"]) == FROZEN_AT + timedelta(minutes=5)


async def test_the_address_asked_about_is_the_customers_address_when_the_message_is_sent(
    admin_client: ApiClient, worker: Background, crm: respx.MockRouter
) -> None:
    old = crm.get("/customers", params={"email": "kim@old.example.com"}).respond(200, json=PROFILE)
    new = crm.get("/customers", params={"email": "kim@new.example.com"}).respond(200, json=PROFILE)
    created = await admin_client.post("/api/v1/customers", json={"email": "kim@old.example.com"})
    customer_id = created.json()["id"]
    moved = await admin_client.patch(
        f"/api/v1/customers/{customer_id}", json={"email": "kim@new.example.com"}
    )
    assert moved.status_code == 200, moved.text

    assert await worker.relay_once() == 1

    assert (old.call_count, new.call_count) == (0, 1)
    assert (await customer(admin_client, customer_id))["tier"] == "enterprise"


async def test_an_address_changed_while_the_crm_was_asked_is_asked_about_again(
    admin_client: ApiClient,
    worker: Background,
    crm: respx.MockRouter,
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
) -> None:
    created = await admin_client.post("/api/v1/customers", json={"email": "kim@old.example.com"})
    customer_id = created.json()["id"]

    async def corrected_meanwhile(request: httpx.Request) -> httpx.Response:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            found = await people_service.get_customer(session, customer_id)
            await people_service.update_customer(session, clock, found, {"email": "kim@new.example.com"})
        return httpx.Response(200, json=PROFILE)

    old = crm.get("/customers", params={"email": "kim@old.example.com"}).mock(side_effect=corrected_meanwhile)
    new = crm.get("/customers", params={"email": "kim@new.example.com"}).respond(404)

    assert await worker.relay_once() == 1
    [message] = await crm_messages(database)
    assert (message.state, message.last_error) == (
        DeliveryState.pending,
        "the customer's address changed during the look-up; it is asked about again",
    )
    assert (await customer(admin_client, customer_id))["tier"] == "free", "the old address's answer"
    clock.set(message.next_attempt_at)
    assert await worker.relay_once() == 1

    assert (old.call_count, new.call_count) == (1, 1)
    stored = await customer(admin_client, customer_id)
    assert (stored["tier"], stored["crm_checked_at"] is not None) == ("free", True)


async def test_a_message_that_names_no_customer_is_dead_at_once(
    worker: Background, crm: respx.MockRouter, database: Database, clock: FrozenClock, workspace: Workspace
) -> None:
    route = crm.get("/customers").respond(200, json=PROFILE)
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        odd = outbox.Outgoing(DeliveryChannel.crm, "json", "crm:odd", {"email": "kim@example.com"})
        await outbox.enqueue(session, clock, workspace.id, [odd])

    assert await worker.relay_once() == 1

    [message] = await crm_messages(database)
    assert (message.state, message.last_error) == (DeliveryState.dead, "the message names no customer")
    assert route.call_count == 0


async def test_a_customer_gone_or_of_another_workspace_is_nothing_to_check(
    crm: respx.MockRouter,
    database: Database,
    clock: FrozenClock,
    settings: Settings,
    customer_factory: CustomerFactory,
    workspace: Workspace,
    other_workspace: Workspace,
) -> None:
    route = crm.get("/customers").respond(200, json=PROFILE)
    # Made before any process with a CRM uses the database: no message asks about them yet.
    gone = await customer_factory(email="gone@example.com")
    kept = await customer_factory(email="kept@example.com", tier=Tier.basic)
    assert await crm_messages(database) == []
    for scope, customer_made in ((workspace, gone), (other_workspace, kept)):
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, scope.id)
            check = {"customer_id": customer_made.id, "email": customer_made.email}
            await outbox.enqueue(
                session, clock, scope.id, [outbox.Outgoing(DeliveryChannel.crm, "json", "crm:test", check)]
            )
            if customer_made is gone:
                await session.execute(delete(Customer).where(Customer.id == gone.id))

    async with running(database, clock, settings) as worker:
        assert await worker.relay_once() == 2

    assert {message.state for message in await crm_messages(database)} == {DeliveryState.delivered}
    assert route.call_count == 0
    async with database.new_session() as session:
        unchanged = await session.get_one(Customer, kept.id)
    assert (unchanged.tier, unchanged.crm_checked_at) == (Tier.basic, None)


async def test_a_servers_background_asks_through_the_apps_lookup_and_leaves_it_open(
    app: FastAPI,
    admin_client: ApiClient,
    crm: respx.MockRouter,
    database: Database,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    """One CRM look-up per server process: the embedded background checks customers through the app's,
    so its cache, breaker and counters (on /metrics) are the ones the API's answers use."""
    lookup = app.state.crm
    crm.get("/customers", params={"email": "maria@example.com"}).respond(200, json=PROFILE)
    background = build_background(
        database, clock, settings, broker=InMemoryBroker(await_inplace=True), crm_lookup=lookup
    )
    await background.broker.startup()
    try:
        opened = await admin_client.post(
            "/api/v1/tickets", json={"title": "Printer on fire", "customer_email": "maria@example.com"}
        )
        assert opened.status_code == 201, opened.text
        await background.relay_once()
    finally:
        await background.stop()

    assert app.state.metrics.registry.get_sample_value("supportdesk_crm_calls_total") == 1
    # Still open after the background stopped: the API answers from the same look-up, from its cache.
    answer = await admin_client.get(f"/api/v1/customers/{opened.json()['customer_id']}/crm")
    assert (answer.status_code, answer.json()["source"], answer.json()["tier"]) == (
        200,
        "cached",
        "enterprise",
    )
