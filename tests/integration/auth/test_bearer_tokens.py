"""Requests without valid credentials are refused with 401, a stable code and a Bearer challenge."""

from __future__ import annotations

from datetime import timedelta

import pytest

from supportdesk.core.clock import FrozenClock
from tests.fixtures.app import ApiClient, ClientFactory

ME = "/api/v1/me"


async def _bearer(client_factory: ClientFactory, secret: str) -> ApiClient:
    client = await client_factory(None)
    client.headers["Authorization"] = f"Bearer {secret}"
    return client


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-credentials"),
        pytest.param("Bearer garbage", id="garbage-token"),
        pytest.param("Bearer sdk_ThisLooksRightButWasNeverIssued0123456789abcdef", id="unknown-sdk-token"),
        pytest.param("Bearer ", id="empty-bearer"),
        pytest.param("Basic YWRtaW46cGFzc3dvcmQ=", id="basic-scheme"),
    ],
)
@pytest.mark.parametrize(
    "path",
    [
        pytest.param(ME, id="me"),
        pytest.param("/api/v1/customers", id="customers"),
        pytest.param("/api/v1/admin/users", id="users"),
        pytest.param("/api/v1/workspace", id="workspace"),
        pytest.param("/api/v1/me/tokens", id="tokens"),
    ],
)
async def test_requests_without_valid_credentials_are_401(
    client_factory: ClientFactory, authorization: str | None, path: str
) -> None:
    client = await client_factory(None)
    if authorization is not None:
        client.headers["Authorization"] = authorization

    response = await client.get(path)

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "not-authenticated"


async def test_writes_without_credentials_are_401_and_change_nothing(
    anonymous_client: ApiClient, admin_client: ApiClient
) -> None:
    response = await anonymous_client.post("/api/v1/customers", json={"email": "maria@example.com"})

    assert response.status_code == 401
    assert (await admin_client.get("/api/v1/customers")).json()["items"] == []


@pytest.mark.parametrize(
    ("elapsed", "status"),
    [
        pytest.param(timedelta(hours=23, minutes=59), 200, id="just-before"),
        pytest.param(timedelta(days=1), 401, id="at-expiry"),
        pytest.param(timedelta(days=2), 401, id="two-days-later"),
    ],
)
async def test_an_expiring_token_is_refused_once_it_expired(
    agent_client: ApiClient,
    client_factory: ClientFactory,
    clock: FrozenClock,
    elapsed: timedelta,
    status: int,
) -> None:
    created = await agent_client.post("/api/v1/me/tokens", json={"name": "one day", "expires_in_days": 1})
    client = await _bearer(client_factory, created.json()["token"])

    clock.advance(elapsed)
    response = await client.get(ME)

    assert response.status_code == status
    if status == 401:
        assert response.json()["code"] == "not-authenticated"
        assert response.headers["www-authenticate"] == "Bearer"
    assert (await agent_client.get(ME)).status_code == 200  # a token without expiry keeps working
