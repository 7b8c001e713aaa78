"""Statements sent with the database driver's own call, in the transaction SQLAlchemy has open.

SQLAlchemy's execution of a statement (its cursor, events, result loading) costs more than some of the
busiest statements themselves: the outbox's rows every change writes, and a new ticket with its audit
event. These helpers send SQLAlchemy's own compiled statement, with the values SQLAlchemy's bind
processors make and read back through its result processors, and raise the driver's errors as
SQLAlchemy's. Where someone watches the SQL (an engine that echoes or logs it, a test counting
statements) or no transaction is open yet, they send nothing and the caller takes SQLAlchemy's way
(decision 0058). Tenancy is the caller's: it checks the rows' workspace before calling.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import Insert, Update

# SQLAlchemy logs every statement at INFO here, whether set by `echo` or by the logging configuration.
_ENGINE_LOG = logging.getLogger("sqlalchemy.engine.Engine")


def unwatched_driver(connection: Connection | None) -> Any:
    """The driver's own connection under ``connection``, for a statement SQLAlchemy need not see, or
    ``None`` where someone watches the SQL sent (a test counting statements, an engine that echoes or
    logs its statements) and SQLAlchemy must send it.

    A statement sent this way gives up its events and the echo; :func:`sqlalchemy_errors` raises its
    errors as SQLAlchemy's, and one rolls the whole transaction back (decision 0058)."""
    if (
        connection is None
        or connection.engine.echo
        or _ENGINE_LOG.isEnabledFor(logging.INFO)
        or connection.dispatch.before_cursor_execute
    ):
        return None
    return connection.connection.driver_connection


@contextlib.contextmanager
def sqlalchemy_errors(connection: Connection, sql: str) -> Iterator[None]:
    """Raise the driver's error in a statement sent past SQLAlchemy as SQLAlchemy raises it for its
    own, so that it is answered as those are: a uniqueness lost to a concurrent request (an
    ``IntegrityError``) as a conflict, a lost connection as the database being out of reach."""
    try:
        yield
    except Exception as error:
        dialect = connection.dialect
        adapter: Any = connection.connection.dbapi_connection
        orig: BaseException = error
        if dialect.driver == "asyncpg":
            # SQLAlchemy's asyncpg adapter raises its DB-API form of asyncpg's errors from this method
            # (an IntegrityError for a unique violation, and so on); the rest of SQLAlchemy knows that form.
            try:
                adapter._handle_exception(error)
            except Exception as adapted:  # noqa: BLE001  (whatever the adapter makes of it)
                orig = adapted
        if not isinstance(orig, dialect.loaded_dbapi.Error):
            raise
        raise DBAPIError.instance(
            sql,
            None,
            cast(Exception, orig),
            dialect.loaded_dbapi.Error,
            connection_invalidated=dialect.is_disconnect(cast(Any, orig), adapter, None),
            dialect=dialect,
        ) from error


# SQLAlchemy's own statements compiled once per driver for the keys given: the SQL, each parameter's
# key (or the constant SQLAlchemy binds itself) with its type's bind processor in the statement's
# order, so that the values sent are those SQLAlchemy sends, and each returned column's result
# processor.
_Form = tuple[str, tuple[tuple[str | None, Any, Any], ...], tuple[Any, ...]]
_FORMS: dict[tuple[Insert | Update | Select[Any], tuple[str, ...], str], _Form] = {}


def _form(connection: Connection, statement: Insert | Update | Select[Any], keys: tuple[str, ...]) -> _Form:
    dialect = connection.dialect
    form = _FORMS.get((statement, keys, dialect.driver))
    if form is None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        binds = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            given = name if name in keys else None
            binds.append(
                (given, None if given else bind.effective_value, bind.type._cached_bind_processor(dialect))
            )
        returned = tuple(
            column.type._cached_result_processor(dialect, None) for column in statement.exported_columns
        )
        form = _FORMS[(statement, keys, dialect.driver)] = (compiled.string, tuple(binds), returned)
    return form


def _bound(binds: tuple[tuple[str | None, Any, Any], ...], row: Mapping[str, Any]) -> tuple[Any, ...]:
    values = (constant if key is None else row[key] for key, constant, _ in binds)
    return tuple(
        value if process is None else process(value)
        for value, (_, _, process) in zip(values, binds, strict=True)
    )


async def insert_in_one_trip(
    connection: Connection | None, statement: Insert, rows: Sequence[Mapping[str, Any]]
) -> bool:
    """Run ``statement`` (a Core ``INSERT`` of one table, without ``RETURNING``) for ``rows`` with
    aiosqlite's own ``executemany``, in the transaction SQLite has open: one trip to aiosqlite's thread,
    where SQLAlchemy's cursor takes three (making it, the statement, closing it). ``False``, with nothing
    written, on another driver, outside a transaction or where the SQL is watched."""
    driver = unwatched_driver(connection)
    if connection is None or driver is None or connection.dialect.driver != "aiosqlite":
        return False
    if not driver.in_transaction:
        return False
    sql, binds, _ = _form(connection, statement, tuple(rows[0]))
    with sqlalchemy_errors(connection, sql):
        await driver.executemany(sql, [_bound(binds, row) for row in rows])
    return True


async def fetch_row_in_one_trip(
    connection: Connection | None, statement: Insert | Update | Select[Any], row: Mapping[str, Any]
) -> tuple[Any, ...] | None:
    """Run ``statement``, which returns one row (``INSERT`` or ``UPDATE ... RETURNING``, a ``WITH`` of
    inserts selecting the row, or a read), with the driver's own call, in the transaction it has open:
    its values as SQLAlchemy's result processors make them, or ``None``, with nothing sent, on another
    driver, outside a transaction or where the SQL is watched. On SQLite one trip to aiosqlite's thread
    where SQLAlchemy's cursor takes four; on PostgreSQL asyncpg's ``fetchrow`` without SQLAlchemy's
    execution around it."""
    driver = unwatched_driver(connection)
    if connection is None or driver is None:
        return None
    name = connection.dialect.driver
    if name == "aiosqlite" and driver.in_transaction:
        sql, binds, returned = _form(connection, statement, tuple(row))
        with sqlalchemy_errors(connection, sql):
            [values] = await driver.execute_fetchall(sql, _bound(binds, row))
    elif name == "asyncpg" and driver.is_in_transaction():
        sql, binds, returned = _form(connection, statement, tuple(row))
        with sqlalchemy_errors(connection, sql):
            values = await driver.fetchrow(sql, *_bound(binds, row))
    else:
        return None
    return tuple(
        value if process is None else process(value) for process, value in zip(returned, values, strict=True)
    )
