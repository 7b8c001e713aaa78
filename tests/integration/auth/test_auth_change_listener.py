"""Every process hears of every committed change to staff and tokens (PostgreSQL's NOTIFY), and caches
tokens only while it is listening.

The listener here is given a cache that stands for another process's (``hears_local_changes=False``):
the session events empty this process's caches themselves, so only the notification can empty this
one. Each test has a fresh database with real commits (``real_database``), since a notification is
delivered only when its transaction commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk.app import create_app
from supportdesk.auth import service as auth_service
from supportdesk.auth.token_cache import CHANNEL, AuthChangeListener, Caller, TokenCache
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.people import service as people_service
from supportdesk.people.models import ApiToken, User
from supportdesk.workspaces import service as workspace_service
from tests.fixtures.clock import FROZEN_AT
from tests.fixtures.database import make_settings

LISTENER_TASK = "auth-change-listener"
RETRY_SECONDS = 0.05
PATIENCE = 5.0  # seconds to wait for what must happen
QUIET = 0.3  # seconds to wait to see that something does not happen
TTL = timedelta(seconds=5)
CALLER = Caller(id=1, workspace_id=1, role=Role.agent, email="pat@acme.example.com", name="Pat")


@pytest.fixture(params=[pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)])
def db_backend(request: pytest.FixtureRequest) -> str:
    """Only PostgreSQL: it alone tells other processes of a change (SQLite has no NOTIFY)."""
    return str(request.param)


@dataclass(frozen=True)
class Staff:
    """Committed rows a test changes: a user and one of their tokens."""

    user_id: int
    token_id: int


@pytest.fixture
async def staff(real_database: Database, clock: FrozenClock) -> Staff:
    """A workspace, an agent and their token, committed."""
    settings = make_settings(real_database.engine.url.render_as_string(hide_password=False))
    async with real_database.unit_of_work() as session:
        workspace = await workspace_service.create_workspace(session, clock, slug="acme", name="Acme")
        user = await people_service.create_user(
            session,
            clock,
            workspace_id=workspace.id,
            email="pat@acme.example.com",
            name="Pat",
            role=Role.agent,
        )
        issued = await auth_service.create_personal_token(session, settings, clock, user=user, name="script")
    return Staff(user_id=user.id, token_id=issued.record.id)


@pytest.fixture
def cache() -> TokenCache:
    """The listener's cache, as another process's: the session events here do not reach it."""
    return TokenCache(hears_local_changes=False)


@pytest.fixture
async def listener(real_database: Database, cache: TokenCache) -> AsyncIterator[AuthChangeListener]:
    """A listener on the test's database, not yet started; stopped at the end of the test."""
    listener = AuthChangeListener(real_database.engine, cache, retry_seconds=RETRY_SECONDS)
    yield listener
    await listener.stop()


def _remember(cache: TokenCache, key: str = "hash-1") -> None:
    cache.put(
        key,
        CALLER,
        token_expires_at=None,
        now=FROZEN_AT,
        ttl=TTL,
        generation=cache.generation,
    )


def _listener_tasks() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == LISTENER_TASK and not task.done()]


async def _eventually(condition: Callable[[], bool]) -> None:
    """Wait until ``condition`` holds, looking every millisecond, for at most ``PATIENCE`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while loop.time() < deadline:
        if condition():
            return
        await asyncio.sleep(0.001)
    assert condition(), f"still not so after {PATIENCE} s"


async def _listening(listener: AuthChangeListener) -> None:
    await asyncio.wait_for(listener.listening.wait(), PATIENCE)


async def _listening_backends(engine: AsyncEngine) -> list[int]:
    """The server processes of the connections that listen on this database."""
    async with engine.connect() as connection:
        result = await connection.execute(
            text(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
            )
        )
        return [int(pid) for pid in result.scalars()]


async def _rename(database: Database, staff: Staff, name: str) -> None:
    async with database.unit_of_work() as session:
        user = await session.get(User, staff.user_id)
        assert user is not None
        user.name = name


async def _revoke(database: Database, staff: Staff, clock: FrozenClock) -> None:
    async with database.unit_of_work() as session:
        token = await session.get(ApiToken, staff.token_id)
        assert token is not None
        token.revoked_at = clock.now()


async def test_the_cache_is_off_until_the_listener_listens(
    listener: AuthChangeListener, cache: TokenCache
) -> None:
    _remember(cache, "from-before")

    listener.start()
    off = (cache.enabled, listener.listening.is_set())
    _remember(cache, "while-connecting")
    stored_while_connecting = cache.get("while-connecting", FROZEN_AT)
    await _listening(listener)

    assert off == (False, False)
    assert stored_while_connecting is None
    assert cache.enabled
    assert cache.get("from-before", FROZEN_AT) is None  # what changed while nobody listened is unknown
    _remember(cache)
    assert cache.get("hash-1", FROZEN_AT) == CALLER


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param("user", id="user-renamed"),
        pytest.param("token", id="token-revoked"),
    ],
)
async def test_a_change_committed_by_another_transaction_empties_the_cache(
    real_database: Database,
    staff: Staff,
    listener: AuthChangeListener,
    cache: TokenCache,
    clock: FrozenClock,
    changed: str,
) -> None:
    listener.start()
    await _listening(listener)
    _remember(cache)

    if changed == "user":
        await _rename(real_database, staff, "Pat Renamed")
    else:
        await _revoke(real_database, staff, clock)

    await _eventually(lambda: len(cache) == 0)
    assert cache.enabled
    _remember(cache)  # and it keeps caching afterwards
    assert len(cache) == 1


async def test_a_change_is_heard_when_it_commits_not_when_it_is_flushed(
    real_database: Database, staff: Staff, listener: AuthChangeListener, cache: TokenCache
) -> None:
    listener.start()
    await _listening(listener)
    _remember(cache)

    async with real_database.unit_of_work() as session:
        user = await session.get(User, staff.user_id)
        assert user is not None
        user.name = "Pat Renamed"
        await session.flush()
        await asyncio.sleep(QUIET)
        assert len(cache) == 1  # other processes may still read the old row: nothing to hear yet

    await _eventually(lambda: len(cache) == 0)


class _Abandoned(Exception):
    """Raised to roll a unit of work back."""


async def _deactivate_then_roll_back(database: Database, staff: Staff) -> None:
    async with database.unit_of_work() as session:
        user = await session.get(User, staff.user_id)
        assert user is not None
        user.is_active = False
        await session.flush()  # the UPDATE (and its NOTIFY) reach the server, then the transaction ends
        raise _Abandoned


async def test_a_change_that_is_rolled_back_is_heard_by_nobody(
    real_database: Database, staff: Staff, listener: AuthChangeListener, cache: TokenCache
) -> None:
    listener.start()
    await _listening(listener)
    _remember(cache)

    with pytest.raises(_Abandoned):
        await _deactivate_then_roll_back(real_database, staff)
    await asyncio.sleep(QUIET)

    assert cache.get("hash-1", FROZEN_AT) == CALLER
    await _rename(real_database, staff, "Pat Renamed")  # while a committed change is heard
    await _eventually(lambda: len(cache) == 0)


async def test_a_lost_connection_turns_the_cache_off_until_the_listener_is_back(
    real_database: Database, staff: Staff, listener: AuthChangeListener, cache: TokenCache
) -> None:
    listener.start()
    await _listening(listener)
    [lost_pid] = await _listening_backends(real_database.engine)
    _remember(cache)

    async with real_database.engine.connect() as connection:
        await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost_pid})
    await _eventually(lambda: not cache.enabled)

    assert len(cache) == 0
    _remember(cache)  # nothing is cached while nobody listens
    assert len(cache) == 0
    await _listening(listener)
    assert cache.enabled
    [new_pid] = await _listening_backends(real_database.engine)  # on a new connection
    assert new_pid != lost_pid
    _remember(cache)
    await _rename(real_database, staff, "Pat Renamed")  # and it hears changes again
    await _eventually(lambda: len(cache) == 0)


async def test_stop_ends_the_listener_and_leaves_the_cache_on(
    real_database: Database, listener: AuthChangeListener, cache: TokenCache
) -> None:
    listener.start()
    await _listening(listener)
    running = (len(_listener_tasks()), len(await _listening_backends(real_database.engine)))

    await asyncio.wait_for(listener.stop(), PATIENCE)

    assert running == (1, 1)
    assert _listener_tasks() == []
    assert await _listening_backends(real_database.engine) == []
    assert cache.enabled


async def test_an_app_that_owns_its_database_listens_while_it_runs(
    real_database: Database, clock: FrozenClock
) -> None:
    url = real_database.engine.url.render_as_string(hide_password=False)
    app = create_app(make_settings(url, scheduler="off", database_pool_size=2), clock=clock)
    process_tokens: TokenCache = app.state.token_cache

    async with app.router.lifespan_context(app):
        off_at_startup = process_tokens.enabled
        await _eventually(lambda: process_tokens.enabled)
        _remember(process_tokens)
        async with real_database.engine.connect() as connection:  # as another process would
            await connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
            await connection.commit()
        await _eventually(lambda: len(process_tokens) == 0)

    assert off_at_startup is False
    assert _listener_tasks() == []
    assert process_tokens.enabled


@pytest.mark.parametrize("db_backend", [pytest.param("sqlite", id="sqlite")])
async def test_on_sqlite_the_listener_does_nothing(engine: AsyncEngine, cache: TokenCache) -> None:
    listener = AuthChangeListener(engine, cache, retry_seconds=RETRY_SECONDS)

    listener.start()
    started = (cache.enabled, _listener_tasks())
    await asyncio.wait_for(listener.stop(), PATIENCE)

    assert started == (True, [])
    assert cache.enabled
