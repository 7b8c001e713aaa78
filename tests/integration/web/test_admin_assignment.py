"""The assignment admin page: admins see and change whether and how new tickets are assigned, through
the workspace settings the API changes; nobody else may."""

from __future__ import annotations

from typing import Any

import pytest

from supportdesk.core.permissions import Role
from tests.factories.people import UserFactory
from tests.fixtures.app import ApiClient
from tests.integration.web.conftest import PageClient, PageClientFactory

pytestmark = pytest.mark.integration


@pytest.fixture
async def admin_browser(page_client_factory: PageClientFactory) -> PageClient:
    """An admin of the test's workspace, signed in."""
    return await page_client_factory(role=Role.admin)


async def _settings(client: ApiClient) -> dict[str, Any]:
    response = await client.get("/api/v1/workspace")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _form(**fields: str) -> dict[str, str]:
    return {"auto_assign": "on", "assignment_strategy": "least_loaded", "agent_capacity": "5", **fields}


async def test_an_admin_sees_the_settings_and_the_agents_they_choose_from(
    admin_browser: PageClient, user_factory: UserFactory
) -> None:
    await user_factory(role=Role.agent, name="Sam Skilled", skills=["billing"])
    await user_factory(role=Role.viewer, name="Vic Viewer")

    page = await admin_browser.get("/app/admin/assignment")

    assert page.status_code == 200
    assert 'href="/app/admin/assignment" aria-current="page"' in page.text
    assert "Sam Skilled" in page.text
    assert "<td>billing</td>" in page.text
    assert "Vic Viewer" not in page.text


async def test_an_admin_changes_the_strategy_and_it_is_what_the_api_shows(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    response = await admin_browser.submit("/app/admin/assignment", _form(**{"strategy.billing": "by_skill"}))

    assert response.status_code == 303
    assert response.headers["location"] == "/app/admin/assignment?saved=saved"
    settings = await _settings(admin_client)
    assert settings["auto_assign"] is True
    assert settings["assignment_strategy"] == "least_loaded"
    assert settings["category_strategies"] == {"billing": "by_skill"}
    assert settings["agent_capacity"] == 5
    page = await admin_browser.get(response.headers["location"])
    assert "The assignment settings were saved" in page.text


async def test_unticking_and_emptying_turns_assignment_and_the_limit_off(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    await admin_browser.submit("/app/admin/assignment", _form())

    response = await admin_browser.submit(
        "/app/admin/assignment", {"assignment_strategy": "round_robin", "agent_capacity": ""}
    )

    assert response.status_code == 303
    settings = await _settings(admin_client)
    assert (settings["auto_assign"], settings["agent_capacity"]) == (False, None)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        pytest.param(
            {"assignment_strategy": "by_mood"}, "assignment-strategy", "Choose one", id="unknown-strategy"
        ),
        pytest.param({"agent_capacity": "0"}, "agent-capacity", "whole number", id="zero-capacity"),
        pytest.param({"agent_capacity": "many"}, "agent-capacity", "whole number", id="not-a-number"),
        pytest.param(
            {"strategy.billing": "by_mood"}, "strategy-billing", "Choose one", id="unknown-category-strategy"
        ),
    ],
)
async def test_a_refused_setting_is_explained_beside_the_field_and_kept(
    admin_browser: PageClient, admin_client: ApiClient, fields: dict[str, str], field: str, message: str
) -> None:
    response = await admin_browser.submit("/app/admin/assignment", _form(**fields))

    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert message in response.text
    assert f'value="{fields.get("agent_capacity", "5")}"' in response.text
    settings = await _settings(admin_client)
    assert (settings["auto_assign"], settings["agent_capacity"]) == (False, None)


@pytest.mark.parametrize("role", [Role.agent, Role.senior_agent, Role.viewer], ids=lambda role: role.value)
async def test_only_admins_may_change_the_assignment(
    page_client_factory: PageClientFactory, admin_client: ApiClient, role: Role
) -> None:
    browser = await page_client_factory(role=role)

    answers = [
        await browser.get("/app/admin/assignment"),
        await browser.submit("/app/admin/assignment", _form()),
    ]

    assert [answer.status_code for answer in answers] == [403, 403]
    assert (await _settings(admin_client))["auto_assign"] is False


async def test_the_assignment_form_without_its_token_changes_nothing(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    refused = await admin_browser.post("/app/admin/assignment", data={"csrf_token": "forged", **_form()})

    assert refused.status_code == 403
    assert (await _settings(admin_client))["auto_assign"] is False
