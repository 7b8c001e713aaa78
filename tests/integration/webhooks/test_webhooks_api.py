"""Admins keep webhook subscriptions and read the delivery log: secrets shown once, unsafe targets
refused, rotation with an overlap, replays and retries, and nobody else may."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from supportdesk.audit.models import AuditEvent
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.jobs.models import DeliveryState, OutboxMessage
from supportdesk.webhooks.models import WebhookSubscription
from tests.factories.people import UserFactory
from tests.factories.webhooks import SubscriptionFactory, WebhookMessageFactory
from tests.fixtures.app import ApiClient, ClientFactory

pytestmark = pytest.mark.integration

URL = "https://hooks.example.com/supportdesk"


async def test_an_admin_adds_a_subscription_and_sees_its_secret_once(admin_client: ApiClient) -> None:
    created = await admin_client.post(
        "/api/v1/webhooks",
        json={"url": URL, "event_types": ["ticket.created", "comment.created"], "description": "CRM sync"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["event_types"] == ["comment.created", "ticket.created"]
    assert (body["is_active"], body["description"], body["version"]) == (True, "CRM sync", 1)
    assert created.headers["location"] == f"/api/v1/webhooks/{body['id']}"

    read = await admin_client.get(f"/api/v1/webhooks/{body['id']}")
    assert read.headers["etag"] == '"v1"'
    assert "secret" not in read.json()
    listed = (await admin_client.get("/api/v1/webhooks")).json()
    assert [item["id"] for item in listed] == [body["id"]]
    assert all("secret" not in item for item in listed)


# Every kind of internal address is in tests/unit/webhooks/test_targets.py; here, that a refusal is a
# 422 naming the field and the reason.
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        pytest.param("http://169.254.169.254/latest/meta-data", "unsafe-target-address", id="cloud-metadata"),
        pytest.param("https://user:secret@hooks.example.com/", "unsafe-target-credentials", id="credentials"),
    ],
)
async def test_unsafe_targets_are_refused(admin_client: ApiClient, url: str, reason: str) -> None:
    response = await admin_client.post(
        "/api/v1/webhooks", json={"url": url, "event_types": ["ticket.created"]}
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["field"], error["type"]) == ("url", reason)
    assert (await admin_client.get("/api/v1/webhooks")).json() == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"url": "ftp://hooks.example.com/x", "event_types": ["ticket.created"]}, id="not-http"),
        pytest.param({"url": URL, "event_types": []}, id="no-events"),
        pytest.param({"url": URL, "event_types": ["ticket.deleted"]}, id="unknown-event"),
    ],
)
async def test_invalid_subscriptions_are_refused(admin_client: ApiClient, body: dict[str, object]) -> None:
    response = await admin_client.post("/api/v1/webhooks", json=body)
    assert response.status_code == 422, response.text


async def test_changes_honour_if_match_and_switching_on_clears_why_it_was_off(
    admin_client: ApiClient, subscription_factory: SubscriptionFactory, database: Database
) -> None:
    subscription = await subscription_factory()
    async with database.unit_of_work() as session:
        stored = await session.get_one(WebhookSubscription, subscription.id)
        stored.is_active = False
        stored.disabled_reason = "the endpoint answered HTTP 410 Gone"
    path = f"/api/v1/webhooks/{subscription.id}"
    stale = await admin_client.patch(path, json={"is_active": True}, headers={"If-Match": '"v1"'})
    assert stale.status_code == 412

    changed = await admin_client.patch(
        path, json={"is_active": True, "event_types": ["sla.breached"]}, headers={"If-Match": '"v2"'}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["is_active"] is True
    assert changed.json()["disabled_reason"] is None
    assert changed.json()["event_types"] == ["sla.breached"]

    unsafe = await admin_client.patch(path, json={"url": "http://192.168.0.10/"})
    assert unsafe.status_code == 422


async def test_a_rotation_keeps_the_old_secret_signing_for_the_overlap(
    admin_client: ApiClient, subscription_factory: SubscriptionFactory, database: Database, clock: FrozenClock
) -> None:
    subscription = await subscription_factory()
    old_secret = subscription.secret
    rotated = await admin_client.post(
        f"/api/v1/webhooks/{subscription.id}/rotate-secret", json={"overlap_hours": 2}
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != old_secret
    assert rotated.json()["previous_secret_expires_at"] == (
        clock.now() + timedelta(hours=2)
    ).isoformat().replace("+00:00", "Z")
    async with database.unit_of_work(readonly=True) as session:
        stored = await session.get_one(WebhookSubscription, subscription.id)
        assert stored.signing_secrets(clock.now()) == (new_secret, old_secret)
        assert stored.signing_secrets(clock.now() + timedelta(hours=2)) == (new_secret,)

    at_once = await admin_client.post(
        f"/api/v1/webhooks/{subscription.id}/rotate-secret", json={"overlap_hours": 0}
    )
    async with database.unit_of_work(readonly=True) as session:
        stored = await session.get_one(WebhookSubscription, subscription.id)
        assert stored.signing_secrets(clock.now()) == (at_once.json()["secret"],)


async def test_secrets_never_reach_the_audit_trail(admin_client: ApiClient, database: Database) -> None:
    created = (
        await admin_client.post("/api/v1/webhooks", json={"url": URL, "event_types": ["ticket.created"]})
    ).json()
    await admin_client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret")
    async with database.unit_of_work(readonly=True) as session:
        query = select(AuditEvent.changes).where(AuditEvent.object_type == "webhook_subscription")
        recorded = [str(changes) for changes in (await session.execute(query)).scalars()]
    assert recorded, "adding a subscription is audited"
    assert not any("whsec_" in changes for changes in recorded)


async def test_deleting_a_subscription(
    admin_client: ApiClient, subscription_factory: SubscriptionFactory
) -> None:
    subscription = await subscription_factory()
    assert (await admin_client.delete(f"/api/v1/webhooks/{subscription.id}")).status_code == 204
    assert (await admin_client.get(f"/api/v1/webhooks/{subscription.id}")).status_code == 404


@pytest.mark.parametrize("role", [Role.senior_agent, Role.agent, Role.viewer], ids=str)
async def test_only_admins_see_or_keep_webhooks_and_deliveries(
    role: Role,
    user_factory: UserFactory,
    client_factory: ClientFactory,
    subscription_factory: SubscriptionFactory,
) -> None:
    client = await client_factory(await user_factory(role=role))
    subscription = await subscription_factory()
    for method, path in (
        ("GET", "/api/v1/webhooks"),
        ("POST", "/api/v1/webhooks"),
        ("GET", f"/api/v1/webhooks/{subscription.id}"),
        ("GET", "/api/v1/admin/deliveries"),
    ):
        response = await client.request(method, path, json={"url": URL, "event_types": ["ticket.created"]})
        assert response.status_code == 403, (method, path, response.text)


async def test_the_delivery_log_lists_filters_and_pages(
    admin_client: ApiClient,
    subscription_factory: SubscriptionFactory,
    webhook_message_factory: WebhookMessageFactory,
    database: Database,
) -> None:
    first, second = await subscription_factory(), await subscription_factory()
    sent = [await webhook_message_factory(first) for _ in range(3)]
    other = await webhook_message_factory(second)
    async with database.unit_of_work() as session:
        dead = await session.get_one(OutboxMessage, sent[0].id)
        dead.state = DeliveryState.dead
        dead.last_error = "HTTP 500 from https://hooks.example.com/1"

    everything = (await admin_client.get("/api/v1/admin/deliveries")).json()
    assert [item["id"] for item in everything["items"]] == [other.id, sent[2].id, sent[1].id, sent[0].id]
    page = (await admin_client.get("/api/v1/admin/deliveries", params={"limit": 2})).json()
    rest = (
        await admin_client.get("/api/v1/admin/deliveries", params={"limit": 2, "cursor": page["next_cursor"]})
    ).json()
    assert [item["id"] for item in page["items"] + rest["items"]] == [
        other.id,
        sent[2].id,
        sent[1].id,
        sent[0].id,
    ]
    assert rest["next_cursor"] is None

    dead_only = (await admin_client.get("/api/v1/admin/deliveries", params={"state": "dead"})).json()
    assert [(item["id"], item["next_attempt_at"]) for item in dead_only["items"]] == [(sent[0].id, None)]
    by_subscription = (await admin_client.get(f"/api/v1/webhooks/{second.id}/deliveries")).json()
    assert [item["id"] for item in by_subscription["items"]] == [other.id]
    webhooks_only = (await admin_client.get("/api/v1/admin/deliveries", params={"channel": "email"})).json()
    assert webhooks_only["items"] == []


async def test_a_dead_delivery_is_retried_by_an_admin_and_the_retry_is_audited(
    admin_client: ApiClient,
    subscription_factory: SubscriptionFactory,
    webhook_message_factory: WebhookMessageFactory,
    database: Database,
    clock: FrozenClock,
) -> None:
    message = await webhook_message_factory(await subscription_factory())
    async with database.unit_of_work() as session:
        dead = await session.get_one(OutboxMessage, message.id)
        dead.state, dead.attempts, dead.last_error = DeliveryState.dead, 7, "HTTP 500"
    clock.advance(timedelta(hours=30))

    retried = await admin_client.post(f"/api/v1/admin/deliveries/{message.id}/retry")
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert (body["state"], body["attempts"], body["manual_retries"]) == ("pending", 0, 1)
    assert body["next_attempt_at"] == clock.now().isoformat().replace("+00:00", "Z")
    assert body["payload"]["type"] == "ticket.created"
    async with database.unit_of_work(readonly=True) as session:
        query = select(AuditEvent).where(
            AuditEvent.object_type == "delivery", AuditEvent.object_id == message.id
        )
        [event] = (await session.execute(query)).scalars()
        assert event.changes == {"state": ["dead", "pending"], "manual_retries": [0, 1]}
        assert admin_client.user is not None
        assert event.actor_id == admin_client.user.id


@pytest.mark.parametrize(
    ("state", "code"),
    [
        pytest.param(DeliveryState.sending, "delivery-in-flight", id="in-flight"),
        pytest.param(DeliveryState.queued, "delivery-in-flight", id="queued"),
        pytest.param(DeliveryState.delivered, "delivery-delivered", id="delivered"),
    ],
)
async def test_a_delivery_being_sent_or_delivered_is_not_retried(
    admin_client: ApiClient,
    subscription_factory: SubscriptionFactory,
    webhook_message_factory: WebhookMessageFactory,
    database: Database,
    state: DeliveryState,
    code: str,
) -> None:
    message = await webhook_message_factory(await subscription_factory())
    async with database.unit_of_work() as session:
        (await session.get_one(OutboxMessage, message.id)).state = state
    response = await admin_client.post(f"/api/v1/admin/deliveries/{message.id}/retry")
    assert response.status_code == 409, response.text
    assert response.json()["code"] == code


async def test_a_delivery_is_replayed_as_a_new_delivery_of_the_same_event(
    admin_client: ApiClient,
    subscription_factory: SubscriptionFactory,
    webhook_message_factory: WebhookMessageFactory,
) -> None:
    subscription = await subscription_factory()
    original = await webhook_message_factory(
        subscription, payload={"type": "ticket.updated", "data": {"id": 5}}
    )
    path = f"/api/v1/webhooks/{subscription.id}/deliveries/{original.id}/replay"
    first = await admin_client.post(path)
    second = await admin_client.post(path)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["dedupe_key"] == f"replay:{original.id}:1"
    assert second.json()["dedupe_key"] == f"replay:{original.id}:2"
    assert first.json()["payload"] == {"type": "ticket.updated", "data": {"id": 5}}
    assert first.json()["state"] == "pending"
    assert first.headers["location"] == f"/api/v1/admin/deliveries/{first.json()['id']}"

    elsewhere = await subscription_factory()
    wrong = await admin_client.post(f"/api/v1/webhooks/{elsewhere.id}/deliveries/{original.id}/replay")
    assert wrong.status_code == 404, "a delivery is replayed only through its own subscription"
