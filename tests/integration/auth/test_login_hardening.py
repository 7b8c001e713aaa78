"""Login under attack: the password check leaves the event loop free, takes one argon2 check whatever the
account, is throttled per client address and per account, and logout ends only login sessions."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from supportdesk.app import create_app
from supportdesk.auth.throttle import LoginThrottle
from supportdesk.config import Settings
from supportdesk.core import security
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.people.models import User
from tests.factories.people import UserFactory
from tests.fixtures.app import ApiClient, ClientFactory

LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/me"
PASSWORD = "a-long-password"
WRONG = "not-the-password"

AppFactory = Callable[..., FastAPI]


@pytest.fixture
async def kim(user_factory: UserFactory) -> User:
    """An agent who logs in with a password."""
    return await user_factory(role=Role.agent, email="kim@acme.example.com", password=PASSWORD)


@pytest.fixture
def app_with(settings: Settings, database: Database, clock: FrozenClock) -> AppFactory:
    """An app on the test's database with some settings changed: ``app_with(max_request_bytes=...)``."""

    def make(**changes: Any) -> FastAPI:
        return create_app(settings.model_copy(update=changes), database=database, clock=clock)

    return make


@pytest.fixture
async def from_address() -> AsyncIterator[Callable[[FastAPI, str], httpx.AsyncClient]]:
    """Clients of an app that connect from a given address: ``from_address(app, "10.0.0.1")``."""
    clients: list[httpx.AsyncClient] = []

    def make(app: FastAPI, address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def argon2_checks(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every password check made from now on, as whether it ran argon2 on a real hash."""
    checks: list[bool] = []
    original = security.verify_password

    def counting(password_hash: str | None, password: str) -> bool:
        checks.append(bool(password_hash))
        return original(password_hash, password)

    monkeypatch.setattr(security, "verify_password", counting)
    return checks


def _credentials(email: str, password: str = PASSWORD) -> dict[str, str]:
    return {"email": email, "password": password}


# --- the password check leaves the event loop free ------------------------------------------------------


async def test_a_password_check_in_progress_does_not_hold_up_other_requests(
    anonymous_client: ApiClient, kim: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, released = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []
    original = security.verify_password

    def held_check(password_hash: str | None, password: str) -> bool:
        # Holds the check until the other request is answered. Were it on the event loop, that request
        # could not run: the wait would time out first and the login would finish before it.
        threads.append(threading.current_thread())
        started.set()
        released.wait(timeout=10)
        return original(password_hash, password)

    monkeypatch.setattr(security, "verify_password", held_check)

    login = asyncio.create_task(anonymous_client.post(LOGIN, json=_credentials(kim.email)))
    for _ in range(1000):
        if started.is_set() or login.done():
            break
        await asyncio.sleep(0.01)
    health = await anonymous_client.get("/healthz")
    login_was_still_running = not login.done()
    released.set()
    response = await login

    assert health.status_code == 200
    assert login_was_still_running
    assert response.status_code == 200, response.text
    assert threads
    assert threads[0] is not threading.main_thread()


# --- one argon2 check whatever the account --------------------------------------------------------------


@pytest.mark.parametrize("case", ["unknown-address", "no-password", "inactive", "wrong-password"])
async def test_every_failed_login_checks_one_real_hash(
    anonymous_client: ApiClient, user_factory: UserFactory, argon2_checks: list[bool], case: str
) -> None:
    email, password = "someone@acme.example.com", PASSWORD
    if case == "no-password":
        await user_factory(role=Role.agent, email=email)
    elif case == "inactive":
        await user_factory(role=Role.agent, email=email, password=PASSWORD, is_active=False)
    elif case == "wrong-password":
        await user_factory(role=Role.agent, email=email, password=PASSWORD)
        password = WRONG
    argon2_checks.clear()

    response = await anonymous_client.post(LOGIN, json=_credentials(email, password))

    assert response.status_code == 401
    assert response.json()["code"] == "invalid-credentials"
    assert argon2_checks == [True]  # as long as a wrong password takes, whatever the case


async def test_an_account_without_password_refuses_the_dummy_password(
    anonymous_client: ApiClient, user_factory: UserFactory
) -> None:
    user = await user_factory(role=Role.agent, email="tokens-only@acme.example.com")

    response = await anonymous_client.post(LOGIN, json=_credentials(user.email, "not-a-real-password"))

    assert response.status_code == 401


# --- throttling -----------------------------------------------------------------------------------------


def _assert_throttled(response: httpx.Response, *, at_most: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "too-many-requests"
    assert 1 <= int(response.headers["retry-after"]) <= at_most


async def test_failures_on_an_account_are_throttled_and_cost_no_hashing(
    app_with: AppFactory,
    from_address: Callable[[FastAPI, str], httpx.AsyncClient],
    kim: User,
    argon2_checks: list[bool],
) -> None:
    app = app_with(login_failures_per_account="3/15 minutes")
    client = from_address(app, "203.0.113.7")
    failures = [await client.post(LOGIN, json=_credentials(kim.email, WRONG)) for _ in range(3)]
    argon2_checks.clear()

    refused = await client.post(LOGIN, json=_credentials(kim.email))  # even the right password

    assert [response.status_code for response in failures] == [401, 401, 401]
    _assert_throttled(refused, at_most=15 * 60)
    assert argon2_checks == []


async def test_an_unknown_address_is_throttled_like_a_real_one(
    app_with: AppFactory, from_address: Callable[[FastAPI, str], httpx.AsyncClient]
) -> None:
    app = app_with(login_failures_per_account="2/15 minutes")
    client = from_address(app, "203.0.113.7")
    for _ in range(2):
        await client.post(LOGIN, json=_credentials("nobody@acme.example.com", WRONG))

    _assert_throttled(
        await client.post(LOGIN, json=_credentials("nobody@acme.example.com", WRONG)), at_most=15 * 60
    )


async def test_someone_elses_failures_do_not_lock_the_owner_out(
    app_with: AppFactory, from_address: Callable[[FastAPI, str], httpx.AsyncClient], kim: User
) -> None:
    app = app_with(login_failures_per_account="3/15 minutes")
    attacker, owner = from_address(app, "198.51.100.66"), from_address(app, "203.0.113.7")
    for _ in range(5):
        await attacker.post(LOGIN, json=_credentials(kim.email, WRONG))

    assert (await attacker.post(LOGIN, json=_credentials(kim.email))).status_code == 429
    assert (await owner.post(LOGIN, json=_credentials(kim.email))).status_code == 200


async def test_failures_from_many_addresses_together_throttle_the_account(
    app_with: AppFactory, from_address: Callable[[FastAPI, str], httpx.AsyncClient], kim: User
) -> None:
    app = app_with(login_failures_per_account="3/15 minutes", login_failures_per_account_total="4/hour")
    for address in ("198.51.100.1", "198.51.100.2"):
        for _ in range(2):
            await from_address(app, address).post(LOGIN, json=_credentials(kim.email, WRONG))

    refused = await from_address(app, "198.51.100.3").post(LOGIN, json=_credentials(kim.email))

    _assert_throttled(refused, at_most=3600)


async def test_a_successful_login_forgets_that_addresss_failures(
    app_with: AppFactory, from_address: Callable[[FastAPI, str], httpx.AsyncClient], kim: User
) -> None:
    app = app_with(login_failures_per_account="3/15 minutes")
    client = from_address(app, "203.0.113.7")
    for _ in range(2):
        await client.post(LOGIN, json=_credentials(kim.email, WRONG))
    assert (await client.post(LOGIN, json=_credentials(kim.email))).status_code == 200
    for _ in range(2):
        await client.post(LOGIN, json=_credentials(kim.email, WRONG))

    assert (await client.post(LOGIN, json=_credentials(kim.email))).status_code == 200


async def test_every_attempt_counts_against_the_client_address(
    app_with: AppFactory,
    from_address: Callable[[FastAPI, str], httpx.AsyncClient],
    user_factory: UserFactory,
    kim: User,
) -> None:
    app = app_with(login_attempts_per_address="3/minute")
    client, elsewhere = from_address(app, "198.51.100.9"), from_address(app, "203.0.113.7")
    other = await user_factory(role=Role.agent, email="pat@acme.example.com", password=PASSWORD)
    answers = [
        await client.post(LOGIN, json=_credentials(kim.email)),
        await client.post(LOGIN, json=_credentials(other.email, WRONG)),
        await client.post(LOGIN, json=_credentials("nobody@acme.example.com", WRONG)),
    ]

    refused = await client.post(LOGIN, json=_credentials(other.email))

    assert [response.status_code for response in answers] == [200, 401, 401]
    _assert_throttled(refused, at_most=60)
    assert (await elsewhere.post(LOGIN, json=_credentials(other.email))).status_code == 200


async def test_the_throttle_belongs_to_the_app_and_can_be_reset(
    app_with: AppFactory, from_address: Callable[[FastAPI, str], httpx.AsyncClient], kim: User
) -> None:
    app = app_with(login_failures_per_account="1/15 minutes")
    client = from_address(app, "203.0.113.7")
    await client.post(LOGIN, json=_credentials(kim.email, WRONG))
    assert (await client.post(LOGIN, json=_credentials(kim.email))).status_code == 429
    fresh = from_address(app_with(login_failures_per_account="1/15 minutes"), "203.0.113.7")
    assert (await fresh.post(LOGIN, json=_credentials(kim.email))).status_code == 200

    throttle: LoginThrottle = app.state.login_throttle
    await throttle.reset()

    assert (await client.post(LOGIN, json=_credentials(kim.email))).status_code == 200


async def test_the_login_documents_its_429(anonymous_client: ApiClient) -> None:
    schema = (await anonymous_client.get("/openapi.json")).json()

    too_many = schema["paths"][LOGIN]["post"]["responses"]["429"]

    assert list(too_many["content"]) == ["application/problem+json"]
    assert "Retry-After" in too_many["headers"]


# --- token responses are not cached ---------------------------------------------------------------------


async def test_responses_that_carry_a_token_must_not_be_stored(
    anonymous_client: ApiClient, agent_client: ApiClient, kim: User
) -> None:
    login = await anonymous_client.post(LOGIN, json=_credentials(kim.email))
    token = await agent_client.post("/api/v1/me/tokens", json={"name": "ci"})
    tickets = await agent_client.get("/api/v1/tickets")

    assert login.headers["cache-control"] == "no-store"
    assert token.status_code == 201
    assert token.headers["cache-control"] == "no-store"
    assert "cache-control" not in tickets.headers


# --- logout ends only login sessions --------------------------------------------------------------------


async def test_logout_with_a_personal_token_leaves_it_working(
    client_factory: ClientFactory, kim: User
) -> None:
    script = await client_factory(kim)  # a personal API token

    response = await script.post(LOGOUT)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not-a-session"
    assert (await script.get(ME)).status_code == 200


async def test_logout_with_the_login_token_as_bearer_ends_that_session(
    anonymous_client: ApiClient, client_factory: ClientFactory, kim: User
) -> None:
    secret = (await anonymous_client.post(LOGIN, json=_credentials(kim.email))).json()["token"]
    bearer = await client_factory(None)
    bearer.headers["Authorization"] = f"Bearer {secret}"

    response = await bearer.post(LOGOUT)

    assert response.status_code == 204
    assert (await bearer.get(ME)).status_code == 401
