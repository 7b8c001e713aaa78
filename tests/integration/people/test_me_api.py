"""/api/v1/me and personal API tokens (/api/v1/me/tokens)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from supportdesk.core.permissions import Role
from supportdesk.workspaces.models import Workspace
from tests.factories.people import UserFactory
from tests.fixtures.app import ApiClient, ClientFactory
from tests.fixtures.clock import FROZEN_AT

ME = "/api/v1/me"
TOKENS = "/api/v1/me/tokens"

_READ = ["list_users", "manage_own_tokens", "view_customer", "view_sla", "view_ticket"]
_WORK = [
    "apply_macro",
    "comment_ticket",
    "create_ticket",
    "manage_customer",
    "reassign_ticket",
    "update_ticket",
]
_ADMIN_ONLY = [
    "change_role",
    "create_user",
    "deactivate_user",
    "delete_ticket",
    "manage_automation",
    "manage_deliveries",
    "manage_sla",
    "manage_webhooks",
    "manage_workspace",
]
EXPECTED_PERMISSIONS = {
    Role.viewer: sorted(_READ),
    Role.agent: sorted(_READ + _WORK),
    Role.senior_agent: sorted([*_READ, *_WORK, "view_audit"]),
    Role.admin: sorted([*_READ, *_WORK, "view_audit", *_ADMIN_ONLY]),
}


async def _bearer(client_factory: ClientFactory, secret: str) -> ApiClient:
    client = await client_factory(None)
    client.headers["Authorization"] = f"Bearer {secret}"
    return client


@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
async def test_me_shows_the_user_workspace_and_permissions_of_the_role(
    role: Role, user_factory: UserFactory, client_factory: ClientFactory, workspace: Workspace
) -> None:
    user = await user_factory(role=role, name="Pat Example")
    client = await client_factory(user)

    response = await client.get(ME)

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["email"], body["name"], body["role"]) == (
        user.id,
        user.email,
        "Pat Example",
        role,
    )
    assert (body["workspace_id"], body["workspace_slug"]) == (workspace.id, "acme")
    assert body["permissions"] == EXPECTED_PERMISSIONS[role]
    assert "password_hash" not in body


async def test_me_of_another_workspaces_admin_names_their_workspace(other_admin_client: ApiClient) -> None:
    response = await other_admin_client.get(ME)

    assert response.json()["workspace_slug"] == "globex"


async def test_a_new_token_is_shown_once_and_works_as_bearer(
    viewer_client: ApiClient, client_factory: ClientFactory
) -> None:
    created = await viewer_client.post(TOKENS, json={"name": "  laptop script "})

    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["token"]
    assert secret.startswith("sdk_")
    assert len(secret) > 30
    assert body["name"] == "laptop script"
    assert body["prefix"] == secret[:10]
    assert body["expires_at"] is None
    assert viewer_client.user is not None
    me = await (await _bearer(client_factory, secret)).get(ME)
    assert me.status_code == 200
    assert me.json()["id"] == viewer_client.user.id


async def test_the_token_list_never_shows_secrets(viewer_client: ApiClient) -> None:
    created = (await viewer_client.post(TOKENS, json={"name": "ci", "expires_in_days": 30})).json()

    listed = await viewer_client.get(TOKENS)

    assert listed.status_code == 200
    assert created["token"] not in listed.text
    by_id = {token["id"]: token for token in listed.json()}
    assert set(by_id[created["id"]]) == {"id", "name", "prefix", "created_at", "expires_at"}
    assert by_id[created["id"]]["prefix"] == created["prefix"]
    assert by_id[created["id"]]["expires_at"] == (FROZEN_AT + timedelta(days=30)).isoformat().replace(
        "+00:00", "Z"
    )


async def test_a_revoked_token_gets_401_and_leaves_the_list(
    agent_client: ApiClient, client_factory: ClientFactory
) -> None:
    created = (await agent_client.post(TOKENS, json={"name": "temporary"})).json()
    token_client = await _bearer(client_factory, created["token"])
    assert (await token_client.get(ME)).status_code == 200

    revoked = await agent_client.delete(f"{TOKENS}/{created['id']}")
    again = await agent_client.delete(f"{TOKENS}/{created['id']}")

    assert revoked.status_code == 204
    assert revoked.content == b""
    assert again.status_code == 204  # revoking twice is harmless
    rejected = await token_client.get(ME)
    assert rejected.status_code == 401
    assert rejected.json()["code"] == "not-authenticated"
    assert created["id"] not in {token["id"] for token in (await agent_client.get(TOKENS)).json()}
    assert (await agent_client.get(ME)).status_code == 200  # the other token still works


async def test_a_user_can_revoke_the_token_they_are_using(agent_client: ApiClient) -> None:
    own = (await agent_client.get(TOKENS)).json()
    assert len(own) == 1

    response = await agent_client.delete(f"{TOKENS}/{own[0]['id']}")

    assert response.status_code == 204
    assert (await agent_client.get(ME)).status_code == 401


async def test_another_users_token_is_404_and_keeps_working(
    agent_client: ApiClient, senior_client: ApiClient
) -> None:
    theirs = (await senior_client.get(TOKENS)).json()[0]

    response = await agent_client.delete(f"{TOKENS}/{theirs['id']}")

    assert response.status_code == 404
    assert response.json()["code"] == "not-found"
    assert (await senior_client.get(ME)).status_code == 200


async def test_another_workspaces_token_is_404_and_keeps_working(
    admin_client: ApiClient, other_admin_client: ApiClient
) -> None:
    theirs = (await other_admin_client.get(TOKENS)).json()[0]

    response = await admin_client.delete(f"{TOKENS}/{theirs['id']}")

    assert response.status_code == 404
    assert (await other_admin_client.get(ME)).status_code == 200


async def test_each_user_lists_only_their_own_tokens(
    agent_client: ApiClient, senior_client: ApiClient, other_admin_client: ApiClient
) -> None:
    await senior_client.post(TOKENS, json={"name": "senior's"})
    await other_admin_client.post(TOKENS, json={"name": "other workspace's"})

    listed = await agent_client.get(TOKENS)

    assert [token["name"] for token in listed.json()] == ["tests"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param({"name": ""}, "name", id="empty-name"),
        pytest.param({}, "name", id="no-name"),
        pytest.param({"name": "x", "expires_in_days": 0}, "expires_in_days", id="zero-days"),
        pytest.param({"name": "x", "expires_in_days": 3651}, "expires_in_days", id="ten-years-plus"),
        pytest.param({"name": "x", "scopes": ["all"]}, "scopes", id="unknown-field"),
    ],
)
async def test_a_malformed_token_request_is_422(
    agent_client: ApiClient, payload: dict[str, object], field: str
) -> None:
    response = await agent_client.post(TOKENS, json=payload)

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


@pytest.mark.parametrize("role", list(Role), ids=str)
async def test_everyone_changes_their_own_name_and_e_mail_preference(
    role: Role, user_factory: UserFactory, client_factory: ClientFactory
) -> None:
    client = await client_factory(await user_factory(role=role))
    assert (await client.get(ME)).json()["email_notifications"] is True, "on unless turned off"

    response = await client.patch(ME, json={"name": "Sam C.", "email_notifications": False})

    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["email_notifications"]) == ("Sam C.", False)
    assert response.json()["role"] == role.value
    again = (await client.get(ME)).json()
    assert (again["name"], again["email_notifications"]) == ("Sam C.", False)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"role": "admin"}, id="not-ones-own-role"),
        pytest.param({"email_notifications": "yes"}, id="not-a-boolean"),
        pytest.param({"name": None}, id="no-null-name"),
        pytest.param({"name": ""}, id="no-empty-name"),
    ],
)
async def test_what_a_profile_change_cannot_do(agent_client: ApiClient, body: dict[str, object]) -> None:
    response = await agent_client.patch(ME, json=body)
    assert response.status_code == 422
    assert (await agent_client.get(ME)).json()["role"] == "agent"


async def test_an_admin_turns_a_users_e_mail_notifications_off(
    admin_client: ApiClient, user_factory: UserFactory
) -> None:
    agent = await user_factory(role=Role.agent)
    response = await admin_client.patch(
        f"/api/v1/admin/users/{agent.id}", json={"email_notifications": False}
    )
    assert response.status_code == 200, response.text
    assert response.json()["email_notifications"] is False
