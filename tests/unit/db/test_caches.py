"""Revision caches: a value is served only at the revision it was built at, and a reset forgets all."""

from __future__ import annotations

from supportdesk.db.caches import CacheKey, Caches, RevisionCache

SETTINGS: CacheKey[str] = CacheKey("settings")
OTHER: CacheKey[str] = CacheKey("other")


def test_a_value_is_served_at_its_own_revision_only() -> None:
    cache = RevisionCache[str]()
    cache.put(7, revision=1, value="built at 1")

    assert cache.get(7, revision=1) == "built at 1"
    assert cache.get(7, revision=2) is None
    assert cache.get(8, revision=1) is None


def test_a_newer_value_replaces_the_older_one_of_its_workspace() -> None:
    cache = RevisionCache[str]()
    cache.put(7, revision=1, value="old")
    cache.put(7, revision=2, value="new")

    assert cache.get(7, revision=1) is None
    assert cache.get(7, revision=2) == "new"
    assert len(cache) == 1


def test_a_key_names_the_same_cache_each_time_and_different_keys_do_not_share() -> None:
    caches = Caches()
    caches.revision_cache(SETTINGS).put(1, 1, "mine")

    assert caches.revision_cache(SETTINGS).get(1, 1) == "mine"
    assert caches.revision_cache(OTHER).get(1, 1) is None


def test_clearing_empties_every_cache() -> None:
    caches = Caches()
    caches.revision_cache(SETTINGS).put(1, 1, "a")
    caches.revision_cache(OTHER).put(2, 1, "b")

    caches.clear()

    assert len(caches.revision_cache(SETTINGS)) == 0
    assert len(caches.revision_cache(OTHER)) == 0
