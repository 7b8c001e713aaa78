"""Checked bearer tokens, remembered for a few seconds so a burst of requests reads the token once.

Every authenticated request used to read its token and user before doing anything else: one statement
of every request, the largest single cost of a small one. A process keeps what it read, keyed by the
token's hash, for ``token_cache_seconds`` (0 turns it off). What makes that safe:

- A change to any staff user or token (revocation, logout, deactivation, a new role, a new name) empties
  the cache of the process that made it, at its flush and again at its commit.
- On PostgreSQL the same change sends ``NOTIFY`` in its transaction, delivered when it commits; every
  process listens (:class:`AuthChangeListener`) and empties its cache. A process that is not listening
  (not yet connected, or its connection was lost) caches nothing.
- An entry never outlives its token's expiry, and a lookup that began before an invalidation does not
  store what it read.

So a revoked token stops working at once everywhere, except on SQLite when another process (the CLI
beside a running server) made the change: then within ``token_cache_seconds``. Decision 0031.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapper, Session, object_session

from supportdesk.core.permissions import Role
from supportdesk.people.models import ApiToken, User

CHANNEL = "supportdesk_auth_changed"
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', '')")
_CHANGED_KEY = "auth_changed"
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Caller:
    """The staff member a request acts for, as their token was checked: enough to scope, authorise and
    attribute the request without loading the user."""

    id: int
    workspace_id: int
    role: Role
    email: str
    name: str


@dataclass(frozen=True, slots=True)
class _Entry:
    caller: Caller
    token_expires_at: datetime | None
    fresh_until: datetime


class TokenCache:
    """Token hash → :class:`Caller`, bounded in size and age.

    ``generation`` grows with every invalidation: a lookup notes it before reading the database and
    stores its result only if nothing was invalidated meanwhile, so a read that raced a revocation
    cannot bring the revoked token back.
    """

    def __init__(self, max_entries: int = 10_000, *, hears_local_changes: bool = True) -> None:
        self._entries: dict[str, _Entry] = {}
        self._max_entries = max_entries
        self.generation = 0
        # Whether every change can reach this process in time; PostgreSQL's listener switches it.
        self.enabled = True
        # Off only to stand for another process's cache, which hears of changes from the database alone.
        if hears_local_changes:
            _LIVE.add(self)

    def get(self, token_hash: str, now: datetime) -> Caller | None:
        """The caller of a token checked recently, unless it has expired since (or caching is off)."""
        entry = self._entries.get(token_hash) if self.enabled else None
        if entry is None:
            return None
        expires_at = entry.token_expires_at
        if now >= entry.fresh_until or (expires_at is not None and now >= expires_at):
            self._entries.pop(token_hash, None)
            return None
        return entry.caller

    def put(
        self,
        token_hash: str,
        caller: Caller,
        *,
        token_expires_at: datetime | None,
        now: datetime,
        ttl: timedelta,
        generation: int,
    ) -> None:
        """Remember a token just checked, if caching is on and nothing was cleared since ``generation``."""
        if not self.enabled or generation != self.generation or ttl <= timedelta(0):
            return
        if len(self._entries) >= self._max_entries:
            # Many distinct tokens in a few seconds: starting afresh is cheaper than tracking age.
            self._entries.clear()
        self._entries[token_hash] = _Entry(caller, token_expires_at, now + ttl)

    def clear(self) -> None:
        """Forget every token; lookups already under way will not store what they read."""
        self.generation += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# Every cache of the process: a change made through any session empties them all, as session events
# are process-wide (an application given its own cache, as tests do, is told as well).
_LIVE: weakref.WeakSet[TokenCache] = weakref.WeakSet()


def clear_all() -> None:
    """Empty every cache of the process."""
    for cache in list(_LIVE):
        cache.clear()


def _staff_or_token_changed(_mapper: Mapper[Any], connection: Connection, target: User | ApiToken) -> None:
    clear_all()
    session = object_session(target)
    if session is not None:
        # Cleared again when the change commits: a request may read the old row before then.
        session.info[_CHANGED_KEY] = True
    if connection.dialect.name == "postgresql":
        # Transactional: the other processes hear of it when (and only if) this commits.
        connection.execute(_NOTIFY)


for _model in (User, ApiToken):
    event.listen(_model, "after_update", _staff_or_token_changed)
    event.listen(_model, "after_delete", _staff_or_token_changed)


@event.listens_for(Session, "after_commit")
def _clear_after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED_KEY, False):
        clear_all()


class AuthChangeListener:
    """Listens on PostgreSQL for changes to staff and tokens made by any process, and empties the cache.

    The cache is on only while the listening connection is up: it starts off, turns on once the
    connection listens, and turns off (and empties) when the connection is lost, until it is back.
    """

    def __init__(self, engine: AsyncEngine, cache: TokenCache, *, retry_seconds: float = 1.0) -> None:
        self._engine = engine
        self._cache = cache
        self._retry_seconds = retry_seconds
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.listening = asyncio.Event()

    def start(self) -> None:
        """Start listening in the background (PostgreSQL only; other databases need no listener)."""
        if self._engine.dialect.name != "postgresql":
            return
        self._cache.enabled = False
        self._cache.clear()
        self._task = asyncio.create_task(self._run(), name="auth-change-listener")

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        self._stopping.set()
        if self._task is None:
            return
        await self._task
        self._task = None
        self._cache.enabled = True

    def _heard(self, *_args: object) -> None:
        self._cache.clear()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._listen_until_lost()
            except Exception:  # noqa: BLE001  (any failure: cache off, try again shortly)
                _log.warning("listening for token changes failed; token cache off until it works")
            self._disable()
            if not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._retry_seconds)

    async def _listen_until_lost(self) -> None:
        import asyncpg

        lost = asyncio.Event()
        async with self._engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            if not isinstance(raw, asyncpg.Connection):  # pragma: no cover - the engine is asyncpg's
                raise TypeError("listening for changes needs an asyncpg connection")
            await raw.add_listener(CHANNEL, self._heard)
            raw.add_termination_listener(lambda *_: lost.set())
            # Whatever changed while nobody listened is unknown: start empty.
            self._cache.clear()
            self._cache.enabled = True
            self.listening.set()
            await _first(self._stopping.wait(), lost.wait())
            self._disable()
            with contextlib.suppress(Exception):
                await raw.remove_listener(CHANNEL, self._heard)

    def _disable(self) -> None:
        self._cache.enabled = False
        self._cache.clear()
        self.listening.clear()


async def _first(*waits: Any) -> None:
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
