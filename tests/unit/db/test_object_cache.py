"""The object cache on its own, in memory: hits and misses, forgetting, the races it guards against, and
when there is none at all (decision 0045)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from cashews import Cache
from prometheus_client import CollectorRegistry

from supportdesk.config import Settings
from supportdesk.db.objects import (
    HOLD_SECONDS,
    ObjectCache,
    ObjectKey,
    ObjectKind,
    build_object_cache,
    object_cache_backend,
)
from tests.fixtures.database import make_settings


@dataclass(slots=True)
class Thing:
    id: int
    name: str
    tags: list[str]
    seen_at: datetime | None


THINGS = ObjectKind("thing", Thing)
WORKSPACE = 7
AT = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)


class Store:
    """What a database would answer, and how often it was asked."""

    def __init__(self, name: str = "first") -> None:
        self.name = name
        self.reads = 0

    async def load(self) -> Thing | None:
        self.reads += 1
        return Thing(1, self.name, ["b", "a"], AT)


def _cache(
    backend: Cache | None = None, *, hold_seconds: float = 0.0
) -> tuple[ObjectCache, CollectorRegistry]:
    registry = CollectorRegistry()
    backend = backend or object_cache_backend("mem://")
    cache = ObjectCache(backend, ttl_seconds=60, registry=registry, hold_seconds=hold_seconds)
    return cache, registry


def _count(registry: CollectorRegistry, name: str) -> float:
    return registry.get_sample_value(f"supportdesk_object_cache_{name}_total", {"kind": "thing"}) or 0.0


async def test_an_object_is_read_once_then_answered_from_the_cache_as_it_was() -> None:
    cache, registry = _cache()
    store = Store()

    first = await cache.read(THINGS, WORKSPACE, 1, store.load)
    second = await cache.read(THINGS, WORKSPACE, 1, store.load)

    assert first == second == Thing(1, "first", ["b", "a"], AT)
    assert second is not first
    assert store.reads == 1
    assert (_count(registry, "hits"), _count(registry, "misses")) == (1, 1)


async def test_what_is_not_found_is_not_kept() -> None:
    cache, registry = _cache()
    reads = 0

    async def nothing() -> Thing | None:
        nonlocal reads
        reads += 1
        return None

    assert await cache.read(THINGS, WORKSPACE, 1, nothing) is None
    assert await cache.read(THINGS, WORKSPACE, 1, nothing) is None
    assert reads == 2
    assert _count(registry, "misses") == 2


async def test_workspaces_and_ids_are_apart() -> None:
    cache, _ = _cache()
    store = Store()

    await cache.read(THINGS, WORKSPACE, 1, store.load)
    await cache.read(THINGS, WORKSPACE + 1, 1, store.load)
    await cache.read(THINGS, WORKSPACE, 2, store.load)

    assert store.reads == 3


async def test_a_forgotten_object_is_read_again_and_counted() -> None:
    cache, registry = _cache()
    store = Store()
    await cache.read(THINGS, WORKSPACE, 1, store.load)

    task = cache.invalidate([ObjectKey("thing", WORKSPACE, 1)])
    assert task is not None
    await task
    store.name = "second"

    assert (await cache.read(THINGS, WORKSPACE, 1, store.load)) == Thing(1, "second", ["b", "a"], AT)
    assert store.reads == 2
    assert _count(registry, "invalidations") == 1


async def test_a_read_that_raced_a_commit_of_this_process_does_not_store_what_it_read() -> None:
    # No tombstone in a cache of one process: only the generation tells that the read is older.
    cache, _ = _cache()
    store = Store()

    async def read_then_commit_elsewhere() -> Thing | None:
        found = await store.load()
        task = cache.invalidate([ObjectKey("thing", WORKSPACE, 1)])
        assert task is not None
        await task
        return found

    await cache.read(THINGS, WORKSPACE, 1, read_then_commit_elsewhere)
    store.name = "second"

    assert (await cache.read(THINGS, WORKSPACE, 1, store.load)).name == "second"  # type: ignore[union-attr]


async def test_a_read_of_another_process_that_raced_a_commit_finds_the_tombstone() -> None:
    # Two processes sharing one backend: the writer's generations are not the reader's.
    backend = object_cache_backend("mem://")
    writer, _ = _cache(backend, hold_seconds=HOLD_SECONDS)
    reader, _ = _cache(backend, hold_seconds=HOLD_SECONDS)
    store = Store()

    async def read_then_commit_elsewhere() -> Thing | None:
        found = await store.load()
        task = writer.invalidate([ObjectKey("thing", WORKSPACE, 1)])
        assert task is not None
        await task
        return found

    await reader.read(THINGS, WORKSPACE, 1, read_then_commit_elsewhere)
    store.name = "second"

    assert (await reader.read(THINGS, WORKSPACE, 1, store.load)).name == "second"  # type: ignore[union-attr]
    assert store.reads == 2


async def test_after_the_hold_the_object_is_cached_again() -> None:
    cache, _ = _cache(hold_seconds=0.01)
    store = Store()
    await cache.read(THINGS, WORKSPACE, 1, store.load)
    task = cache.invalidate([ObjectKey("thing", WORKSPACE, 1)])
    assert task is not None
    await task

    await cache.read(THINGS, WORKSPACE, 1, store.load)  # within the hold: read, not stored
    await asyncio.sleep(0.02)
    await cache.read(THINGS, WORKSPACE, 1, store.load)  # stored
    await cache.read(THINGS, WORKSPACE, 1, store.load)  # answered

    assert store.reads == 3


async def test_a_record_in_another_shape_is_a_miss() -> None:
    backend = object_cache_backend("mem://")
    cache, registry = _cache(backend)
    await backend.set("supportdesk:objects:thing:7:1", {"id": 1, "label": "written by another release"})
    store = Store()

    assert (await cache.read(THINGS, WORKSPACE, 1, store.load)) == Thing(1, "first", ["b", "a"], AT)
    assert (_count(registry, "hits"), _count(registry, "misses")) == (0, 1)


async def test_a_commit_outside_an_event_loop_still_keeps_reads_under_way_from_storing() -> None:
    cache, _ = _cache()
    store = Store()

    async def read_then_commit_in_a_thread() -> Thing | None:
        found = await store.load()
        # A synchronous tool's commit: no loop to tell the backend in, but the generation moves.
        assert await asyncio.to_thread(cache.invalidate, [ObjectKey("thing", WORKSPACE, 1)]) is None
        return found

    await cache.read(THINGS, WORKSPACE, 1, read_then_commit_in_a_thread)
    await cache.read(THINGS, WORKSPACE, 1, store.load)

    assert store.reads == 2


def test_no_time_is_no_cache() -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        ObjectCache(Cache(), ttl_seconds=0)


def _settings(**values: object) -> Settings:
    return make_settings(database_url="sqlite+aiosqlite:///:memory:", **values)


@pytest.mark.parametrize(
    ("values", "shared_only", "expected"),
    [
        pytest.param({}, False, True, id="memory-by-default"),
        pytest.param({"object_cache_seconds": 0}, False, False, id="off-with-no-time"),
        pytest.param({"workers": 2}, False, False, id="memory-off-with-several-workers"),
        pytest.param({"background": "off"}, False, False, id="memory-off-beside-a-worker-process"),
        pytest.param({}, True, False, id="no-memory-for-a-worker-or-command"),
        pytest.param(
            {"object_cache_url": "redis://cache.internal:6379/1", "workers": 4},
            False,
            True,
            id="redis-shared",
        ),
        pytest.param(
            {"object_cache_url": "redis://cache.internal:6379/1"}, True, True, id="redis-for-a-worker-too"
        ),
        pytest.param(
            {"object_cache_url": "redis://cache.internal:6379/1", "object_cache_seconds": 0},
            True,
            False,
            id="redis-off-with-no-time",
        ),
    ],
)
async def test_which_processes_get_a_cache(
    values: dict[str, object], shared_only: bool, expected: bool
) -> None:
    cache = build_object_cache(_settings(**values), shared_only=shared_only)

    assert (cache is not None) is expected
    if cache is not None:
        await cache.aclose()
