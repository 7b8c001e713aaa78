"""Records an audit event for every insert, update and delete of an audited model, inside the same flush.

Hooking the session (rather than calling a helper in each service) means no mutation can forget its event.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, cast

from sqlalchemy import CTE, Select, Table, bindparam, event, func, insert, inspect, literal, null, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.orm.base import NO_VALUE
from sqlalchemy.sql.elements import ColumnElement

from supportdesk.audit.models import ActorType, AuditAction, AuditEvent
from supportdesk.core.clock import Clock, SystemClock
from supportdesk.db import direct
from supportdesk.db.base import Base

# Built once (a Core insert): it runs in every flush that changes an audited row.
_INSERT_EVENTS = insert(cast(Table, AuditEvent.__table__))
_INSERT_EVENTS_IN_BULK = _INSERT_EVENTS.returning(cast(Table, AuditEvent.__table__).c.id)
ACTOR_KEY = "audit_actor"
CLOCK_KEY = "clock"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting through a session."""

    type: ActorType
    id: int | None = None


SYSTEM = Actor(ActorType.system)


def act_as(session: Session, actor: Actor, clock: Clock) -> None:
    """Attribute every change made through ``session`` to ``actor``, stamped by ``clock``."""
    session.info[ACTOR_KEY] = actor
    session.info[CLOCK_KEY] = clock


def _json_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    return value


async def record_updates(
    session: AsyncSession,
    clock: Clock,
    workspace_id: int,
    object_type: str,
    changes_by_id: dict[int, dict[str, list[Any]]],
) -> None:
    """Record "updated" events for changes made by a bulk statement, which the flush hook cannot see.

    Values are written as the hook writes them (enums by value, timestamps in ISO 8601).
    """
    now = clock.now()
    rows = [
        updated_event(session.sync_session, workspace_id, object_type, object_id, changes, now)
        for object_id, changes in changes_by_id.items()
    ]
    if rows:
        connection = await session.connection()
        # RETURNING makes SQLAlchemy send the rows as multi-row INSERTs ("insertmanyvalues") instead of
        # executing the statement once per row.
        await connection.execute(_INSERT_EVENTS_IN_BULK, rows)


def updated_event(
    session: Session,
    workspace_id: int,
    object_type: str,
    object_id: int,
    changes: Mapping[str, Sequence[Any]],
    now: datetime,
) -> dict[str, Any]:
    """The row of an "updated" event of ``session``'s actor, as the flush hook writes it (values by
    :func:`_json_value`), for a statement that writes it itself; ``changes`` maps each key to its
    value before and after."""
    actor: Actor = session.info.get(ACTOR_KEY, SYSTEM)
    return {
        "workspace_id": workspace_id,
        "actor_type": actor.type,
        "actor_id": actor.id,
        "action": AuditAction.updated,
        "object_type": object_type,
        "object_id": object_id,
        "changes": {
            key: [_json_value(before), _json_value(after)] for key, (before, after) in changes.items()
        },
        "created_at": now,
    }


@functools.cache
def _audited_keys(model: type[Base]) -> tuple[str, ...]:
    excluded = model.__audit_exclude__
    return tuple(
        attribute.key
        for attribute in inspect(model).column_attrs
        if attribute.key not in excluded and attribute.key != "id"
    )


def _created_changes(model: type[Base], value_of: Callable[[str], Any]) -> dict[str, list[Any]]:
    """The changes of a "created" event: every audited column that has a value."""
    changes: dict[str, list[Any]] = {}
    for key in _audited_keys(model):
        value = value_of(key)
        if value is not None and value is not NO_VALUE:
            changes[key] = [None, _json_value(value)]
    return changes


def _labelled(model: type[Base], changes: dict[str, list[Any]]) -> dict[str, list[Any]]:
    labels = model.__audit_labels__
    return {labels.get(key, key): value for key, value in changes.items()} if labels else changes


def _column_changes(instance: Base, action: AuditAction) -> dict[str, list[Any]]:
    state = inspect(instance)
    # Every flush runs this for every object it writes: read plain values where there are any, and ask
    # for an attribute's history only when it was changed.
    values, originals = state.dict, state.committed_state
    if action is AuditAction.created:
        return _created_changes(
            type(instance), lambda key: values[key] if key in values else state.attrs[key].value
        )
    changes: dict[str, list[Any]] = {}
    for key in _audited_keys(type(instance)):
        if action is AuditAction.deleted:
            value = state.attrs[key].loaded_value
            if value is not NO_VALUE:
                changes[key] = [_json_value(value), None]
        elif key in originals:
            history = state.attrs[key].history
            before = history.deleted[0] if history.deleted else None
            after = history.added[0] if history.added else None
            if before != after:
                changes[key] = [_json_value(before), _json_value(after)]
    return changes


def _event_row(
    instance: Base, action: AuditAction, actor: Actor, clock: Clock
) -> tuple[bool, dict[str, Any]] | None:
    """The audit event of one written row, and whether it files under a parent; None if nothing to say."""
    changes = _column_changes(instance, action)
    if action is AuditAction.updated and not changes:
        return None
    model = type(instance)
    changes = _labelled(model, changes)
    workspace_id, object_type, object_id = instance.audit_subject()
    return (
        model.__audit_is_child__,
        {
            "workspace_id": workspace_id,
            "actor_type": actor.type,
            "actor_id": actor.id,
            "action": AuditAction.updated if model.__audit_is_child__ else action,
            "object_type": object_type,
            "object_id": object_id,
            "changes": changes,
            "created_at": clock.now(),
        },
    )


def _actor_and_clock(session: Session) -> tuple[Actor, Clock]:
    return session.info.get(ACTOR_KEY, SYSTEM), session.info.get(CLOCK_KEY) or SystemClock()


_audit_events = cast(Table, AuditEvent.__table__)
_CREATED_EVENT_COLUMNS = (
    "workspace_id",
    "actor_type",
    "actor_id",
    "action",
    "object_type",
    "object_id",
    "changes",
    "created_at",
)


def insert_with_created_event(
    model: type[Base],
    keys: Sequence[str],
    *,
    also: Sequence[Callable[[CTE], CTE]] = (),
    unless_taken: bool = False,
    computed: Mapping[str, ColumnElement[Any]] | None = None,
) -> Select[Any]:
    """One statement (PostgreSQL) that inserts a row of ``model`` from parameters named ``keys``,
    records its "created" event, and returns the row; :func:`created_event_parameters` completes the
    parameters. Each of ``also`` makes a further part of the statement from the inserted row (a
    notification about it, say), written in the same round trip. ``unless_taken``: a row whose unique
    key another row has already is not written, and then neither is anything else, and no row returns.
    ``computed``: columns whose values the statement works out itself (a number another part of it
    reserves, say); the event records each as it was written."""
    table = cast(Table, model.__table__)
    computed = computed or {}
    # The event is built from the parameters, so a column left to its default would be missing from it.
    defaulted = [
        key
        for key in _audited_keys(model)
        if key not in keys and key not in computed and getattr(table.c[key].default, "arg", None) is not None
    ]
    if defaulted:
        raise ValueError(f"{model.__name__}: audited columns with defaults must be given: {defaulted}")
    parameters: dict[str, ColumnElement[Any]] = {
        key: bindparam(key, type_=table.c[key].type) for key in keys
    } | dict(computed)
    written = (
        postgresql.insert(table).values(parameters).on_conflict_do_nothing()
        if unless_taken
        else insert(table).values(parameters)
    )
    new_row = written.returning(*table.c).cte("new_row")
    changes: ColumnElement[Any] = bindparam("audit_changes", type_=_audit_events.c.changes.type)
    audited_computed = [key for key in computed if key in _audited_keys(model)]
    if audited_computed:
        labels = model.__audit_labels__
        written_values = [
            part
            for key in audited_computed
            for part in (literal(labels.get(key, key)), func.jsonb_build_array(null(), new_row.c[key]))
        ]
        changes = changes.op("||")(func.jsonb_build_object(*written_values))
    created_event = (
        insert(_audit_events)
        .from_select(
            _CREATED_EVENT_COLUMNS,
            select(
                new_row.c.workspace_id,
                bindparam("audit_actor_type", type_=_audit_events.c.actor_type.type),
                bindparam("audit_actor_id", type_=_audit_events.c.actor_id.type),
                literal(AuditAction.created, _audit_events.c.action.type),
                literal(table.name, _audit_events.c.object_type.type),
                new_row.c.id,
                changes,
                bindparam("audit_created_at", type_=_audit_events.c.created_at.type),
            ),
        )
        .cte("created_event")
    )
    return select(new_row).add_cte(created_event, *(part(new_row) for part in also))


def created_event_parameters(
    session: Session, model: type[Base], values: Mapping[str, Any]
) -> dict[str, Any]:
    """The parameters :func:`insert_with_created_event` needs besides the row's: the event the flush
    hook would have written for a row inserted from ``values`` (every audited column with a default
    must be among them)."""
    actor, clock = _actor_and_clock(session)
    return {
        "audit_actor_type": actor.type,
        "audit_actor_id": actor.id,
        "audit_changes": _labelled(model, _created_changes(model, values.get)),
        "audit_created_at": clock.now(),
    }


async def record_created(session: AsyncSession, instance: Base) -> None:
    """Record the "created" event of a row a statement inserted, which the flush hook cannot see; the
    event is the one the hook would have written."""
    actor, clock = _actor_and_clock(session.sync_session)
    row = _event_row(instance, AuditAction.created, actor, clock)
    if row is not None:
        connection = await session.connection()
        # On SQLite one trip to the driver's thread where SQLAlchemy's execution takes three; every
        # ticket opened records its event here (decision 0058).
        if not await direct.insert_in_one_trip(connection.sync_connection, _INSERT_EVENTS, [row[1]]):
            await connection.execute(_INSERT_EVENTS, [row[1]])


def _deleted(session: Session, flush_context: UOWTransaction) -> list[object]:
    """Every object the flush deleted: those given to ``session.delete()`` and the orphans a
    delete-orphan cascade removed (a tag taken off a ticket), which the session's list leaves out."""
    deleted = list(session.deleted)
    seen = {id(instance) for instance in deleted}
    for state, (is_delete, list_only) in flush_context.states.items():
        instance = state.obj()
        if is_delete and not list_only and instance is not None and id(instance) not in seen:
            seen.add(id(instance))
            deleted.append(instance)
    return deleted


@event.listens_for(Session, "after_flush")
def _record_audit_events(session: Session, flush_context: UOWTransaction) -> None:
    actor, clock = _actor_and_clock(session)
    rows: list[tuple[bool, dict[str, Any]]] = []
    batches = (
        (AuditAction.created, session.new),
        (AuditAction.updated, session.dirty),
        (AuditAction.deleted, _deleted(session, flush_context)),
    )
    for action, instances in batches:
        for instance in instances:
            if not isinstance(instance, Base) or not type(instance).__audited__:
                continue
            row = _event_row(instance, action, actor, clock)
            if row is not None:
                rows.append(row)
    if rows:
        # Parents first, so a trail reads "created" before the changes filed under it.
        rows.sort(key=lambda item: item[0])
        session.connection().execute(_INSERT_EVENTS, [row for _, row in rows])
