"""The object cache as operations see it (decision 0045): its counters on /metrics; shared through Redis
by two apps, each of which sees the other's changes at once; and a Redis that cannot be reached, which
costs the caching and nothing else."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import httpx
import pytest
from cashews import Cache
from cashews.exceptions import CacheBackendInteractionError
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk.app import bind_state, create_app
from supportdesk.auth import service as auth_service
from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.objects import object_cache_backend
from supportdesk.db.session import Database
from supportdesk.tickets.models import Ticket
from tests.factories.people import UserFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.database import make_settings
from tests.fixtures.objects import cache_counts
from tests.fixtures.services import service_missing

REDIS_URL = os.environ.get("SUPPORTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Nothing listens on port 1: every command is refused at once.
UNREACHABLE_URL = "redis://127.0.0.1:1/0"
# The queue name every key of this run's shared caches starts with; each test deletes its keys after it.
PREFIX = f"supportdesk-test-objects-{uuid.uuid4().hex}"


async def test_the_counters_are_on_metrics(agent_client: ApiClient, ticket_factory: TicketFactory) -> None:
    ticket = await ticket_factory()
    for _ in range(2):
        await agent_client.get(f"/api/v1/tickets/{ticket.id}")
    await agent_client.patch(f"/api/v1/tickets/{ticket.id}", json={"title": "Renamed"})

    text = (await agent_client.get("/metrics")).text

    assert 'supportdesk_object_cache_hits_total{kind="ticket"} 1.0' in text
    assert 'supportdesk_object_cache_misses_total{kind="ticket"} 1.0' in text
    assert 'supportdesk_object_cache_invalidations_total{kind="ticket"}' in text
    assert "# TYPE supportdesk_object_cache_errors_total counter" in text


@pytest.fixture
async def redis() -> AsyncIterator[Cache]:
    """A view of the test Redis server, to clean up what the apps stored; skipped without a server,
    except in CI, which must have one."""
    cache = object_cache_backend(REDIS_URL)
    try:
        await cache.ping()
    except CacheBackendInteractionError:
        await cache.close()
        service_missing(f"Redis is not reachable at {REDIS_URL}")
    yield cache
    await cache.delete_match(f"{PREFIX}:*")
    await cache.close()


ProcessFactory = Callable[[Settings, str], Awaitable[tuple[FastAPI, ApiClient]]]


@pytest.fixture
async def processes(
    engine: AsyncEngine,
    connection: AsyncConnection,
    clock: FrozenClock,
    user_factory: UserFactory,
    database: Database,
    wired_apps: dict[str, FastAPI],
) -> AsyncIterator[ProcessFactory]:
    """Apps standing for server processes: each with a database of its own (on the test's connection, so
    they see the same rows) and its own object cache, and a client acting as one agent."""
    agent = await user_factory(role=Role.agent)
    async with AsyncExitStack() as stack:

        async def start(settings: Settings, name: str) -> tuple[FastAPI, ApiClient]:
            # Wired once per configuration and name, as the app fixture does (bind_state says why).
            key = f"{name}:{settings.model_dump_json()}"
            own = Database(engine, connection=connection)
            app = wired_apps.get(key)
            if app is None:
                app = wired_apps[key] = create_app(settings, database=own, clock=clock)
            else:
                bind_state(app, settings, own, clock)
            cache = app.state.object_cache
            assert cache is not None
            stack.push_async_callback(cache.aclose)
            async with database.unit_of_work() as session:
                issued = await auth_service.create_personal_token(
                    session, settings, clock, user=agent, name=name
                )
            client = ApiClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://testserver",
                headers={"Authorization": f"Bearer {issued.secret}"},
            )
            client.user = agent
            await stack.enter_async_context(client)
            return app, client

        yield start


def _redis_settings(engine: AsyncEngine, url: str) -> Settings:
    return make_settings(
        engine.url.render_as_string(hide_password=False), object_cache_url=url, queue_name=PREFIX
    )


async def _title(client: ApiClient, ticket: Ticket) -> str:
    response = await client.get(f"/api/v1/tickets/{ticket.id}")
    assert response.status_code == 200, response.text
    return str(response.json()["title"])


async def test_two_processes_sharing_redis_see_each_others_changes_at_once(
    redis: Cache, processes: ProcessFactory, engine: AsyncEngine, ticket_factory: TicketFactory
) -> None:
    settings = _redis_settings(engine, REDIS_URL)
    first, first_client = await processes(settings, "first")
    second, second_client = await processes(settings, "second")
    ticket = await ticket_factory(title="As it was")

    read_by_first = await _title(first_client, ticket)
    read_by_second = await _title(second_client, ticket)  # what the first stored
    renamed = await first_client.patch(f"/api/v1/tickets/{ticket.id}", json={"title": "Renamed"})
    read_again = await _title(second_client, ticket)
    stored = [key async for key in redis.scan(f"{PREFIX}:*")]

    assert (read_by_first, read_by_second, renamed.status_code, read_again) == (
        "As it was",
        "As it was",
        200,
        "Renamed",
    )
    assert cache_counts(first, "ticket")["misses"] == 1
    assert cache_counts(second, "ticket")["hits"] == 1
    assert cache_counts(first, "ticket")["invalidations"] == 1
    # The key names the installation, the kind, the workspace and the id.
    assert f"{PREFIX}:objects:ticket:{ticket.workspace_id}:{ticket.id}" in stored


async def test_an_unreachable_redis_costs_only_the_caching(
    processes: ProcessFactory, engine: AsyncEngine, ticket_factory: TicketFactory
) -> None:
    app, client = await processes(_redis_settings(engine, UNREACHABLE_URL), "alone")
    ticket = await ticket_factory(title="As it was")

    titles = [await _title(client, ticket) for _ in range(2)]
    renamed = await client.patch(f"/api/v1/tickets/{ticket.id}", json={"title": "Renamed"})
    title_after = await _title(client, ticket)
    metrics = (await client.get("/metrics")).text

    assert (titles, renamed.status_code, title_after) == (["As it was"] * 2, 200, "Renamed")
    registry = app.state.metrics.registry
    errors = {
        operation: registry.get_sample_value(
            "supportdesk_object_cache_errors_total", {"kind": "ticket", "operation": operation}
        )
        for operation in ("read", "forget")
    }
    # The first read failed, and the backend was left alone for the reads after it; the forget of the
    # change was tried all the same.
    assert errors == {"read": 1.0, "forget": 1.0}
    assert 'supportdesk_object_cache_errors_total{kind="ticket",operation="read"} 1.0' in metrics
