"""Password login for the browser (/api/v1/auth/login), the session cookie, and logout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from supportdesk.auth.dependencies import SESSION_COOKIE
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.people.models import User
from supportdesk.workspaces.models import Workspace
from tests.factories.people import UserFactory
from tests.fixtures.app import ApiClient, ClientFactory
from tests.fixtures.clock import FROZEN_AT

LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/me"
PASSWORD = "a-long-password"


@pytest.fixture
async def kim(user_factory: UserFactory) -> User:
    """An agent who logs in with a password."""
    return await user_factory(role=Role.agent, email="kim@acme.example.com", password=PASSWORD)


async def _cookie_client(client_factory: ClientFactory, secret: str) -> ApiClient:
    """A fresh client that sends only the session cookie ``secret`` (nothing in its cookie jar)."""
    client = await client_factory(None)
    client.headers["Cookie"] = f"{SESSION_COOKIE}={secret}"
    return client


async def test_login_returns_a_token_and_sets_a_strict_httponly_cookie(
    anonymous_client: ApiClient, kim: User
) -> None:
    response = await anonymous_client.post(LOGIN, json={"email": kim.email, "password": PASSWORD})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"].startswith("sdk_")
    assert body["user"]["id"] == kim.id
    assert body["expires_at"] == (FROZEN_AT + timedelta(hours=12)).isoformat().replace("+00:00", "Z")
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
    assert cookie.startswith(f"{SESSION_COOKIE}={body['token']};")
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=strict"
    assert attributes["path"] == "Path=/"
    assert attributes["max-age"] == f"Max-Age={12 * 3600}"
    assert "secure" not in attributes  # plain HTTP outside production


async def test_the_session_cookie_alone_authenticates(
    anonymous_client: ApiClient, client_factory: ClientFactory, kim: User
) -> None:
    login = await anonymous_client.post(LOGIN, json={"email": kim.email, "password": PASSWORD})

    with_jar = await anonymous_client.get(ME)  # the cookie the login response set
    with_cookie = await (await _cookie_client(client_factory, login.json()["token"])).get(ME)

    assert with_jar.status_code == 200, with_jar.text
    assert with_jar.json()["id"] == kim.id
    assert with_cookie.status_code == 200
    assert with_cookie.json()["email"] == kim.email


async def test_the_login_token_also_works_as_bearer(
    anonymous_client: ApiClient, client_factory: ClientFactory, kim: User
) -> None:
    login = await anonymous_client.post(LOGIN, json={"email": kim.email, "password": PASSWORD})
    client = await client_factory(None)
    client.headers["Authorization"] = f"Bearer {login.json()['token']}"

    assert (await client.get(ME)).json()["id"] == kim.id


async def test_an_email_with_upper_case_domain_logs_in(anonymous_client: ApiClient, kim: User) -> None:
    response = await anonymous_client.post(
        LOGIN, json={"email": "kim@ACME.example.com", "password": PASSWORD}
    )

    assert response.status_code == 200, response.text


async def test_browser_sessions_are_not_listed_as_personal_tokens(
    anonymous_client: ApiClient, kim: User
) -> None:
    await anonymous_client.post(LOGIN, json={"email": kim.email, "password": PASSWORD})

    response = await anonymous_client.get("/api/v1/me/tokens")

    assert response.status_code == 200
    assert response.json() == []


async def test_wrong_password_and_unknown_email_get_the_same_401(
    client_factory: ClientFactory, kim: User
) -> None:
    wrong_password = await (await client_factory(None)).post(
        LOGIN, json={"email": kim.email, "password": "not-the-password"}
    )
    unknown_email = await (await client_factory(None)).post(
        LOGIN, json={"email": "nobody@acme.example.com", "password": PASSWORD}
    )

    for response in (wrong_password, unknown_email):
        assert response.status_code == 401
        assert response.json()["code"] == "invalid-credentials"
        assert response.headers["www-authenticate"] == "Bearer"
        assert "set-cookie" not in response.headers
    assert wrong_password.json() == unknown_email.json()  # nothing tells which one was wrong


@pytest.mark.parametrize(
    "user_kind",
    [
        pytest.param("inactive", id="inactive-user"),
        pytest.param("no-password", id="user-without-password"),
    ],
)
async def test_users_who_may_not_log_in_get_invalid_credentials(
    anonymous_client: ApiClient, user_factory: UserFactory, user_kind: str
) -> None:
    if user_kind == "inactive":
        user = await user_factory(role=Role.admin, password=PASSWORD, is_active=False)
    else:
        user = await user_factory(role=Role.admin)

    response = await anonymous_client.post(LOGIN, json={"email": user.email, "password": PASSWORD})

    assert response.status_code == 401
    assert response.json()["code"] == "invalid-credentials"
    assert (await anonymous_client.get(ME)).status_code == 401


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param({"email": "kim@acme.example.com"}, "password", id="no-password"),
        pytest.param({"email": "kim", "password": PASSWORD}, "email", id="bad-email"),
        pytest.param({"email": "kim@acme.example.com", "password": ""}, "password", id="empty-password"),
        pytest.param(
            {"email": "kim@acme.example.com", "password": PASSWORD, "remember": True},
            "remember",
            id="unknown",
        ),
    ],
)
async def test_a_malformed_login_is_422(
    anonymous_client: ApiClient, kim: User, payload: dict[str, object], field: str
) -> None:
    response = await anonymous_client.post(LOGIN, json=payload)

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_an_address_in_two_workspaces_must_name_the_workspace(
    client_factory: ClientFactory, user_factory: UserFactory, other_workspace: Workspace
) -> None:
    ours = await user_factory(role=Role.agent, email="pat@example.com", password=PASSWORD)
    await user_factory(role=Role.agent, email="pat@example.com", password=PASSWORD, workspace=other_workspace)

    ambiguous = await (await client_factory(None)).post(
        LOGIN, json={"email": ours.email, "password": PASSWORD}
    )
    named = await (await client_factory(None)).post(
        LOGIN, json={"email": ours.email, "password": PASSWORD, "workspace": "acme"}
    )

    assert ambiguous.status_code == 422
    assert [error["field"] for error in ambiguous.json()["errors"]] == ["workspace"]
    assert named.status_code == 200, named.text
    assert named.json()["user"]["id"] == ours.id


async def test_logout_ends_the_session(
    anonymous_client: ApiClient, client_factory: ClientFactory, kim: User
) -> None:
    login = await anonymous_client.post(LOGIN, json={"email": kim.email, "password": PASSWORD})
    secret = login.json()["token"]

    logout = await anonymous_client.post(LOGOUT)

    assert logout.status_code == 204
    cleared = logout.headers["set-cookie"]
    assert cleared.startswith(f"{SESSION_COOKIE}=")
    assert "Max-Age=0" in cleared  # the browser drops the cookie
    # The old cookie, sent again by a browser that kept it, no longer works; nor does it as bearer.
    replayed = await (await _cookie_client(client_factory, secret)).get(ME)
    assert replayed.status_code == 401
    assert replayed.json()["code"] == "not-authenticated"
    bearer = await client_factory(None)
    bearer.headers["Authorization"] = f"Bearer {secret}"
    assert (await bearer.get(ME)).status_code == 401


async def test_logout_ends_only_that_session(client_factory: ClientFactory, kim: User) -> None:
    laptop, phone = await client_factory(None), await client_factory(None)
    await laptop.post(LOGIN, json={"email": kim.email, "password": PASSWORD})
    await phone.post(LOGIN, json={"email": kim.email, "password": PASSWORD})
    script = await client_factory(kim)  # a personal token

    await laptop.post(LOGOUT)

    assert (await laptop.get(ME)).status_code == 401
    assert (await phone.get(ME)).status_code == 200
    assert (await script.get(ME)).status_code == 200


async def test_logout_without_credentials_is_401(anonymous_client: ApiClient) -> None:
    response = await anonymous_client.post(LOGOUT)

    assert response.status_code == 401
    assert response.json()["code"] == "not-authenticated"


async def test_a_session_expires_after_its_lifetime(
    anonymous_client: ApiClient, clock: FrozenClock, kim: User
) -> None:
    await anonymous_client.post(LOGIN, json={"email": kim.email, "password": PASSWORD})

    clock.advance(timedelta(hours=11, minutes=59))
    still = await anonymous_client.get(ME)
    clock.advance(timedelta(minutes=1))
    expired = await anonymous_client.get(ME)

    assert still.status_code == 200
    assert expired.status_code == 401


async def test_a_deactivated_users_session_stops_working(
    anonymous_client: ApiClient, admin_client: ApiClient, kim: User
) -> None:
    await anonymous_client.post(LOGIN, json={"email": kim.email, "password": PASSWORD})
    assert (await anonymous_client.get(ME)).status_code == 200

    await admin_client.post(f"/api/v1/admin/users/{kim.id}/deactivate")

    assert (await anonymous_client.get(ME)).status_code == 401


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("  leading-spaces", id="leading"),
        pytest.param("trailing-spaces  ", id="trailing"),
        pytest.param(" around-a-tab\t", id="around"),
    ],
)
async def test_a_password_is_kept_exactly_as_typed(
    admin_client: ApiClient, anonymous_client: ApiClient, password: str
) -> None:
    created = await admin_client.post(
        "/api/v1/admin/users", json={"email": "lee@acme.example.com", "name": "Lee", "password": password}
    )
    assert created.status_code == 201, created.text

    exact = await anonymous_client.post(LOGIN, json={"email": "lee@acme.example.com", "password": password})
    trimmed = await anonymous_client.post(
        LOGIN, json={"email": "lee@acme.example.com", "password": password.strip()}
    )

    assert exact.status_code == 200, exact.text
    assert trimmed.status_code == 401, trimmed.text
