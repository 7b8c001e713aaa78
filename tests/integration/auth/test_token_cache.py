"""A checked token is not read again for ``token_cache_seconds``, yet every change made through the desk
(revocation, deactivation, a new role) counts at the next request; a change made behind the ORM, as
another process on SQLite makes it, counts once the cache time has passed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Table, event, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk.app import create_app
from supportdesk.auth.token_cache import TokenCache
from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.core.security import hash_token
from supportdesk.db.session import Database
from supportdesk.people.models import User
from tests.fixtures.app import ApiClient, ClientFactory
from tests.fixtures.database import make_settings

ME = "/api/v1/me"
MY_TOKENS = "/api/v1/me/tokens"
TICKETS = "/api/v1/tickets"
USERS = "/api/v1/admin/users"
CACHE_SECONDS = 5
CACHE_TIME = timedelta(seconds=CACHE_SECONDS)

Change = Callable[[ApiClient, ApiClient, int], Awaitable[httpx.Response]]


@pytest.fixture
def token_cache_seconds() -> float:
    """How long the app remembers a checked token; a test parametrizes this name to change it."""
    return CACHE_SECONDS


@pytest.fixture
def settings(engine: AsyncEngine, token_cache_seconds: float) -> Settings:
    """Settings pointing at this test's database, with the test's cache time."""
    return make_settings(
        engine.url.render_as_string(hide_password=False), token_cache_seconds=token_cache_seconds
    )


@pytest.fixture
def token_cache() -> TokenCache:
    """The app's own cache: the session events of a change in this process empty it as they empty the
    process's."""
    return TokenCache()


@pytest.fixture
def app(settings: Settings, database: Database, clock: FrozenClock, token_cache: TokenCache) -> FastAPI:
    """The application, on the test's database, clock and emptied token cache."""
    return create_app(settings, database=database, clock=clock, token_cache=token_cache)


@pytest.fixture
def token_reads(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements that mention the token table, as the database receives them."""
    seen: list[str] = []

    def capture(_conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if "api_token" in statement.lower():
            seen.append(statement)

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", capture)
    yield seen
    event.remove(sync_engine, "before_cursor_execute", capture)


def _secret(client: ApiClient) -> str:
    return client.headers["Authorization"].removeprefix("Bearer ")


def _is_cached(client: ApiClient, cache: TokenCache, settings: Settings, clock: FrozenClock) -> bool:
    return cache.get(hash_token(_secret(client), settings.secret_key), clock.now()) is not None


def _user_id(client: ApiClient) -> int:
    assert client.user is not None
    return client.user.id


async def _deactivate_behind_the_orm(connection: AsyncConnection, client: ApiClient) -> None:
    """What another process (the CLI beside the server on SQLite) does: no event reaches this one."""
    user_table = cast(Table, User.__table__)
    await connection.execute(
        update(user_table).where(user_table.c.id == _user_id(client)).values(is_active=False)
    )


async def test_a_token_used_again_is_not_read_again(agent_client: ApiClient, token_reads: list[str]) -> None:
    token_reads.clear()  # the token was issued through the database

    first = await agent_client.get(ME)
    reads_for_the_first = len(token_reads)
    token_reads.clear()
    second = await agent_client.get(ME)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["id"] == first.json()["id"] == _user_id(agent_client)
    assert (reads_for_the_first, len(token_reads)) == (1, 0), token_reads


async def _revoke_own_token(_admin: ApiClient, agent: ApiClient, token_id: int) -> httpx.Response:
    return await agent.delete(f"{MY_TOKENS}/{token_id}")


async def _deactivate(admin: ApiClient, agent: ApiClient, _token_id: int) -> httpx.Response:
    return await admin.post(f"{USERS}/{_user_id(agent)}/deactivate")


async def _make_viewer(admin: ApiClient, agent: ApiClient, _token_id: int) -> httpx.Response:
    return await admin.patch(f"{USERS}/{_user_id(agent)}", json={"role": "viewer"})


@pytest.mark.parametrize(
    ("change", "status"),
    [
        pytest.param(_revoke_own_token, 401, id="token-revoked"),
        pytest.param(_deactivate, 401, id="user-deactivated-by-an-admin"),
        pytest.param(_make_viewer, 403, id="made-a-viewer-by-an-admin"),
    ],
)
async def test_a_change_counts_at_the_next_request_although_the_token_was_cached(
    agent_client: ApiClient,
    admin_client: ApiClient,
    token_cache: TokenCache,
    settings: Settings,
    clock: FrozenClock,
    change: Change,
    status: int,
) -> None:
    token_id = (await agent_client.get(MY_TOKENS)).json()[0]["id"]
    before = await agent_client.post(TICKETS, json={"title": "Before the change"})
    assert before.status_code == 201, before.text
    assert _is_cached(agent_client, token_cache, settings, clock)

    changed = await change(admin_client, agent_client, token_id)
    assert changed.status_code in (200, 204), changed.text
    after = await agent_client.post(TICKETS, json={"title": "After the change"})

    assert after.status_code == status, after.text
    assert (await admin_client.get(ME)).status_code == 200  # the admin's own token is unaffected


@pytest.mark.parametrize(
    ("elapsed", "status"),
    [
        pytest.param(timedelta(0), 200, id="right-after"),
        pytest.param(CACHE_TIME - timedelta(milliseconds=1), 200, id="just-before-the-cache-time"),
        pytest.param(CACHE_TIME, 401, id="once-the-cache-time-passed"),
    ],
)
async def test_a_deactivation_behind_the_orm_counts_once_the_cache_time_passed(
    agent_client: ApiClient,
    connection: AsyncConnection,
    settings: Settings,
    clock: FrozenClock,
    elapsed: timedelta,
    status: int,
) -> None:
    assert settings.token_cache_seconds == CACHE_SECONDS
    assert (await agent_client.get(ME)).status_code == 200

    await _deactivate_behind_the_orm(connection, agent_client)
    clock.advance(elapsed)
    response = await agent_client.get(ME)

    assert response.status_code == status, response.text


@pytest.mark.parametrize("token_cache_seconds", [pytest.param(0, id="cache-off")])
async def test_without_a_cache_time_a_deactivation_behind_the_orm_counts_at_once(
    agent_client: ApiClient,
    connection: AsyncConnection,
    token_cache: TokenCache,
    token_reads: list[str],
) -> None:
    token_reads.clear()
    assert (await agent_client.get(ME)).status_code == 200
    assert (await agent_client.get(ME)).status_code == 200
    assert len(token_cache) == 0
    assert len(token_reads) == 2  # each request read its token

    await _deactivate_behind_the_orm(connection, agent_client)
    response = await agent_client.get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "not-authenticated"


async def test_a_cached_token_is_refused_at_its_own_expiry(
    agent_client: ApiClient,
    client_factory: ClientFactory,
    token_cache: TokenCache,
    settings: Settings,
    clock: FrozenClock,
) -> None:
    created = await agent_client.post(MY_TOKENS, json={"name": "one day", "expires_in_days": 1})
    expiring = await client_factory(None)
    expiring.headers["Authorization"] = f"Bearer {created.json()['token']}"
    clock.advance(timedelta(days=1) - CACHE_TIME / 2)  # cached until well after the token expires
    assert (await expiring.get(ME)).status_code == 200
    assert _is_cached(expiring, token_cache, settings, clock)

    clock.advance(CACHE_TIME / 2)
    response = await expiring.get(ME)

    assert response.status_code == 401
