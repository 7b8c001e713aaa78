"""The delivery log admin page: admins read every delivery, filtered by state, channel and ticket and
paged as the API pages, and retry a dead one through the delivery log's rules; nobody else may, and
another workspace's deliveries are not found."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk.config import Settings
from supportdesk.core.permissions import Role
from supportdesk.workspaces.models import Workspace
from tests.factories.webhooks import FailedDelivery, SubscriptionFactory, WebhookMessageFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.database import make_settings
from tests.integration.web.conftest import PageClient, PageClientFactory

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    """Pages of two deliveries, so that three make a second page."""
    return make_settings(engine.url.render_as_string(hide_password=False), page_size_default=2)


@pytest.fixture
async def admin_browser(page_client_factory: PageClientFactory) -> PageClient:
    """An admin of the test's workspace, signed in."""
    return await page_client_factory(role=Role.admin)


async def _state(client: ApiClient, delivery_id: int) -> str:
    response = await client.get(f"/api/v1/admin/deliveries/{delivery_id}")
    assert response.status_code == 200, response.text
    return str(response.json()["state"])


async def test_an_admin_reads_filters_and_pages_the_log(
    admin_browser: PageClient,
    subscription_factory: SubscriptionFactory,
    webhook_message_factory: WebhookMessageFactory,
    failed_delivery: FailedDelivery,
) -> None:
    subscription = await subscription_factory()
    sent = [await webhook_message_factory(subscription) for _ in range(3)]
    await failed_delivery(sent[0], status_code=502, duration_ms=40)

    everything = await admin_browser.get("/app/admin/deliveries")
    dead = await admin_browser.get("/app/admin/deliveries?state=dead&channel=webhook")
    mail_only = await admin_browser.get("/app/admin/deliveries?channel=email")

    assert everything.status_code == 200
    assert 'href="/app/admin/deliveries" aria-current="page"' in everything.text
    assert [f'data-delivery="{message.id}"' in everything.text for message in sent] == [False, True, True]
    next_link = re.search(r'href="([^"]+)" rel="next"', everything.text)
    assert next_link is not None
    rest = await admin_browser.get(next_link.group(1).replace("&amp;", "&"))
    assert f'data-delivery="{sent[0].id}"' in rest.text
    assert 'rel="next"' not in rest.text
    assert f'data-delivery="{sent[0].id}"' in dead.text
    assert "<td>502</td>" in dead.text
    assert "40 ms" in dead.text
    assert f'data-delivery="{sent[1].id}"' not in dead.text
    assert "No deliveries here." in mail_only.text


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        pytest.param("state=lost", "filter-state", "Choose one of the states", id="unknown-state"),
        pytest.param("channel=fax", "filter-channel", "Choose one of the channels", id="unknown-channel"),
        pytest.param("ticket=first", "filter-ticket", "Enter a ticket", id="ticket-not-a-number"),
    ],
)
async def test_a_filter_that_cannot_be_used_is_explained_and_kept(
    admin_browser: PageClient, query: str, field: str, message: str
) -> None:
    response = await admin_browser.get(f"/app/admin/deliveries?{query}&ticket=first")

    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert message in response.text
    assert 'value="first"' in response.text


async def test_an_admin_retries_a_dead_delivery(
    admin_browser: PageClient,
    admin_client: ApiClient,
    subscription_factory: SubscriptionFactory,
    webhook_message_factory: WebhookMessageFactory,
    failed_delivery: FailedDelivery,
) -> None:
    subscription = await subscription_factory()
    dead = await webhook_message_factory(subscription)
    await failed_delivery(dead)

    retried = await admin_browser.submit(f"/app/admin/deliveries/{dead.id}/retry", {})
    notice = await admin_browser.get(retried.headers["location"])

    assert retried.status_code == 303
    assert retried.headers["location"] == "/app/admin/deliveries?saved=retried"
    assert "fresh set of attempts" in notice.text
    assert await _state(admin_client, dead.id) == "pending"


@pytest.mark.parametrize("role", [Role.agent, Role.senior_agent, Role.viewer], ids=lambda role: role.value)
async def test_only_admins_may_use_the_delivery_log(
    page_client_factory: PageClientFactory,
    admin_client: ApiClient,
    subscription_factory: SubscriptionFactory,
    webhook_message_factory: WebhookMessageFactory,
    failed_delivery: FailedDelivery,
    role: Role,
) -> None:
    browser = await page_client_factory(role=role)
    message = await webhook_message_factory(await subscription_factory())
    await failed_delivery(message)

    answers = [
        await browser.get("/app/admin/deliveries"),
        await browser.submit(f"/app/admin/deliveries/{message.id}/retry", {}),
    ]

    assert [answer.status_code for answer in answers] == [403, 403]
    assert await _state(admin_client, message.id) == "dead"


async def test_another_workspaces_deliveries_are_not_found(
    admin_browser: PageClient,
    other_workspace: Workspace,
    other_admin_client: ApiClient,
    subscription_factory: SubscriptionFactory,
    webhook_message_factory: WebhookMessageFactory,
    failed_delivery: FailedDelivery,
) -> None:
    theirs = await webhook_message_factory(await subscription_factory(workspace=other_workspace))
    await failed_delivery(theirs)

    answers = [
        await admin_browser.submit(f"/app/admin/deliveries/{theirs.id}/retry", {}),
        await admin_browser.submit("/app/admin/deliveries/9007199254740993/retry", {}),
    ]
    log = await admin_browser.get("/app/admin/deliveries")

    assert [answer.status_code for answer in answers] == [404, 404]
    assert f'data-delivery="{theirs.id}"' not in log.text
    assert await _state(other_admin_client, theirs.id) == "dead"


async def test_a_retry_without_its_token_changes_nothing(
    admin_browser: PageClient,
    admin_client: ApiClient,
    subscription_factory: SubscriptionFactory,
    webhook_message_factory: WebhookMessageFactory,
    failed_delivery: FailedDelivery,
) -> None:
    message = await webhook_message_factory(await subscription_factory())
    await failed_delivery(message)

    refused = await admin_browser.post(f"/app/admin/deliveries/{message.id}/retry", data={"csrf_token": "x"})

    assert refused.status_code == 403
    assert await _state(admin_client, message.id) == "dead"
