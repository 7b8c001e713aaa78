"""Read-through caches of hot objects: a ticket, a customer, a staff member, read by id (decision 0045).

A reader asks :func:`read_through` for an object of its session's workspace. The cache answers with a
record (JSON, never a pickle) when it has one; otherwise the reader's own query runs and its result is
kept for ``SUPPORTDESK_OBJECT_CACHE_SECONDS``, in the process's memory (``mem://``) or in Redis, shared by
every process. What makes an answer from the cache as good as one from the database:

- **Forgotten when a change commits.** Models name the cached object their rows belong to
  (``__object_cache__``: a ticket's tag rows belong to the ticket). A flush that writes such a row notes
  the object's key in the session; a statement that changes rows below the ORM notes them itself
  (:func:`note_changed`). When the unit of work commits, the keys are forgotten, and the two commit
  boundaries (the request's and :meth:`Database.unit_of_work`) wait for that (:func:`settle`) before
  anything is answered. A rollback forgets nothing: nothing changed.
- **Never from the cache inside a change.** A transaction that changed an object reads it from the
  database until it ends, since the cache holds the committed state.
- **No stale record stored by a slow reader.** A reader notes the generation of its key before it
  queries and stores only if no commit in this process forgot the key meanwhile. Another process's
  commit cannot move that number, so in a shared cache a forgotten key is held by a short-lived
  tombstone instead, and readers store only where there is nothing (``SET NX``): a reader of another
  process that queried before the commit and stores within the hold finds the tombstone. What is left
  (a reader slower than the hold, a forget lost with Redis or with its process) lasts at most the cache
  time.
- **The workspace is part of every key**, and comes from the session's tenancy scope: an object is only
  ever served to a session of its own workspace, and an unscoped session reads past the cache.

The cache only saves reads: when its backend cannot be reached the database answers, an error is
counted, and the backend is left alone for a few seconds.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar
from urllib.parse import urlsplit

from cashews import Cache
from cashews.exceptions import CacheBackendInteractionError
from prometheus_client import CollectorRegistry, Counter
from pydantic import TypeAdapter, ValidationError
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session, object_session

from supportdesk.config import Settings
from supportdesk.core.kv import cache_at
from supportdesk.db.base import Base
from supportdesk.db.tenancy import current_workspace_id

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_log = logging.getLogger("supportdesk.objects")

T = TypeVar("T", bound="DataclassInstance")

# session.info keys: the database's slot, the keys changed in the current transaction, and the forgets
# under way since the last commit.
SLOT_KEY = "object_cache"
_CHANGED = "objects_changed"
_FORGETTING = "objects_forgetting"

# What a forgotten key holds in a shared cache while the change is fresh (JSON false: no record is).
TOMBSTONE = False
# How long a tombstone stands: longer than a reader takes from its query to storing what it read,
# short enough that a ticket edited a moment ago is soon answered from the cache again. A memory cache
# needs none: every commit that could change its objects is this process's, and moves the generation.
HOLD_SECONDS = 5.0
# How long the backend is left alone after it failed, so that a Redis that does not answer costs a
# timeout every few seconds rather than on every read.
RETRY_SECONDS = 5.0
# Generations are kept per stripe of keys, not per key: bounded memory, and a commit that forgets one
# key costs the readers of another only when both fall in one stripe.
STRIPES = 4096
# What a backend that cannot be reached raises: cashews wraps single commands, not its pipelines.
_BACKEND_ERRORS = (CacheBackendInteractionError, RedisError, OSError)
# A Redis that is down or slow must cost little: a read waits this long at most, then the database
# answers. Values given in the URL win.
REDIS_OPTIONS: Mapping[str, Any] = {
    "socket_connect_timeout": 0.5,
    "socket_timeout": 0.5,
    "wait_for_connection_timeout": 0.5,
}


class ObjectKey(NamedTuple):
    """One cached object: its kind (a model's ``__object_cache__`` name), workspace and id."""

    kind: str
    workspace_id: int
    object_id: int


class ObjectKind(Generic[T]):
    """One kind of cached object: its name, which models name in ``__object_cache__`` and the counters
    carry as their label, and the dataclass its records hold."""

    def __init__(self, name: str, snapshot: type[T]) -> None:
        self.name = name
        self.snapshot = snapshot

    @functools.cached_property
    def _adapter(self) -> TypeAdapter[T]:
        # Built on first use: the dataclass's annotations name types of the module that defines it.
        return TypeAdapter(self.snapshot)

    def record(self, value: T) -> dict[str, Any]:
        """``value`` as the cache keeps it: JSON types only."""
        record: dict[str, Any] = self._adapter.dump_python(value, mode="json")
        return record

    def from_record(self, record: object) -> T | None:
        """The object a record holds; ``None`` for anything else (a record another release wrote in
        another shape, say), which is then treated as missing."""
        if not isinstance(record, dict):
            return None
        try:
            return self._adapter.validate_python(record)
        except ValidationError:
            return None


class ObjectCache:
    """Records of objects by kind, workspace and id, behind a cashews cache of its own; never raises for
    its backend's trouble. Counters (hits, misses, invalidations, errors, by kind) go to ``registry``."""

    def __init__(
        self,
        cache: Cache,
        *,
        ttl_seconds: float,
        key_prefix: str = "supportdesk:objects:",
        registry: CollectorRegistry | None = None,
        hold_seconds: float = 0.0,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive (no cache is how a cache is turned off)")
        self._cache = cache
        self._ttl = ttl_seconds
        self._hold = min(hold_seconds, ttl_seconds)
        self._retry = retry_seconds
        self._prefix = key_prefix
        self._generations = [0] * STRIPES
        self._resting_until = 0.0
        # Forgets run as tasks, so that a commit nobody waits for (a script's) is forgotten all the same.
        self._forgetting: set[asyncio.Task[None]] = set()
        registry = registry if registry is not None else CollectorRegistry()
        self.hits = Counter(
            "supportdesk_object_cache_hits",
            "Objects read by id that the object cache answered",
            ["kind"],
            registry=registry,
        )
        self.misses = Counter(
            "supportdesk_object_cache_misses",
            "Objects read by id that the object cache did not have, read from the database",
            ["kind"],
            registry=registry,
        )
        self.invalidations = Counter(
            "supportdesk_object_cache_invalidations",
            "Objects forgotten by the object cache because a change to them committed",
            ["kind"],
            registry=registry,
        )
        self.errors = Counter(
            "supportdesk_object_cache_errors",
            "Object cache operations its backend could not carry out (the database answered instead)",
            ["kind", "operation"],
            registry=registry,
        )

    def _key(self, kind: str, workspace_id: int, object_id: int) -> str:
        return f"{self._prefix}{kind}:{workspace_id}:{object_id}"

    async def read(
        self,
        kind: ObjectKind[T],
        workspace_id: int,
        object_id: int,
        load: Callable[[], Awaitable[T | None]],
    ) -> T | None:
        """The object from the cache, else from ``load`` (kept for next time unless a change of it
        committed meanwhile); ``None`` when ``load`` finds nothing, which is not kept."""
        key = self._key(kind.name, workspace_id, object_id)
        value = kind.from_record(await self._get(key, kind.name))
        if value is not None:
            self.hits.labels(kind.name).inc()
            return value
        self.misses.labels(kind.name).inc()
        stripe = hash(key) % STRIPES
        generation = self._generations[stripe]
        value = await load()
        if value is not None and generation == self._generations[stripe]:
            await self._store(key, kind, value)
        return value

    def invalidate(self, keys: Collection[ObjectKey]) -> asyncio.Task[None] | None:
        """Forget ``keys``, whose change has just committed: reads already under way will not store
        what they read, and the backend is told in a task (returned, to be awaited; ``None`` outside
        an event loop, where nothing can be cached either)."""
        names = []
        for kind, workspace_id, object_id in keys:
            name = self._key(kind, workspace_id, object_id)
            self._generations[hash(name) % STRIPES] += 1
            self.invalidations.labels(kind).inc()
            names.append(name)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        task = loop.create_task(self._forget(names, {key.kind for key in keys}))
        self._forgetting.add(task)
        task.add_done_callback(self._forgetting.discard)
        return task

    async def drain(self) -> None:
        """Wait for the forgets under way (a process that is stopping, and tests)."""
        while self._forgetting:
            await asyncio.gather(*self._forgetting)

    async def aclose(self) -> None:
        """Finish the forgets under way, then close the backend's connections."""
        await self.drain()
        await self._cache.close()

    async def _get(self, key: str, kind: str) -> object:
        if self._resting():
            return None
        try:
            return await self._cache.get(key)
        except _BACKEND_ERRORS:
            self._failed(kind, "read")
        except ValueError:
            # An entry that is not JSON was not written by us: a miss, which ends with its TTL.
            _log.debug("an object cache entry could not be read: %s", key)
        return None

    async def _store(self, key: str, kind: ObjectKind[T], value: T) -> None:
        if self._resting():
            return
        try:
            # Only where there is nothing: a tombstone means a change committed since this was read.
            await self._cache.set(key, kind.record(value), expire=self._ttl, exist=False)
        except _BACKEND_ERRORS:
            self._failed(kind.name, "store")

    async def _forget(self, names: list[str], kinds: set[str]) -> None:
        try:
            if self._hold > 0:
                await self._cache.set_many(dict.fromkeys(names, TOMBSTONE), expire=self._hold)
            else:
                await self._cache.delete_many(*names)
        except _BACKEND_ERRORS:
            # Tried whether or not the backend is resting: a forget that gets through matters.
            for kind in kinds:
                self._failed(kind, "forget")

    def _resting(self) -> bool:
        return time.monotonic() < self._resting_until

    def _failed(self, kind: str, operation: str) -> None:
        self.errors.labels(kind, operation).inc()
        if not self._resting():
            _log.warning(
                "the object cache could not %s; reading from the database for %g s", operation, self._retry
            )
        self._resting_until = time.monotonic() + self._retry


def object_cache_backend(url: str) -> Cache:
    """A cashews cache of its own at ``url``: ``mem://`` (this process) or ``redis://`` (shared), set up
    as every cache of ours is (:mod:`supportdesk.core.kv`). Backend errors are raised (suppress=False),
    so that they are counted rather than logged by cashews."""
    return cache_at("objects", url, redis_options={**REDIS_OPTIONS, "suppress": False})


def build_object_cache(
    settings: Settings, *, registry: CollectorRegistry | None = None, shared_only: bool = False
) -> ObjectCache | None:
    """The object cache the settings describe, or ``None`` where there must be none.

    None with ``SUPPORTDESK_OBJECT_CACHE_SECONDS=0``. None as well for a memory cache where other
    processes change the same database (several server workers, or the background run by
    ``supportdesk worker``): their commits could not reach it. And none but a shared one for a process
    that only writes (``shared_only``: a worker, a command), whose memory nobody would read.
    Keys start with ``SUPPORTDESK_QUEUE_NAME``, so installations sharing a Redis never mix.
    """
    if settings.object_cache_seconds <= 0:
        return None
    in_memory = urlsplit(settings.object_cache_url).scheme == "mem"
    if in_memory:
        if shared_only:
            return None
        if settings.workers > 1 or settings.background == "off":
            _log.warning(
                "the object cache is off: a memory cache cannot hear of changes made by other processes "
                "(SUPPORTDESK_WORKERS > 1 or SUPPORTDESK_BACKGROUND=off); set "
                "SUPPORTDESK_OBJECT_CACHE_URL to a Redis server to share one"
            )
            return None
    return ObjectCache(
        object_cache_backend(settings.object_cache_url),
        ttl_seconds=settings.object_cache_seconds,
        key_prefix=f"{settings.queue_name}:objects:",
        registry=registry,
        hold_seconds=0.0 if in_memory else HOLD_SECONDS,
    )


class ObjectCacheSlot:
    """Which object cache a database's sessions read through and forget in: none until a process that
    has one plugs it in (the app, or a worker or a command when the cache is shared)."""

    def __init__(self) -> None:
        self.cache: ObjectCache | None = None


def _cache_of(session: AsyncSession | Session) -> ObjectCache | None:
    slot = session.info.get(SLOT_KEY)
    return slot.cache if isinstance(slot, ObjectCacheSlot) else None


async def read_through(
    session: AsyncSession,
    kind: ObjectKind[T],
    object_id: int,
    load: Callable[[], Awaitable[T | None]],
) -> T | None:
    """The object of ``kind`` with ``object_id`` in the session's workspace, from the cache or ``load``.

    ``load`` is the reader's query, scoped by the session as every ORM statement is; the cache's key takes
    the workspace from the same scope. The cache is passed by an unscoped session (whose ``load`` could
    find another workspace's object), and for an object this transaction has changed.
    """
    cache = _cache_of(session)
    workspace_id = current_workspace_id(session.sync_session)
    if cache is None or workspace_id is None:
        return await load()
    changed: set[ObjectKey] = session.info.get(_CHANGED, set())
    if ObjectKey(kind.name, workspace_id, object_id) in changed:
        return await load()
    return await cache.read(kind, workspace_id, object_id, load)


def note_changed(
    session: AsyncSession | Session, kind: str, workspace_id: int, object_ids: Iterable[int]
) -> None:
    """Have objects changed by a statement below the ORM, which the flush does not see, forgotten when
    the transaction commits."""
    changed: set[ObjectKey] = session.info.setdefault(_CHANGED, set())
    changed.update(ObjectKey(kind, workspace_id, object_id) for object_id in object_ids)


async def settle(session: AsyncSession) -> None:
    """Wait until what the session's last commit changed is forgotten. The commit boundaries call it, so
    that no answer tells of a change that a read from the cache would not show yet."""
    forgetting: list[asyncio.Task[None]] | None = session.info.pop(_FORGETTING, None)
    if forgetting:
        await asyncio.gather(*forgetting)


def _note_row(_mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    kind_and_id: tuple[str, str] | None = getattr(type(target), "__object_cache__", None)
    if kind_and_id is None:
        return
    session = object_session(target)
    if session is None:
        return
    kind, id_attribute = kind_and_id
    note_changed(session, kind, target.workspace_id, (getattr(target, id_attribute),))


def _note_new_row(mapper: Mapper[Any], connection: Any, target: Any) -> None:
    # A new object is in no cache (ids are never reused, decision 0032); a new part of one (a tag)
    # changes the object it belongs to.
    kind_and_id: tuple[str, str] | None = getattr(type(target), "__object_cache__", None)
    if kind_and_id is not None and kind_and_id[1] != "id":
        _note_row(mapper, connection, target)


# On the declarative base, so that every model that names an object cache is seen, whenever mapped.
event.listen(Base, "after_insert", _note_new_row, propagate=True)
event.listen(Base, "after_update", _note_row, propagate=True)
event.listen(Base, "after_delete", _note_row, propagate=True)


@event.listens_for(Session, "after_commit")
def _forget_after_commit(session: Session) -> None:
    # A savepoint's release fires this too; its changes are not committed until the transaction is.
    if session.in_nested_transaction():
        return
    changed: set[ObjectKey] | None = session.info.pop(_CHANGED, None)
    cache = _cache_of(session)
    if not changed or cache is None:
        return
    task = cache.invalidate(changed)
    if task is not None:
        session.info.setdefault(_FORGETTING, []).append(task)


@event.listens_for(Session, "after_transaction_end")
def _drop_after_rollback(session: Session, transaction: Any) -> None:
    # The unit of work is over; if the keys are still here, it did not commit and nothing changed. (The
    # rollback of a savepoint keeps them: forgetting an unchanged object again costs only a read.)
    if transaction.parent is None:
        session.info.pop(_CHANGED, None)
