"""Sessions: one unit of work per request or job. Services flush; the boundary commits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from supportdesk.audit import recorder  # noqa: F401  (registers the audit listener)
from supportdesk.core.crm import SWITCH_KEY, CrmSwitch
from supportdesk.core.pushes import OUTLET_KEY, PushOutlet
from supportdesk.db import caches, models, objects, tenancy  # noqa: F401  (mappers, tenancy listeners)
from supportdesk.db.caches import Caches
from supportdesk.db.engine import SQLITE_BEGIN_OPTION
from supportdesk.db.objects import ObjectCacheSlot
from supportdesk.sla import clocks  # noqa: F401  (keeps SLA clocks in step with every ticket change)
from supportdesk.tickets import defaults  # noqa: F401  (fills what services set, for bare objects)

_WRITER_SLOT_KEY = "release_writer_slot"
# session.info key of the database's work bell (see Database.work_bell).
WORK_BELL_KEY = "work_bell"


@event.listens_for(Session, "after_commit")
def _release_writer_slot_after_commit(session: Session) -> None:
    _release_writer_slot(session)


@event.listens_for(Session, "after_rollback")
def _release_writer_slot_after_rollback(session: Session) -> None:
    _release_writer_slot(session)


def _release_writer_slot(session: Session) -> None:
    # Listening once for every session is cheaper than adding listeners to each writer's session. A
    # savepoint's release or rollback fires the same events while the transaction goes on: the slot is
    # held until the transaction itself ends.
    if session.in_nested_transaction():
        return
    release: Callable[[], None] | None = session.info.pop(_WRITER_SLOT_KEY, None)
    if release is not None:
        release()


class Database:
    """An engine with its two session factories: read-write, and read-only (no write lock on SQLite).

    Given ``connection``, sessions join that connection's transaction through savepoints instead: what
    they commit stays inside it, which is how each test rolls back everything it did.
    """

    def __init__(self, engine: AsyncEngine, *, connection: AsyncConnection | None = None) -> None:
        self.engine = engine
        # What services build from configuration rows, kept for this database only; every session made
        # here carries it (caches.caches_of), and caches.clear() resets it.
        self.caches = Caches()
        # Rung after a commit that left work for the background (an outbox message), so a relay in this
        # process starts at once instead of at its next poll.
        self.work_bell = asyncio.Event()
        # Where pushes go once their unit of work commits (core.pushes); the app plugs a publisher in.
        self.pushes = PushOutlet()
        # Which CRM new customers are checked against (core.crm); the app and the worker turn it on
        # when one is configured.
        self.crm = CrmSwitch()
        # Which cache tickets, customers and staff are read through and forgotten in (db.objects): none
        # until the app plugs its own in (or a worker or a command, when the cache is shared).
        self.objects = ObjectCacheSlot()
        info = {
            caches.SESSION_KEY: self.caches,
            WORK_BELL_KEY: self.work_bell,
            OUTLET_KEY: self.pushes,
            SWITCH_KEY: self.crm,
            objects.SLOT_KEY: self.objects,
        }
        # SQLite admits one writer at a time. Queueing writers here, in arrival order, beats letting
        # them poll the file lock: SQLite's busy handler backs off up to 100 ms between tries.
        self._write_gate = asyncio.Lock() if engine.dialect.name == "sqlite" and connection is None else None
        if connection is not None:
            joined = async_sessionmaker(
                bind=connection,
                expire_on_commit=False,
                autoflush=False,
                join_transaction_mode="create_savepoint",
                info=info,
            )
            self._writer = self._reader = joined
            return
        self._writer = async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)
        self._reader = async_sessionmaker(
            engine.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"}),
            expire_on_commit=False,
            autoflush=False,
            info=info,
        )

    def new_session(self, *, readonly: bool = False) -> AsyncSession:
        """A new session; the caller owns its transaction."""
        return (self._reader if readonly else self._writer)()

    @asynccontextmanager
    async def session_for(self, *, readonly: bool) -> AsyncIterator[AsyncSession]:
        """A session whose caller owns its transaction.

        On SQLite a writer first takes the process's writer slot, and gives it back as soon as its
        first transaction ends (commit or rollback), not when the request is over: building and
        sending the response need no lock.
        """
        gate = None if readonly else self._write_gate
        if gate is None:
            async with self.new_session(readonly=readonly) as session:
                yield session
            return
        await gate.acquire()
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                gate.release()

        try:
            async with self.new_session() as session:
                session.sync_session.info[_WRITER_SLOT_KEY] = release
                yield session
        finally:
            release()

    @asynccontextmanager
    async def unit_of_work(self, *, readonly: bool = False) -> AsyncIterator[AsyncSession]:
        """A session that commits when the block succeeds and rolls back when it raises.

        After the commit it waits until the objects the unit of work changed are forgotten by the
        object cache, so that whatever runs next reads them as committed."""
        async with self.session_for(readonly=readonly) as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            if readonly:
                await session.rollback()
            else:
                await session.commit()
                await objects.settle(session)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
