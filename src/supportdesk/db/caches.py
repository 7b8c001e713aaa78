"""What a process keeps in memory per database: configuration built from rows, valid while its revision holds.

A :class:`Database` owns one :class:`Caches`, and every session it makes carries it in ``session.info``,
so a service finds the cache of the database it is working on without a module global. Two databases in
one process (two tests, or a tool copying between databases) never see each other's entries, and
``Caches.clear()`` is the one reset for all of them.

An entry belongs to a workspace and names the revision of the workspace's configuration it was built at
(see :mod:`supportdesk.workspaces.revisions`); a reader that finds another revision builds the value again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

T = TypeVar("T")

SESSION_KEY = "caches"


@dataclass(frozen=True, slots=True)
class CacheKey(Generic[T]):
    """Names one kind of cached value; its type parameter is the type of the values."""

    name: str


class RevisionCache(Generic[T]):
    """Workspace id → the value built at one revision of that workspace's configuration."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[int, T]] = {}

    def get(self, workspace_id: int, revision: int) -> T | None:
        """The value built at ``revision``, or ``None`` when there is none or it is stale."""
        entry = self._entries.get(workspace_id)
        if entry is None or entry[0] != revision:
            return None
        return entry[1]

    def put(self, workspace_id: int, revision: int, value: T) -> None:
        """Remember ``value`` as built at ``revision``, replacing what was kept for the workspace."""
        self._entries[workspace_id] = (revision, value)

    def clear(self) -> None:
        """Forget every workspace's value."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class Caches:
    """Every revision cache of one database, made on first use."""

    def __init__(self) -> None:
        self._by_name: dict[str, RevisionCache[Any]] = {}

    def revision_cache(self, key: CacheKey[T]) -> RevisionCache[T]:
        """The cache named by ``key``."""
        cache = self._by_name.get(key.name)
        if cache is None:
            cache = self._by_name[key.name] = RevisionCache()
        return cast(RevisionCache[T], cache)

    def clear(self) -> None:
        """Empty every cache: what is read next is built from the database again."""
        for cache in self._by_name.values():
            cache.clear()


def caches_of(session: AsyncSession | Session) -> Caches:
    """The caches of the database ``session`` came from.

    An asynchronous session keeps its ``info`` on its synchronous one, so code running inside a flush
    finds the same caches. A session made some other way (a script binding its own sessionmaker) gets an
    empty set of its own, kept for the session's life: correct, only without reuse across units of work.
    """
    info = session.info
    caches = info.get(SESSION_KEY)
    if caches is None:
        caches = info[SESSION_KEY] = Caches()
    return cast(Caches, caches)
