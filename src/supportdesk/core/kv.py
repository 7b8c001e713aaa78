"""Caches of our own on cashews, in this process's memory (``mem://``) or in Redis (``redis://``).

The CRM's answers and the object cache each keep a cache of their own, never cashews' module-wide one,
set up the same way:

- entries are JSON, not the pickles cashews uses for Redis by default: what another process wrote is
  read as data and never run as code, and both backends keep entries in the same form;
- in memory, room for :data:`MEMORY_ENTRIES` entries (cashews keeps 1,000 unless told), and no sweep
  of expired entries every second (cashews' default), which decodes every entry to find the expired
  ones: an expired entry is dropped when it is read, and the size bounds the rest.

Options given in the URL win over these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cashews import Cache
from cashews.picklers import PicklerType

MEMORY_ENTRIES = 10_000
MEMORY_OPTIONS: Mapping[str, Any] = {"size": MEMORY_ENTRIES, "check_interval": 0}


def cache_at(name: str, url: str, *, redis_options: Mapping[str, Any] | None = None) -> Cache:
    """A cache named ``name`` at ``url``; ``redis_options`` are the defaults for a Redis one. Two caches
    made here never share entries unless they share a Redis."""
    cache = Cache(name=name)
    parts = urlsplit(url)
    defaults = MEMORY_OPTIONS if parts.scheme == "mem" else (redis_options or {})
    given = parse_qs(parts.query)
    options: dict[str, Any] = {"pickle_type": PicklerType.JSON}
    options |= {option: value for option, value in defaults.items() if option not in given}
    cache.setup(url, **options)
    return cache
