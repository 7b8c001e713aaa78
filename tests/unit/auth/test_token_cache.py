"""The token cache: an entry lives for the cache time and never past its token's expiry, a lookup that
raced an invalidation stores nothing, and the cache stays bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from supportdesk.auth.token_cache import Caller, TokenCache, clear_all
from supportdesk.core.permissions import Role

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TTL = timedelta(seconds=5)
AGENT = Caller(id=7, workspace_id=3, role=Role.agent, email="pat@acme.example.com", name="Pat")


def _remember(
    cache: TokenCache,
    key: str = "hash-1",
    *,
    expires_at: datetime | None = None,
    ttl: timedelta = TTL,
    generation: int | None = None,
) -> None:
    cache.put(
        key,
        AGENT,
        token_expires_at=expires_at,
        now=NOW,
        ttl=ttl,
        generation=cache.generation if generation is None else generation,
    )


@pytest.mark.parametrize(
    ("elapsed", "cached"),
    [
        pytest.param(timedelta(0), True, id="at-once"),
        pytest.param(TTL - timedelta(microseconds=1), True, id="just-before-the-cache-time"),
        pytest.param(TTL, False, id="at-the-cache-time"),
        pytest.param(TTL + timedelta(hours=1), False, id="long-after"),
    ],
)
def test_a_caller_is_remembered_for_the_cache_time_and_not_after(elapsed: timedelta, cached: bool) -> None:
    cache = TokenCache()
    _remember(cache)

    found = cache.get("hash-1", NOW + elapsed)

    assert found == (AGENT if cached else None)
    assert len(cache) == (1 if cached else 0)  # what is too old is dropped, not kept


def test_an_unknown_token_is_not_found() -> None:
    cache = TokenCache()
    _remember(cache, "hash-1")

    assert cache.get("hash-2", NOW) is None


@pytest.mark.parametrize(
    ("elapsed", "cached"),
    [
        pytest.param(timedelta(seconds=2) - timedelta(microseconds=1), True, id="just-before-expiry"),
        pytest.param(timedelta(seconds=2), False, id="at-expiry"),
        pytest.param(timedelta(seconds=3), False, id="after-expiry"),
    ],
)
def test_an_entry_ends_with_its_tokens_expiry_even_within_the_cache_time(
    elapsed: timedelta, cached: bool
) -> None:
    cache = TokenCache()
    _remember(cache, expires_at=NOW + timedelta(seconds=2), ttl=timedelta(seconds=60))

    assert cache.get("hash-1", NOW + elapsed) == (AGENT if cached else None)


def test_a_lookup_that_began_before_a_clear_stores_nothing() -> None:
    cache = TokenCache()
    noted = cache.generation  # the lookup notes the generation, then reads the database ...
    cache.clear()  # ... while a revocation empties the cache

    _remember(cache, generation=noted)

    assert len(cache) == 0
    assert cache.get("hash-1", NOW) is None
    _remember(cache, generation=cache.generation)  # a lookup that began after the clear is stored
    assert cache.get("hash-1", NOW) == AGENT


def test_clear_forgets_every_entry_and_moves_the_generation_on() -> None:
    cache = TokenCache()
    _remember(cache, "hash-1")
    _remember(cache, "hash-2")
    before = cache.generation

    cache.clear()

    assert len(cache) == 0
    assert cache.generation > before
    assert (cache.get("hash-1", NOW), cache.get("hash-2", NOW)) == (None, None)


@pytest.mark.parametrize(
    ("enabled", "ttl"),
    [
        pytest.param(False, TTL, id="cache-off"),
        pytest.param(True, timedelta(0), id="no-cache-time"),
    ],
)
def test_nothing_is_stored_while_off_or_without_a_cache_time(enabled: bool, ttl: timedelta) -> None:
    cache = TokenCache()
    cache.enabled = enabled

    _remember(cache, ttl=ttl)

    assert len(cache) == 0
    assert cache.get("hash-1", NOW) is None


def test_the_cache_never_holds_more_than_its_bound() -> None:
    cache = TokenCache(max_entries=3)

    sizes = []
    for number in range(10):
        _remember(cache, f"hash-{number}")
        sizes.append(len(cache))

    assert max(sizes) == 3
    assert cache.get("hash-9", NOW) == AGENT  # the newest entry is always kept


def test_nothing_is_served_while_off_even_what_was_stored_before() -> None:
    cache = TokenCache()
    _remember(cache)

    cache.enabled = False

    assert cache.get("hash-1", NOW) is None


def test_a_change_in_this_process_empties_every_cache_that_hears_of_it() -> None:
    app_cache, process_cache = TokenCache(), TokenCache()
    other_process = TokenCache(hears_local_changes=False)
    for cache in (app_cache, process_cache, other_process):
        _remember(cache)

    clear_all()

    assert app_cache.get("hash-1", NOW) is None
    assert process_cache.get("hash-1", NOW) is None
    assert other_process.get("hash-1", NOW) == AGENT
