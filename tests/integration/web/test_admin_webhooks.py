"""The webhook admin pages: admins add, change, switch and delete subscriptions through the webhook
service's rules, see the signing secret once when it is made or rotated, read each subscription's
delivery log and send a delivery again; nobody else may, and another workspace's are not found."""

from __future__ import annotations

import re
from typing import Any

import pytest

from supportdesk.core.permissions import Role
from supportdesk.workspaces.models import Workspace
from tests.factories.webhooks import FailedDelivery, SubscriptionFactory, WebhookMessageFactory
from tests.fixtures.app import ApiClient
from tests.integration.web.conftest import PageClient, PageClientFactory

pytestmark = pytest.mark.integration

_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


@pytest.fixture
async def admin_browser(page_client_factory: PageClientFactory) -> PageClient:
    """An admin of the test's workspace, signed in."""
    return await page_client_factory(role=Role.admin)


async def _subscriptions(client: ApiClient) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/webhooks")
    assert response.status_code == 200, response.text
    return list(response.json())


def _form(**fields: Any) -> dict[str, Any]:
    return {
        "url": "https://hooks.example.com/desk",
        "description": "Our CRM",
        "event_types": ["ticket.created", "ticket.updated"],
        "is_active": "on",
        **fields,
    }


async def test_an_admin_adds_a_subscription_and_sees_its_secret_only_once(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    added = await admin_browser.post(
        "/app/admin/webhooks", data={"csrf_token": admin_browser.csrf_token, **_form()}
    )

    assert added.status_code == 201
    secret = _SECRET.search(added.text)
    assert secret is not None
    [stored] = await _subscriptions(admin_client)
    assert (stored["url"], stored["description"], stored["is_active"]) == (
        "https://hooks.example.com/desk",
        "Our CRM",
        True,
    )
    assert stored["event_types"] == ["ticket.created", "ticket.updated"]
    listing = await admin_browser.get("/app/admin/webhooks")
    page = await admin_browser.get(f"/app/admin/webhooks/{stored['id']}")
    assert "https://hooks.example.com/desk" in listing.text
    assert 'href="/app/admin/webhooks" aria-current="page"' in listing.text
    assert [secret.group(0) in shown.text for shown in (listing, page)] == [False, False]
    assert _SECRET.search(page.text) is None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        pytest.param({"url": "ftp://hooks.example.com"}, "url", "Enter an http(s) URL", id="not-http"),
        pytest.param({"url": "http://127.0.0.1/hook"}, "url", "not a public address", id="private-address"),
        pytest.param({"event_types": []}, "event_types", "Choose at least one event", id="no-events"),
        pytest.param(
            {"description": "d" * 201}, "description", "up to 200 characters", id="long-description"
        ),
    ],
)
async def test_a_refused_subscription_is_explained_beside_the_field_and_kept(
    admin_browser: PageClient, admin_client: ApiClient, fields: dict[str, Any], field: str, message: str
) -> None:
    form = _form(**fields)

    response = await admin_browser.post(
        "/app/admin/webhooks", data={"csrf_token": admin_browser.csrf_token, **form}
    )

    assert response.status_code == 422
    assert f'id="subscription-{field}-error"' in response.text
    assert message in response.text
    assert 'value="Our CRM"' in response.text if field != "description" else True
    assert f'value="{form["url"]}"' in response.text
    assert await _subscriptions(admin_client) == []


async def test_an_admin_changes_switches_and_deletes_a_subscription(
    admin_browser: PageClient, admin_client: ApiClient, subscription_factory: SubscriptionFactory
) -> None:
    subscription = await subscription_factory()
    path = f"/app/admin/webhooks/{subscription.id}"

    changed = await admin_browser.post(
        path,
        data={
            "csrf_token": admin_browser.csrf_token,
            "version": str(subscription.version),
            **_form(url="https://hooks.example.com/new", event_types=["sla.breached"]),
        },
    )
    switched_off = await admin_browser.submit(f"{path}/disable", {})
    [stored] = await _subscriptions(admin_client)
    switched_on = await admin_browser.submit(f"{path}/enable", {})
    on_again = (await _subscriptions(admin_client))[0]["is_active"]
    deleted = await admin_browser.submit(f"{path}/delete", {})

    assert [answer.status_code for answer in (changed, switched_off, switched_on, deleted)] == [303] * 4
    assert changed.headers["location"] == f"{path}?saved=changed"
    assert (stored["url"], stored["event_types"], stored["is_active"]) == (
        "https://hooks.example.com/new",
        ["sla.breached"],
        False,
    )
    assert on_again is True
    assert deleted.headers["location"] == "/app/admin/webhooks?saved=deleted"
    assert await _subscriptions(admin_client) == []


async def test_a_change_from_a_page_shown_before_another_is_refused_and_kept(
    admin_browser: PageClient, admin_client: ApiClient, subscription_factory: SubscriptionFactory
) -> None:
    subscription = await subscription_factory(url="https://hooks.example.com/old")
    await admin_browser.submit(f"/app/admin/webhooks/{subscription.id}/disable", {})

    stale = await admin_browser.post(
        f"/app/admin/webhooks/{subscription.id}",
        data={
            "csrf_token": admin_browser.csrf_token,
            "version": str(subscription.version),
            **_form(url="https://hooks.example.com/mine"),
        },
    )

    assert stale.status_code == 412
    assert 'id="subscription-problem"' in stale.text
    assert 'value="https://hooks.example.com/mine"' in stale.text
    assert (await _subscriptions(admin_client))[0]["url"] == "https://hooks.example.com/old"


async def test_a_rotated_secret_is_shown_once_and_the_old_one_signs_for_the_overlap(
    admin_browser: PageClient, admin_client: ApiClient, subscription_factory: SubscriptionFactory
) -> None:
    subscription = await subscription_factory()
    path = f"/app/admin/webhooks/{subscription.id}"

    refused = await admin_browser.submit(f"{path}/rotate-secret", {"overlap_hours": "500"})
    rotated = await admin_browser.submit(f"{path}/rotate-secret", {"overlap_hours": "2"})
    later = await admin_browser.get(path)

    assert refused.status_code == 422
    assert 'id="rotate-overlap_hours-error"' in refused.text
    assert 'value="500"' in refused.text
    assert _SECRET.search(refused.text) is None
    assert rotated.status_code == 200
    secret = _SECRET.search(rotated.text)
    assert secret is not None
    assert secret.group(0) != subscription.secret
    assert subscription.secret not in rotated.text
    assert secret.group(0) not in later.text
    assert "Signs too until" in later.text
    assert (await _subscriptions(admin_client))[0]["previous_secret_expires_at"] is not None


async def test_the_delivery_log_shows_each_attempt_and_a_delivery_is_sent_again(
    admin_browser: PageClient,
    admin_client: ApiClient,
    subscription_factory: SubscriptionFactory,
    webhook_message_factory: WebhookMessageFactory,
    failed_delivery: FailedDelivery,
) -> None:
    subscription = await subscription_factory()
    message = await webhook_message_factory(subscription)
    await failed_delivery(message, status_code=503, duration_ms=87)
    path = f"/app/admin/webhooks/{subscription.id}"

    log = await admin_browser.get(path)
    dead_only = await admin_browser.get(f"{path}?state=delivered")
    replayed = await admin_browser.submit(f"{path}/deliveries/{message.id}/replay", {})

    assert f'data-delivery="{message.id}"' in log.text
    assert "<td>503</td>" in log.text
    assert "87 ms" in log.text
    assert "<td>Dead" in log.text
    assert "1 of " in log.text
    assert f'data-delivery="{message.id}"' not in dead_only.text
    assert replayed.headers["location"] == f"{path}?saved=replayed"
    sent = (await admin_client.get(f"/api/v1/webhooks/{subscription.id}/deliveries")).json()["items"]
    assert [item["state"] for item in sent] == ["pending", "dead"]


@pytest.mark.parametrize("role", [Role.agent, Role.senior_agent, Role.viewer], ids=lambda role: role.value)
async def test_only_admins_may_use_the_webhook_pages(
    page_client_factory: PageClientFactory,
    admin_client: ApiClient,
    subscription_factory: SubscriptionFactory,
    webhook_message_factory: WebhookMessageFactory,
    role: Role,
) -> None:
    browser = await page_client_factory(role=role)
    subscription = await subscription_factory(url="https://hooks.example.com/keep")
    message = await webhook_message_factory(subscription)
    path = f"/app/admin/webhooks/{subscription.id}"

    answers = [
        await browser.get("/app/admin/webhooks"),
        await browser.get(path),
        await browser.post("/app/admin/webhooks", data={"csrf_token": browser.csrf_token, **_form()}),
        await browser.submit(path, {"url": "https://hooks.example.com/taken"}),
        await browser.submit(f"{path}/disable", {}),
        await browser.submit(f"{path}/rotate-secret", {}),
        await browser.submit(f"{path}/deliveries/{message.id}/replay", {}),
        await browser.submit(f"{path}/delete", {}),
    ]
    queue = await browser.get("/app")

    assert [answer.status_code for answer in answers] == [403] * 8
    assert subscription.secret not in "".join(answer.text for answer in answers)
    assert 'href="/app/admin/webhooks"' not in queue.text
    [stored] = await _subscriptions(admin_client)
    assert (stored["url"], stored["is_active"]) == ("https://hooks.example.com/keep", True)


async def test_another_workspaces_subscriptions_are_not_found(
    admin_browser: PageClient,
    other_workspace: Workspace,
    other_admin_client: ApiClient,
    subscription_factory: SubscriptionFactory,
    webhook_message_factory: WebhookMessageFactory,
) -> None:
    theirs = await subscription_factory(workspace=other_workspace, url="https://hooks.example.com/theirs")
    their_message = await webhook_message_factory(theirs)
    mine = await subscription_factory()
    path = f"/app/admin/webhooks/{theirs.id}"

    answers = [
        await admin_browser.get(path),
        await admin_browser.submit(path, _form()),
        await admin_browser.submit(f"{path}/disable", {}),
        await admin_browser.submit(f"{path}/rotate-secret", {}),
        await admin_browser.submit(f"{path}/delete", {}),
        # Their delivery through a subscription of mine is not found either.
        await admin_browser.submit(f"/app/admin/webhooks/{mine.id}/deliveries/{their_message.id}/replay", {}),
        await admin_browser.get("/app/admin/webhooks/9007199254740993"),
    ]
    listing = await admin_browser.get("/app/admin/webhooks")

    assert [answer.status_code for answer in answers] == [404] * 7
    assert "https://hooks.example.com/theirs" not in listing.text
    [stored] = await _subscriptions(other_admin_client)
    assert (stored["url"], stored["is_active"]) == ("https://hooks.example.com/theirs", True)


async def test_webhook_forms_without_their_token_change_nothing(
    admin_browser: PageClient, admin_client: ApiClient, subscription_factory: SubscriptionFactory
) -> None:
    subscription = await subscription_factory()

    answers = [
        await admin_browser.post("/app/admin/webhooks", data={"csrf_token": "forged", **_form()}),
        await admin_browser.post(f"/app/admin/webhooks/{subscription.id}/rotate-secret", data={}),
        await admin_browser.post(f"/app/admin/webhooks/{subscription.id}/delete", data={"csrf_token": "x"}),
    ]

    assert [answer.status_code for answer in answers] == [403, 403, 403]
    assert _SECRET.search("".join(answer.text for answer in answers)) is None
    assert [item["id"] for item in await _subscriptions(admin_client)] == [subscription.id]
