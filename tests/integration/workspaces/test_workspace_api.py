"""/api/v1/workspace: the caller's own workspace, and its ticket categories (admins)."""

from __future__ import annotations

from typing import Any

import pytest

from supportdesk.core.permissions import Role
from supportdesk.workspaces.models import DEFAULT_CATEGORIES, Workspace
from tests.factories.people import UserFactory
from tests.fixtures.app import ApiClient, ClientFactory

WORKSPACE = "/api/v1/workspace"


@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
async def test_every_role_sees_its_workspace(
    role: Role, user_factory: UserFactory, client_factory: ClientFactory, workspace: Workspace
) -> None:
    client = await client_factory(await user_factory(role=role))

    response = await client.get(WORKSPACE)

    assert response.status_code == 200
    assert response.json() == {
        "id": workspace.id,
        "slug": "acme",
        "name": "Acme Support",
        "categories": list(DEFAULT_CATEGORIES),
        "auto_assign": False,
        "assignment_strategy": "round_robin",
        "category_strategies": {},
        "agent_capacity": None,
        "escalation_delay_minutes": 0,
        "auto_close_after_days": 7,
        "pending_reminder_after_days": 3,
        "email_enabled": True,
        "email_from_address": None,
        "email_from_name": None,
        "email_reply_address": None,
        "email_providers": [],
    }


async def test_another_workspaces_admin_sees_only_their_own(
    other_admin_client: ApiClient, other_workspace: Workspace
) -> None:
    response = await other_admin_client.get(WORKSPACE)

    assert (response.json()["id"], response.json()["slug"]) == (other_workspace.id, "globex")


async def test_an_admin_replaces_the_categories(admin_client: ApiClient, agent_client: ApiClient) -> None:
    response = await admin_client.patch(
        WORKSPACE, json={"categories": ["hardware", " billing ", "hardware", "returns"]}
    )

    assert response.status_code == 200, response.text
    assert response.json()["categories"] == ["hardware", "billing", "returns"]  # order kept, no duplicates
    assert (await agent_client.get(WORKSPACE)).json()["categories"] == ["hardware", "billing", "returns"]


async def test_categories_are_normalised_to_lower_case(admin_client: ApiClient) -> None:
    # The Category type declares to_lower=True, like Tag, so "Billing" should be stored as "billing".
    response = await admin_client.patch(WORKSPACE, json={"categories": ["Billing", "HARDWARE"]})

    assert response.status_code == 200, response.text
    assert response.json()["categories"] == ["billing", "hardware"]


@pytest.mark.parametrize("role", [Role.viewer, Role.agent, Role.senior_agent], ids=lambda role: role.value)
async def test_only_admins_change_the_categories(
    role: Role, user_factory: UserFactory, client_factory: ClientFactory
) -> None:
    client = await client_factory(await user_factory(role=role))

    response = await client.patch(WORKSPACE, json={"categories": ["only-mine"]})

    assert response.status_code == 403
    assert response.json()["code"] == "permission-denied"
    assert (await client.get(WORKSPACE)).json()["categories"] == list(DEFAULT_CATEGORIES)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param({"categories": []}, "categories", id="empty-list"),
        pytest.param({"categories": None}, "categories", id="null"),
        pytest.param({"categories": ["two words"]}, "categories.0", id="space-in-name"),
        pytest.param({"categories": ["ok", ""]}, "categories.1", id="empty-name"),
        pytest.param({"categories": ["ok"], "slug": "renamed"}, "slug", id="unknown-field"),
    ],
)
async def test_invalid_categories_are_422_and_change_nothing(
    admin_client: ApiClient, payload: dict[str, Any], field: str
) -> None:
    response = await admin_client.patch(WORKSPACE, json=payload)

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert (await admin_client.get(WORKSPACE)).json()["categories"] == list(DEFAULT_CATEGORIES)


async def test_new_tickets_must_use_one_of_the_new_categories(
    admin_client: ApiClient, agent_client: ApiClient
) -> None:
    await admin_client.patch(WORKSPACE, json={"categories": ["hardware", "returns"]})

    retired = await agent_client.post(
        "/api/v1/tickets", json={"title": "Cannot log in", "category": "technical"}
    )
    current = await agent_client.post("/api/v1/tickets", json={"title": "Broken fan", "category": "returns"})
    defaulted = await agent_client.post("/api/v1/tickets", json={"title": "No category given"})

    assert retired.status_code == 422
    assert [(e["field"], e["type"]) for e in retired.json()["errors"]] == [("category", "unknown-category")]
    assert current.status_code == 201, current.text
    assert current.json()["category"] == "returns"
    assert defaulted.status_code == 201, defaulted.text
    assert defaulted.json()["category"] == "hardware"  # no "general" any more: the first category


async def test_changing_categories_leaves_other_workspaces_alone(
    admin_client: ApiClient, other_admin_client: ApiClient
) -> None:
    await admin_client.patch(WORKSPACE, json={"categories": ["hardware"]})

    theirs = await other_admin_client.get(WORKSPACE)
    ticket = await other_admin_client.post(
        "/api/v1/tickets", json={"title": "Login", "category": "technical"}
    )

    assert theirs.json()["categories"] == list(DEFAULT_CATEGORIES)
    assert ticket.status_code == 201, ticket.text


async def test_the_workspace_needs_credentials(anonymous_client: ApiClient) -> None:
    response = await anonymous_client.patch(WORKSPACE, json={"categories": ["x"]})

    assert response.status_code == 401
