"""The outbox: side effects written with the change that causes them, inside a flow's unit of work
(:func:`enqueue`), and the bell that wakes this process's relay once they commit. How a message then
moves through its states (pending → queued → sending → delivered, or dead) is
:mod:`supportdesk.jobs.lifecycle`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    String,
    Table,
    bindparam,
    column,
    event,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from supportdesk.core.clock import Clock
from supportdesk.db import direct
from supportdesk.db.session import WORK_BELL_KEY
from supportdesk.db.tenancy import check_write
from supportdesk.jobs.models import DeliveryChannel, DeliveryState, OutboxMessage
from supportdesk.jobs.rules import RETRY_POLICIES

_table = cast(Table, OutboxMessage.__table__)
_KEY = ["workspace_id", "dedupe_key"]
# A message whose dedupe key is on record already is the same message: not written again, not an error.
_INSERTS = {
    "postgresql": postgresql.insert(_table).on_conflict_do_nothing(index_elements=_KEY),
    "sqlite": sqlite.insert(_table).on_conflict_do_nothing(index_elements=_KEY),
}
_WRITTEN = "outbox_written"
_HELD = "outbox_held"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One side effect to record."""

    channel: DeliveryChannel
    target: str
    dedupe_key: str
    payload: Mapping[str, Any]
    ticket_id: int | None = None


async def enqueue(
    session: AsyncSession, clock: Clock, workspace_id: int, messages: Iterable[Outgoing]
) -> int:
    """Record ``messages`` in the session's transaction, due now; returns how many were given.

    They commit or roll back with the change that caused them. After the commit, the process's relay is
    woken (see :data:`Database.work_bell`).
    """
    return await enqueue_at(session, workspace_id, messages, clock.now())


async def enqueue_at(
    session: AsyncSession, workspace_id: int, messages: Iterable[Outgoing], now: datetime
) -> int:
    """:func:`enqueue`, due ``now``."""
    rows = [
        {
            "workspace_id": workspace_id,
            "channel": message.channel,
            "target": message.target,
            "dedupe_key": message.dedupe_key,
            "ticket_id": message.ticket_id,
            "payload": dict(message.payload),
            "state": DeliveryState.pending,
            "attempts": 0,
            "max_attempts": RETRY_POLICIES[message.channel].max_attempts,
            "next_attempt_at": now,
            "manual_retries": 0,
            "created_at": now,
        }
        for message in messages
    ]
    if not rows:
        return 0
    check_write(session.sync_session, "An outbox message", workspace_id)
    held = session.info.get(_HELD)
    if held is not None:
        held.extend(rows)
    else:
        await write_rows(session, rows)
    mark_written(session)
    return len(rows)


async def write_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Write rows :func:`enqueue_at` made (or :func:`take_held` handed back) in the session's
    transaction."""
    connection = await session.connection()
    if not await _insert_through_driver(connection.sync_connection, rows):
        await connection.execute(_INSERTS[connection.dialect.name], rows)


def hold_until_taken(session: AsyncSession) -> None:
    """Keep the messages enqueued through ``session`` from now on in memory, for the statement that ends
    the unit of work to write with its own (:func:`take_held`, :data:`PG_HELD_ROWS`): one round trip
    less. What nobody took is written when the session commits, so nothing held is ever lost."""
    session.info[_HELD] = []


def take_held(session: AsyncSession) -> list[dict[str, Any]]:
    """The rows held since :func:`hold_until_taken`, which the caller now writes; nothing is held after."""
    return cast(list[dict[str, Any]], session.info.pop(_HELD, None) or [])


@event.listens_for(Session, "before_commit")
def _write_what_nobody_took(session: Session) -> None:
    rows = session.info.pop(_HELD, None)
    if rows:
        connection = session.connection()
        connection.execute(_INSERTS[connection.dialect.name], rows)


# The columns enqueue_at writes, as PostgreSQL's statement names them.
_COLUMNS = (
    "workspace_id",
    "channel",
    "target",
    "dedupe_key",
    "ticket_id",
    "payload",
    "state",
    "attempts",
    "max_attempts",
    "next_attempt_at",
    "manual_retries",
    "created_at",
)
_PG_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
# PostgreSQL: the rows as one JSON array, one parameter whatever their number, so the server plans the
# statement once per connection. ROWS FROM ... WITH ORDINALITY keeps the ids in the order given.
_NAMES = ", ".join(_COLUMNS)
_DEFINITIONS = ", ".join(f"{key} {_table.c[key].type.compile(dialect=_PG_DIALECT)}" for key in _COLUMNS)
_PG_INSERT_FROM_JSON = (
    f"INSERT INTO {_table.name} ({_NAMES}) SELECT {_NAMES} "  # noqa: S608  (the model's names only)
    f"FROM ROWS FROM (jsonb_to_recordset({{rows}}) AS ({_DEFINITIONS})) WITH ORDINALITY AS given "
    "ORDER BY given.ordinality ON CONFLICT (workspace_id, dedupe_key) DO NOTHING"
)
_PG_FROM_JSON = _PG_INSERT_FROM_JSON.format(rows="$1::jsonb")
PG_HELD_ROWS = (
    text(_PG_INSERT_FROM_JSON.format(rows="CAST(:outbox_rows AS jsonb)") + " RETURNING id")
    .bindparams(bindparam("outbox_rows", type_=String))
    .columns(column("id", BigInteger))
    .cte("outbox_rows")
)
"""PostgreSQL's insert of held rows, as a ``WITH`` part of another statement; its parameter
``outbox_rows`` is :func:`pg_rows_parameter`'s."""


def _timestamp_text(value: object) -> str:
    """A timestamp of a row, as PostgreSQL reads ``timestamptz`` text; what else reaches here is not
    JSON, which :func:`json.dumps` reports as it always does."""
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    if value.tzinfo is None:
        # The column's own check (UTCDateTime): a naive time would be read as the server's local one.
        raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
    return value.isoformat()


async def _insert_through_driver(connection: Connection | None, rows: list[dict[str, Any]]) -> bool:
    """Write ``rows`` with the driver itself, in the transaction the session's connection is in;
    ``False`` (nothing written) where that is not possible or someone watches the SQL sent (see
    :func:`supportdesk.db.direct.driver_in_transaction`).

    Every ticket opened or changed writes its announcements here, and SQLAlchemy's way costs more than
    the rows: on SQLite three trips to aiosqlite's thread where one does
    (:func:`supportdesk.db.direct.insert_in_one_trip`), on PostgreSQL an ``executemany`` where one
    statement with one parameter does."""
    driver = await direct.driver_in_transaction(connection)
    if connection is None or driver is None:
        return False
    if connection.dialect.driver == "asyncpg":
        with direct.sqlalchemy_errors(connection, _PG_FROM_JSON):
            await driver.execute(_PG_FROM_JSON, pg_rows_parameter(rows))
        return True
    return await direct.insert_in_one_trip(connection, _INSERTS["sqlite"], rows)


def pg_rows_parameter(rows: list[dict[str, Any]]) -> str:
    """``rows`` as the one JSON parameter of PostgreSQL's statement (:data:`PG_HELD_ROWS` as well).

    One pass of the JSON encoder, without SQLAlchemy's bind processors: the channel and state are
    ``StrEnum`` members, which encode as their values (and the table's CHECK constraints refuse any
    other), and the timestamps become ISO text with their offset."""
    return json.dumps(rows, default=_timestamp_text)


def mark_written(session: AsyncSession) -> None:
    """Wake this process's relay once the session commits: it made a message due."""
    session.info[_WRITTEN] = True


@event.listens_for(Session, "after_commit")
def _ring_after_commit(session: Session) -> None:
    if session.info.pop(_WRITTEN, False):
        bell = session.info.get(WORK_BELL_KEY)
        if bell is not None:
            bell.set()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    # Nothing was written, and what was held goes with the change that held it.
    session.info.pop(_WRITTEN, None)
    session.info.pop(_HELD, None)
