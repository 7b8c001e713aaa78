"""Staff users (/api/v1/admin/users): who may list, add, change and deactivate them."""

from __future__ import annotations

from typing import Any

import pytest

from supportdesk.core.permissions import Role
from supportdesk.workspaces.models import Workspace
from tests.factories.people import UserFactory
from tests.fixtures.app import ApiClient, ClientFactory

USERS = "/api/v1/admin/users"
NON_ADMINS = [Role.viewer, Role.agent, Role.senior_agent]


def _user_id(client: ApiClient) -> int:
    assert client.user is not None
    return client.user.id


@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
async def test_every_role_can_list_and_read_staff(
    role: Role, user_factory: UserFactory, client_factory: ClientFactory, other_workspace: Workspace
) -> None:
    me = await user_factory(role=role, name="Me Myself")
    colleague = await user_factory(role=Role.agent, name="Alex Agent")
    await user_factory(role=Role.admin, workspace=other_workspace, name="Zara Stranger")
    client = await client_factory(me)

    listed = await client.get(USERS)
    fetched = await client.get(f"{USERS}/{colleague.id}")

    assert listed.status_code == 200
    assert [user["name"] for user in listed.json()] == ["Alex Agent", "Me Myself"]  # by name, ours only
    assert fetched.status_code == 200
    assert fetched.json()["email"] == colleague.email
    assert "password_hash" not in fetched.json()


async def test_the_list_filters_by_role_and_activity(
    viewer_client: ApiClient, user_factory: UserFactory
) -> None:
    senior = await user_factory(role=Role.senior_agent)
    gone = await user_factory(role=Role.agent, is_active=False)

    seniors = await viewer_client.get(USERS, params={"role": "senior_agent"})
    inactive = await viewer_client.get(USERS, params={"is_active": "false"})

    assert [user["id"] for user in seniors.json()] == [senior.id]
    assert [user["id"] for user in inactive.json()] == [gone.id]
    assert inactive.json()[0]["is_active"] is False


async def test_an_admin_adds_a_staff_user(admin_client: ApiClient) -> None:
    response = await admin_client.post(
        USERS,
        json={
            "email": "new.agent@Acme.example.com",
            "name": "New Agent",
            "role": "senior_agent",
            "password": "a-long-password",
            "skills": ["billing", " technical ", "billing"],
        },
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "new.agent@acme.example.com"
    assert (body["role"], body["is_active"], body["availability"]) == ("senior_agent", True, "available")
    assert body["skills"] == ["billing", "technical"]
    assert "password" not in body
    assert "password_hash" not in body
    assert response.headers["location"] == f"{USERS}/{body['id']}"
    assert (await admin_client.get(response.headers["location"])).json() == body


async def test_a_duplicate_staff_email_is_409(admin_client: ApiClient, user_factory: UserFactory) -> None:
    existing = await user_factory(role=Role.agent)

    response = await admin_client.post(USERS, json={"email": existing.email, "name": "Twin"})

    assert response.status_code == 409
    assert response.json()["code"] == "user-exists"
    assert [user["email"] for user in (await admin_client.get(USERS)).json()].count(existing.email) == 1


async def test_the_same_email_may_be_staff_in_another_workspace(
    admin_client: ApiClient, user_factory: UserFactory, other_workspace: Workspace
) -> None:
    theirs = await user_factory(role=Role.agent, workspace=other_workspace)

    response = await admin_client.post(USERS, json={"email": theirs.email, "name": "Same Address"})

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param({"email": "no-at-sign", "name": "X"}, "email", id="bad-email"),
        pytest.param({"email": "x@example.com", "name": "X", "role": "owner"}, "role", id="unknown-role"),
        pytest.param({"email": "x@example.com", "name": "X", "password": "short"}, "password", id="short-pw"),
        pytest.param({"email": "x@example.com", "name": "X", "is_active": False}, "is_active", id="unknown"),
    ],
)
async def test_a_malformed_staff_user_is_422(
    admin_client: ApiClient, payload: dict[str, Any], field: str
) -> None:
    response = await admin_client.post(USERS, json=payload)

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


@pytest.mark.parametrize("role", NON_ADMINS, ids=[role.value for role in NON_ADMINS])
@pytest.mark.parametrize("endpoint", ["create", "change-role", "deactivate"])
async def test_only_admins_manage_staff(
    role: Role, endpoint: str, user_factory: UserFactory, client_factory: ClientFactory
) -> None:
    target = await user_factory(role=Role.agent)
    client = await client_factory(await user_factory(role=role))

    if endpoint == "create":
        response = await client.post(USERS, json={"email": "sneaky@example.com", "name": "Sneaky"})
    elif endpoint == "change-role":
        response = await client.patch(f"{USERS}/{target.id}", json={"role": "admin"})
    else:
        response = await client.post(f"{USERS}/{target.id}/deactivate")

    assert response.status_code == 403
    assert response.json()["code"] == "permission-denied"
    after = (await client.get(f"{USERS}/{target.id}")).json()
    assert (after["role"], after["is_active"]) == ("agent", True)
    assert "sneaky@example.com" not in {user["email"] for user in (await client.get(USERS)).json()}


async def test_an_admin_changes_a_role(admin_client: ApiClient, user_factory: UserFactory) -> None:
    agent = await user_factory(role=Role.agent)

    response = await admin_client.patch(
        f"{USERS}/{agent.id}", json={"role": "senior_agent", "availability": "away"}
    )

    assert response.status_code == 200, response.text
    assert (response.json()["role"], response.json()["availability"]) == ("senior_agent", "away")
    assert (await admin_client.get(f"{USERS}/{agent.id}")).json()["role"] == "senior_agent"


async def test_a_role_change_takes_effect_on_the_users_next_request(
    admin_client: ApiClient, user_factory: UserFactory, client_factory: ClientFactory
) -> None:
    agent = await user_factory(role=Role.agent)
    agent_client = await client_factory(agent)
    assert (await agent_client.post(USERS, json={"email": "x@example.com", "name": "X"})).status_code == 403

    await admin_client.patch(f"{USERS}/{agent.id}", json={"role": "admin"})

    response = await agent_client.post(USERS, json={"email": "x@example.com", "name": "X"})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("field", ["role", "name", "skills", "availability"])
async def test_patch_cannot_null_a_field(
    admin_client: ApiClient, user_factory: UserFactory, field: str
) -> None:
    agent = await user_factory(role=Role.agent)

    response = await admin_client.patch(f"{USERS}/{agent.id}", json={field: None})

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_an_admin_deactivates_a_user(admin_client: ApiClient, user_factory: UserFactory) -> None:
    agent = await user_factory(role=Role.agent)

    response = await admin_client.post(f"{USERS}/{agent.id}/deactivate")
    again = await admin_client.post(f"{USERS}/{agent.id}/deactivate")

    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert again.status_code == 200  # deactivating twice is harmless
    assert again.json()["is_active"] is False


async def test_a_deactivated_users_token_stops_working(
    admin_client: ApiClient, user_factory: UserFactory, client_factory: ClientFactory
) -> None:
    agent_client = await client_factory(await user_factory(role=Role.agent))
    assert (await agent_client.get("/api/v1/me")).status_code == 200

    await admin_client.post(f"{USERS}/{_user_id(agent_client)}/deactivate")

    response = await agent_client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["code"] == "not-authenticated"


@pytest.mark.parametrize("change", ["demote", "deactivate"])
async def test_the_last_active_admin_cannot_be_demoted_or_deactivated(
    admin_client: ApiClient,
    other_admin_client: ApiClient,
    user_factory: UserFactory,
    change: str,
) -> None:
    # An inactive admin here and an active one in another workspace do not count.
    await user_factory(role=Role.admin, is_active=False)
    me = _user_id(admin_client)

    if change == "demote":
        response = await admin_client.patch(f"{USERS}/{me}", json={"role": "agent"})
    else:
        response = await admin_client.post(f"{USERS}/{me}/deactivate")

    assert response.status_code == 409, response.text
    assert response.json()["code"] == "last-admin"
    after = await admin_client.get(f"{USERS}/{me}")
    assert after.status_code == 200
    assert (after.json()["role"], after.json()["is_active"]) == ("admin", True)


async def test_an_admin_may_step_down_while_another_admin_remains(
    admin_client: ApiClient, user_factory: UserFactory, client_factory: ClientFactory
) -> None:
    second = await user_factory(role=Role.admin)
    second_client = await client_factory(second)

    demoted = await admin_client.patch(f"{USERS}/{_user_id(admin_client)}", json={"role": "agent"})
    # Now ``second`` is the only admin left, and is protected in turn.
    blocked = await second_client.post(f"{USERS}/{second.id}/deactivate")

    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["role"] == "agent"
    assert blocked.status_code == 409
    assert blocked.json()["code"] == "last-admin"


async def test_changing_the_last_admins_name_is_allowed(admin_client: ApiClient) -> None:
    response = await admin_client.patch(
        f"{USERS}/{_user_id(admin_client)}", json={"name": "Renamed", "role": "admin"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Renamed"


@pytest.mark.parametrize("endpoint", ["get", "change-role", "deactivate"])
async def test_another_workspaces_staff_are_404(
    admin_client: ApiClient,
    other_admin_client: ApiClient,
    user_factory: UserFactory,
    other_workspace: Workspace,
    endpoint: str,
) -> None:
    theirs = await user_factory(role=Role.agent, workspace=other_workspace)

    if endpoint == "get":
        response = await admin_client.get(f"{USERS}/{theirs.id}")
    elif endpoint == "change-role":
        response = await admin_client.patch(f"{USERS}/{theirs.id}", json={"role": "viewer"})
    else:
        response = await admin_client.post(f"{USERS}/{theirs.id}/deactivate")

    assert response.status_code == 404
    assert response.json()["code"] == "not-found"
    untouched = (await other_admin_client.get(f"{USERS}/{theirs.id}")).json()
    assert (untouched["role"], untouched["is_active"]) == ("agent", True)
