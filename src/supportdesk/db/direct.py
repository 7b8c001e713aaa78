"""Statements sent with the database driver's own call, in the transaction SQLAlchemy has open.

SQLAlchemy's execution of a statement (its cursor, events, result loading) costs more than some of the
busiest statements themselves: the outbox's rows every change writes, and a new ticket with its audit
event. These helpers send SQLAlchemy's own compiled statement, with the values SQLAlchemy's bind
processors make and read back through its result processors, and raise the driver's errors as
SQLAlchemy's. Where someone watches the SQL (an engine that echoes or logs it, a test counting
statements) or SQLAlchemy's connection is in no transaction, they send nothing and the caller takes
SQLAlchemy's way (decisions 0058 and 0064). A read of entities (:func:`first`) is limited to the
session's workspace by the tenancy hook's own criteria; a write's workspace is checked by its caller.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Select, inspect
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached
from sqlalchemy.sql.dml import Insert, Update

from supportdesk.db.tenancy import as_scoped

ModelT = TypeVar("ModelT")
# A read of any columns and entities.
AnySelect = Select[*tuple[Any, ...]]

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


# SQLAlchemy's own statements compiled once per dialect for the keys given: the SQL, each parameter's
# key (or the constant SQLAlchemy binds itself) with its type's bind processor in the statement's
# order, so that the values sent are those SQLAlchemy sends, and each returned column's result
# processor. Bounded: a statement scoped to a workspace is compiled for each workspace that runs it.
_Form = tuple[str, tuple[tuple[str | None, Any, Any], ...], tuple[Any, ...]]


@functools.lru_cache(maxsize=2048)
def _compiled(dialect: Dialect, statement: Insert | Update | AnySelect, keys: tuple[str, ...]) -> _Form:
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
    return compiled.string, tuple(binds), returned


def _form(connection: Connection, statement: Insert | Update | AnySelect, keys: tuple[str, ...]) -> _Form:
    return _compiled(connection.dialect, statement, keys)


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
    driver = await driver_in_transaction(connection)
    if connection is None or driver is None or connection.dialect.driver != "aiosqlite":
        return False
    sql, binds, _ = _form(connection, statement, tuple(rows[0]))
    with sqlalchemy_errors(connection, sql):
        await driver.executemany(sql, [_bound(binds, row) for row in rows])
    return True


async def fetch_row_in_one_trip(
    connection: Connection | None, statement: Insert | Update | AnySelect, row: Mapping[str, Any]
) -> tuple[Any, ...] | None:
    """Run ``statement``, which returns one row (``INSERT`` or ``UPDATE ... RETURNING``, a ``WITH`` of
    inserts selecting the row, or a read), with the driver's own call, in the transaction it has open:
    its values as SQLAlchemy's result processors make them, or ``None``, with nothing sent, on another
    driver, outside a transaction or where the SQL is watched. On SQLite one trip to aiosqlite's thread
    where SQLAlchemy's cursor takes four; on PostgreSQL asyncpg's ``fetchrow`` without SQLAlchemy's
    execution around it."""
    found = await _first_row(connection, statement, row)
    if found is None:
        raise LookupError("the statement returned no row")
    return None if found is NOT_SENT else cast(tuple[Any, ...], found)


async def run_in_one_trip(
    connection: Connection | None, statement: Insert | Update, row: Mapping[str, Any]
) -> bool:
    """Run ``statement``, which returns no rows, with the driver's own call in the transaction it has
    open (see :func:`fetch_row_in_one_trip`); ``False``, with nothing sent, where that way is not taken."""
    return not isinstance(await _first_row(connection, statement, row), NotSent)


class NotSent:
    """What a statement returns that was not sent (see :func:`unwatched_driver`)."""


NOT_SENT = NotSent()


async def driver_in_transaction(connection: Connection | None) -> Any:
    """The driver's connection under ``connection`` (see :func:`unwatched_driver`) with the transaction
    SQLAlchemy's is in open, or ``None``: on PostgreSQL SQLAlchemy opens it with the first statement it
    sends, so one sent past it opens it the same way."""
    driver = unwatched_driver(connection)
    if connection is None or driver is None:
        return None
    if connection.dialect.driver == "aiosqlite":
        return driver if driver.in_transaction else None
    if connection.dialect.driver != "asyncpg":
        return None
    if not driver.is_in_transaction() and connection.in_transaction():
        adapter: Any = connection.connection.dbapi_connection
        with sqlalchemy_errors(connection, "BEGIN"):
            async with adapter._execute_mutex:
                if adapter._transaction is None:
                    await adapter._start_transaction()
    return driver if driver.is_in_transaction() else None


async def _first_row(
    connection: Connection | None, statement: Insert | Update | AnySelect, row: Mapping[str, Any]
) -> tuple[Any, ...] | NotSent | None:
    """The first row ``statement`` returns, by the driver's own call (``None`` when it returns none),
    or :data:`NOT_SENT`."""
    driver = await driver_in_transaction(connection)
    if connection is None or driver is None:
        return NOT_SENT
    sql, binds, returned = _form(connection, statement, tuple(row))
    with sqlalchemy_errors(connection, sql):
        if connection.dialect.driver == "aiosqlite":
            rows = await driver.execute_fetchall(sql, _bound(binds, row))
            values = rows[0] if rows else None
        else:
            values = await driver.fetchrow(sql, *_bound(binds, row))
    if values is None:
        return None
    return tuple(
        value if process is None else process(value) for process, value in zip(returned, values, strict=True)
    )


# How the columns of a statement's row make its items: a whole entity's columns (its mapper and their
# attribute keys), or one value (no mapper).
_Item = tuple[Mapper[Any] | None, tuple[str, ...]]


@functools.lru_cache(maxsize=256)
def _items(statement: AnySelect) -> tuple[_Item, ...]:
    columns = list(statement.exported_columns)
    items: list[_Item] = []
    at = 0
    for description in statement.column_descriptions:
        entity = description["entity"]
        if entity is None or description["expr"] is not entity:
            items.append((None, ()))
            at += 1
            continue
        mapper: Mapper[Any] = inspect(entity)
        attributes = [attribute for attribute in mapper.column_attrs if not attribute.deferred]
        taken = columns[at : at + len(attributes)]
        if [column.key for column in taken] != [attribute.columns[0].key for attribute in attributes]:
            raise ValueError(
                f"the statement's columns of {mapper.class_.__name__} are not its mapped columns"
            )
        items.append((mapper, tuple(attribute.key for attribute in attributes)))
        at += len(attributes)
    if at != len(columns):
        raise ValueError("the statement's columns are not those of its entities and values")
    return tuple(items)


def as_loaded(session: Session, mapper: Mapper[ModelT], values: Mapping[str, Any]) -> ModelT:
    """The object with the primary key in ``values`` (its columns as read) in ``session``, as a query
    puts it there: the one the session holds already, else a new one with these values committed (no
    history, no events)."""
    identity = mapper.identity_key_from_primary_key(tuple(values[key] for key in _primary_keys(mapper)))
    held = session.identity_map.get(identity)
    if held is not None:
        return held
    instance = mapper.class_manager.new_instance()
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


def as_written(session: Session, instance: object, keys: Iterable[str], **written: Any) -> None:
    """Take ``instance``'s values of ``keys`` as they stand, and ``written``, for those of its row: a
    statement below the ORM wrote them. When nothing else of it changed, nothing is left for the flush
    (no history, not modified), as after the unit of work's own flush, and a commit with nothing else
    changed sends no flush at all."""
    state = inspect(instance)
    state.dict.update(written)
    for key in (*keys, *written):
        state.committed_state.pop(key, None)
    if not state.committed_state:
        state._commit_all(state.dict, session.identity_map)


@functools.cache
def _primary_keys(mapper: Mapper[Any]) -> tuple[str, ...]:
    return tuple(mapper.get_property_by_column(column).key for column in mapper.primary_key)


async def returned_object(
    session: AsyncSession, model: type[ModelT], statement: Insert | AnySelect, parameters: Mapping[str, Any]
) -> ModelT | NotSent | None:
    """The row of ``model`` that ``statement`` writes and returns (every column of its table, in the
    table's order), by the driver's own call, put in the session as if a query had loaded it
    (:func:`as_loaded`); ``None`` when the statement returned no row, :data:`NOT_SENT` where the driver's
    way is not taken. Tenancy is the caller's: it checks the workspace the row names."""
    connection = await session.connection()
    found = await _first_row(connection.sync_connection, statement, parameters)
    if found is None or isinstance(found, NotSent):
        return found
    mapper: Mapper[ModelT] = inspect(model)
    return as_loaded(session.sync_session, mapper, dict(zip(_table_keys(mapper), found, strict=True)))


@functools.cache
def _table_keys(mapper: Mapper[Any]) -> tuple[str, ...]:
    return tuple(mapper.get_property_by_column(column).key for column in mapper.local_table.columns)


async def first(
    session: AsyncSession, statement: AnySelect, parameters: Mapping[str, Any]
) -> tuple[Any, ...] | None:
    """What ``(await session.execute(statement, parameters)).first()`` gives, by the driver's own call
    where it can (see :func:`fetch_row_in_one_trip`): each whole entity the statement selects comes as
    its object (:func:`as_loaded`; ``None`` where an outer join found none), every other item as its
    value. The statement is limited to the session's workspace as the tenancy hook limits it
    (:func:`tenancy.as_scoped`), and the session's pending changes are flushed first, as a query does.

    SQLAlchemy's execution of an ORM query (its parameters matched to the cached statement's, a loader
    made for each entity at every run) costs more than the busiest reads themselves (decision 0064)."""
    sync = session.sync_session
    if sync.autoflush and (sync.new or sync.dirty or sync.deleted):
        await session.flush()
    connection = await session.connection()
    found = await _first_row(connection.sync_connection, as_scoped(sync, statement), parameters)
    if isinstance(found, NotSent):
        row = (await session.execute(statement, parameters)).first()
        return None if row is None else tuple(row)
    if found is None:
        return None
    items: list[Any] = []
    at = 0
    for mapper, keys in _items(statement):
        if mapper is None:
            items.append(found[at])
            at += 1
            continue
        values = dict(zip(keys, found[at : at + len(keys)], strict=True))
        at += len(keys)
        absent = any(values[key] is None for key in _primary_keys(mapper))
        items.append(None if absent else as_loaded(sync, mapper, values))
    return tuple(items)
