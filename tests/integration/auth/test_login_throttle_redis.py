"""Login throttling on a real Redis server: every process that names it shares the counters."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from limits.aio.storage import MemoryStorage, RedisStorage

from supportdesk.app import create_app
from supportdesk.auth.throttle import LoginThrottle, storage_for
from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from tests.factories.people import UserFactory
from tests.fixtures.services import service_missing

REDIS_URL = os.environ.get("SUPPORTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LOGIN = "/api/v1/auth/login"
PASSWORD = "a-long-password"


@pytest.fixture
async def redis_settings(settings: Settings) -> Settings:
    """Settings naming the test Redis server; skipped without one, except in CI, which must have it."""
    redis_settings = settings.model_copy(
        update={"rate_limit_storage_url": REDIS_URL, "login_failures_per_account": "2/15 minutes"}
    )
    probe = LoginThrottle(redis_settings, storage=storage_for(redis_settings, key_prefix="probe"))
    reachable = await probe.storage.check()
    await probe.aclose()
    if not reachable:
        service_missing(f"Redis is not reachable at {REDIS_URL}")
    return redis_settings


@pytest.fixture
async def shared_throttles(redis_settings: Settings) -> AsyncIterator[tuple[LoginThrottle, LoginThrottle]]:
    """Two throttles, as two server processes would have, on one Redis under a prefix of this test's own."""
    prefix = f"supportdesk-test-{uuid.uuid4().hex}"
    throttles = (
        LoginThrottle(redis_settings, storage=storage_for(redis_settings, key_prefix=prefix)),
        LoginThrottle(redis_settings, storage=storage_for(redis_settings, key_prefix=prefix)),
    )
    yield throttles
    await throttles[0].reset()
    for throttle in throttles:
        await throttle.aclose()


def _app(settings: Settings, database: Database, clock: FrozenClock, throttle: LoginThrottle) -> FastAPI:
    app = create_app(settings, database=database, clock=clock)
    app.state.login_throttle = throttle
    return app


async def test_the_storage_follows_the_setting(settings: Settings, redis_settings: Settings) -> None:
    in_memory = LoginThrottle(settings)
    in_redis = LoginThrottle(redis_settings)

    assert isinstance(in_memory.storage, MemoryStorage)
    assert isinstance(in_redis.storage, RedisStorage)
    await in_redis.aclose()


async def test_failures_counted_by_one_process_throttle_the_other(
    redis_settings: Settings,
    shared_throttles: tuple[LoginThrottle, LoginThrottle],
    database: Database,
    clock: FrozenClock,
    user_factory: UserFactory,
) -> None:
    user = await user_factory(role=Role.agent, email="kim@acme.example.com", password=PASSWORD)
    first, second = (_app(redis_settings, database, clock, throttle) for throttle in shared_throttles)
    wrong = {"email": user.email, "password": "not-the-password"}

    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a") as one,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b") as other,
    ):
        assert (await one.post(LOGIN, json=wrong)).status_code == 401
        assert (await other.post(LOGIN, json=wrong)).status_code == 401
        refused = await one.post(LOGIN, json={"email": user.email, "password": PASSWORD})
        await shared_throttles[1].reset()
        after_reset = await other.post(LOGIN, json={"email": user.email, "password": PASSWORD})

    assert refused.status_code == 429
    assert refused.json()["code"] == "too-many-requests"
    assert 1 <= int(refused.headers["retry-after"]) <= 15 * 60
    assert after_reset.status_code == 200, after_reset.text


async def test_an_unreachable_redis_is_a_503(
    settings: Settings, database: Database, clock: FrozenClock
) -> None:
    unreachable = settings.model_copy(update={"rate_limit_storage_url": "redis://127.0.0.1:1/0"})
    throttle = LoginThrottle(unreachable)
    app = _app(unreachable, database, clock, throttle)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as client:
        response = await client.post(LOGIN, json={"email": "kim@acme.example.com", "password": PASSWORD})
    await throttle.aclose()

    assert response.status_code == 503
    assert response.json()["code"] == "service-unavailable"
    assert int(response.headers["retry-after"]) > 0
