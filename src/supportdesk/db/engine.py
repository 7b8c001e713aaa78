"""Engine construction for the two supported databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from supportdesk.config import Settings

SQLITE_BEGIN_OPTION = "sqlite_begin"


def create_engine(settings: Settings, *, url: str | None = None) -> AsyncEngine:
    """Create the engine for ``url`` (default: the configured database) with per-driver tuning."""
    database_url = url or settings.database_url
    if database_url.startswith("sqlite"):
        return _create_sqlite_engine(database_url, settings)
    engine = create_async_engine(
        database_url,
        echo=settings.database_echo,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
    )

    @event.listens_for(engine.sync_engine, "checkout")
    def _replace_closed(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        # A connection the server has ended (a restart, an idle timeout, pg_terminate_backend) is
        # known to be closed as soon as the event loop has read the end of its stream, which it does
        # while the connection waits in the pool. Refused here, the pool opens a new one. This asks
        # the driver instead of the server: SQLAlchemy's pre-ping costs three round trips (BEGIN, an
        # empty statement, ROLLBACK) at every checkout, which is every request and every job.
        if record.driver_connection is None or record.driver_connection.is_closed():
            raise DisconnectionError("the database server closed this connection")

    return engine


def _create_sqlite_engine(url: str, settings: Settings) -> AsyncEngine:
    pooling: dict[str, Any] = {}
    if ":memory:" not in url:
        # An in-memory database lives in one connection (a static pool); a file gets a real pool.
        pooling = {
            "pool_size": settings.database_pool_size,
            "max_overflow": settings.database_pool_size,
            "pool_timeout": max(30.0, settings.sqlite_busy_timeout_ms / 1000),
        }
    engine = create_async_engine(url, echo=settings.database_echo, **pooling)
    busy_timeout = settings.sqlite_busy_timeout_ms

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy emit BEGIN itself (below); the driver's implicit transactions break SAVEPOINT.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that later tries to write can
        # fail with "database is locked" at once, without waiting, when another writer got there first.
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

    return engine
