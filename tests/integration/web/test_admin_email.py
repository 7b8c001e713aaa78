"""The e-mail admin pages: admins set the workspace's sender, reply address and provider chain through
the workspace service and the provider check the API uses, and give each kind of e-mail the workspace's
own wording through the template checks; a provider's secret is never shown. Nobody else may."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk.config import SendGridProviderSettings, Settings
from supportdesk.core.permissions import Role
from tests.fixtures.app import ApiClient
from tests.fixtures.database import make_settings
from tests.integration.web.conftest import PageClient, PageClientFactory

pytestmark = pytest.mark.integration

_API_KEY = "SG.very-secret-api-key"


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    """A server with one mail provider that has an API key (never called: nothing is sent here)."""
    provider = SendGridProviderSettings(name="sendgrid", kind="sendgrid", api_key=SecretStr(_API_KEY))
    return make_settings(engine.url.render_as_string(hide_password=False), mail_providers=(provider,))


@pytest.fixture
async def admin_browser(page_client_factory: PageClientFactory) -> PageClient:
    """An admin of the test's workspace, signed in."""
    return await page_client_factory(role=Role.admin)


async def _workspace(client: ApiClient) -> dict[str, Any]:
    response = await client.get("/api/v1/workspace")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _wording(client: ApiClient, kind: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/email-templates/{kind}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _sender(**fields: str) -> dict[str, str]:
    return {
        "email_enabled": "on",
        "email_from_address": "help@acme.example.com",
        "email_from_name": "Acme Help",
        "email_reply_address": "",
        "email_providers": "sendgrid",
        **fields,
    }


async def test_an_admin_sets_the_sender_and_the_providers_secret_is_never_shown(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    page = await admin_browser.get("/app/admin/email")
    saved = await admin_browser.submit("/app/admin/email", _sender())
    after = await admin_browser.get(saved.headers["location"])

    assert page.status_code == 200
    assert 'href="/app/admin/email" aria-current="page"' in page.text
    assert '<tr data-provider="sendgrid"><td>sendgrid</td><td>sendgrid</td><td>Set</td></tr>' in page.text
    assert saved.status_code == 303
    assert "The e-mail settings were saved." in after.text
    stored = await _workspace(admin_client)
    assert (stored["email_from_address"], stored["email_from_name"], stored["email_reply_address"]) == (
        "help@acme.example.com",
        "Acme Help",
        None,
    )
    assert stored["email_providers"] == ["sendgrid"]
    assert _API_KEY not in page.text + after.text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        pytest.param(
            {"email_from_address": "help-at-acme"}, "email_from_address", "Enter an e-mail", id="bad-sender"
        ),
        pytest.param(
            {"email_reply_address": "replies@"}, "email_reply_address", "Enter an e-mail", id="bad-reply"
        ),
        pytest.param(
            {"email_providers": "sendgrid, postmark"}, "email_providers", "postmark", id="unknown-provider"
        ),
        pytest.param(
            {"email_providers": "Send Grid"}, "email_providers", "separated by commas", id="bad-name"
        ),
    ],
)
async def test_refused_sender_settings_are_explained_beside_the_field_and_kept(
    admin_browser: PageClient, admin_client: ApiClient, fields: dict[str, str], field: str, message: str
) -> None:
    response = await admin_browser.submit("/app/admin/email", _sender(**fields))

    assert response.status_code == 422
    assert f'id="sender-{field}-error"' in response.text
    assert message in response.text
    assert 'value="Acme Help"' in response.text
    assert (await _workspace(admin_client))["email_from_name"] is None


async def test_an_admin_gives_an_email_its_own_wording_and_goes_back_to_the_default(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    default = await _wording(admin_client, "ticket_received")

    saved = await admin_browser.submit(
        "/app/admin/email/templates/ticket_received",
        {"subject": "We got it: {{ ticket.title }}", "text_body": "Thanks!\n", "html_body": ""},
    )
    own = await _wording(admin_client, "ticket_received")
    page = await admin_browser.get(saved.headers["location"])
    reset = await admin_browser.submit("/app/admin/email/templates/ticket_received/reset", {})

    assert saved.status_code == 303
    assert (own["customized"], own["subject"], own["text_body"], own["html_body"]) == (
        True,
        "We got it: {{ ticket.title }}",
        "Thanks!\n",
        None,
    )
    assert "We got it: {{ ticket.title }}" in page.text
    assert reset.headers["location"] == "/app/admin/email/templates/ticket_received?saved=reset"
    assert await _wording(admin_client, "ticket_received") == default


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"subject": ""}, "subject", id="no-subject"),
        pytest.param({"subject": "About {{ ticket.secret }}"}, "subject", id="unknown-placeholder"),
        pytest.param({"text_body": "{% for x in y %}"}, "text_body", id="broken-text"),
    ],
)
async def test_a_refused_wording_is_explained_beside_the_field_and_kept(
    admin_browser: PageClient, admin_client: ApiClient, fields: dict[str, str], field: str
) -> None:
    form = {"subject": "Received", "text_body": "Kept text", "html_body": "", **fields}

    response = await admin_browser.submit("/app/admin/email/templates/agent_reply", form)

    assert response.status_code == 422
    assert f'id="template-{field}-error"' in response.text
    assert "Kept text" in response.text or field == "text_body"
    assert (await _wording(admin_client, "agent_reply"))["customized"] is False


async def test_an_unknown_kind_of_email_is_refused(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    answers = [
        await admin_browser.get("/app/admin/email/templates/newsletter"),
        await admin_browser.submit(
            "/app/admin/email/templates/newsletter", {"subject": "x", "text_body": "y"}
        ),
    ]

    # The kind is checked as the API checks it, before anything is read or written; a person who
    # followed such a link gets the page that says nothing is there.
    assert [answer.status_code for answer in answers] == [404, 404]
    assert all("There is nothing here in your workspace." in answer.text for answer in answers)
    assert [item["customized"] for item in (await admin_client.get("/api/v1/email-templates")).json()] == [
        False
    ] * 8


@pytest.mark.parametrize("role", [Role.agent, Role.senior_agent, Role.viewer], ids=lambda role: role.value)
async def test_only_admins_may_use_the_email_pages(
    page_client_factory: PageClientFactory, admin_client: ApiClient, role: Role
) -> None:
    browser = await page_client_factory(role=role)

    answers = [
        await browser.get("/app/admin/email"),
        await browser.submit("/app/admin/email", _sender()),
        await browser.get("/app/admin/email/templates/agent_reply"),
        await browser.submit("/app/admin/email/templates/agent_reply", {"subject": "x", "text_body": "y"}),
        await browser.submit("/app/admin/email/templates/agent_reply/reset", {}),
    ]

    assert [answer.status_code for answer in answers] == [403] * 5
    assert (await _workspace(admin_client))["email_from_address"] is None
    assert (await _wording(admin_client, "agent_reply"))["customized"] is False


async def test_another_workspaces_wording_is_its_own(
    admin_browser: PageClient, other_admin_client: ApiClient
) -> None:
    theirs = await other_admin_client.put(
        "/api/v1/email-templates/agent_reply", json={"subject": "Globex says", "text_body": "Theirs"}
    )
    assert theirs.status_code == 200, theirs.text

    page = await admin_browser.get("/app/admin/email/templates/agent_reply")
    reset = await admin_browser.submit("/app/admin/email/templates/agent_reply/reset", {})

    assert "Globex says" not in page.text
    # Nothing of its own to go back from in this workspace: not found, and theirs is untouched.
    assert reset.status_code == 404
    assert (await _wording(other_admin_client, "agent_reply"))["subject"] == "Globex says"


async def test_email_forms_without_their_token_change_nothing(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    answers = [
        await admin_browser.post("/app/admin/email", data={"csrf_token": "forged", **_sender()}),
        await admin_browser.post(
            "/app/admin/email/templates/agent_reply", data={"subject": "x", "text_body": "y"}
        ),
    ]

    assert [answer.status_code for answer in answers] == [403, 403]
    assert (await _workspace(admin_client))["email_from_address"] is None
    assert (await _wording(admin_client, "agent_reply"))["customized"] is False
