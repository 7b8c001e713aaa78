"""What a flush fills in for objects written without a service, so the models work on their own.

Services set every column themselves. Code that adds objects straight to a session (a data migration, a
test, a notebook) should not have to know which columns only a service fills: this module's
``before_flush`` hook stamps ``created_at``/``updated_at`` from the session's clock, refreshes
``updated_at`` when a change did not, gives a new scoped row the workspace of its parent, and runs the
fillers that domain packages register for their own models (a ticket's number, for instance).

Only what the caller left unset is filled, and an object that has its values costs a few dictionary
look-ups. Enum columns also take their string values (``status="open"``), converted to the enum
member when the attribute is set.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar, cast

from sqlalchemy import Table, event, inspect, select
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.attributes import QueryableAttribute
from sqlalchemy.orm.interfaces import MANYTOONE, ONETOMANY

from supportdesk.core.clock import session_clock
from supportdesk.db.base import Base, WorkspaceScoped
from supportdesk.db.tenancy import current_workspace_id

ModelT = TypeVar("ModelT", bound=Base)
Filler = Callable[[Session, list[ModelT]], None]

# Model -> the filler its domain registered; called with that model's new objects of one flush.
_fillers: dict[type[Base], Filler[Any]] = {}


def fills_new(model: type[ModelT]) -> Callable[[Filler[ModelT]], Filler[ModelT]]:
    """Register the decorated function to fill what the caller left unset on new ``model`` objects.

    It runs inside the flush, after the timestamps and the workspace are in place, with the session
    (whose ``execute`` may be called synchronously there) and the flush's new objects of ``model``.
    """

    def register(filler: Filler[ModelT]) -> Filler[ModelT]:
        _fillers[model] = filler
        return filler

    return register


def given(instance: Base, key: str) -> bool:
    """Whether the caller set ``key`` on a new object (to anything, ``None`` included)."""
    return key in instance.__dict__


def value_or_default(instance: Base, key: str) -> Any:
    """The attribute's value, or the Python-side default its column would be inserted with."""
    value = instance.__dict__.get(key)
    if value is not None:
        return value
    column = inspect(type(instance)).columns[key]
    default = column.default
    if default is not None and default.is_scalar:
        return getattr(default, "arg", None)
    return None


def _model(instance: object) -> type[Base]:
    return cast("type[Base]", type(instance))


@functools.cache
def _timestamps(model: type[Base]) -> tuple[bool, bool]:
    columns = inspect(model).columns
    return "created_at" in columns, "updated_at" in columns


@functools.cache
def _touching_keys(model: type[Base]) -> frozenset[str]:
    """Attributes whose change is a change of the row: columns, and collections of owned children
    (a ticket's tags), except bookkeeping the model names in ``__touch_exclude__`` (by default what
    its audit trail leaves out)."""
    mapper = inspect(model)
    quiet: frozenset[str] = getattr(model, "__touch_exclude__", model.__audit_exclude__)
    owned = (
        rel.key for rel in mapper.relationships if rel.direction is ONETOMANY and rel.cascade.delete_orphan
    )
    return frozenset((*mapper.column_attrs.keys(), *owned)) - quiet - {"updated_at", "version"}


@functools.cache
def _parent_links(model: type[Base]) -> tuple[tuple[str, ...], tuple[tuple[str, Table], ...]]:
    """How a scoped row can reach a scoped parent: many-to-one relationships, and foreign key
    attributes with the parent's table."""
    mapper = inspect(model)
    relationships = tuple(
        rel.key
        for rel in mapper.relationships
        if rel.direction is MANYTOONE and issubclass(rel.mapper.class_, WorkspaceScoped)
    )
    foreign_keys = []
    for column in mapper.local_table.columns:
        for foreign_key in column.foreign_keys:
            parent = foreign_key.column.table
            if isinstance(parent, Table) and "workspace_id" in parent.c and column.key != "workspace_id":
                foreign_keys.append((mapper.get_property_by_column(column).key, parent))
    return relationships, tuple(foreign_keys)


@functools.cache
def _owned_collections(model: type[Base]) -> tuple[str, ...]:
    mapper = inspect(model)
    return tuple(
        rel.key
        for rel in mapper.relationships
        if rel.direction is ONETOMANY and issubclass(rel.mapper.class_, WorkspaceScoped)
    )


def _inherit_workspace(session: Session, orphans: list[Any], others: Iterable[Any]) -> None:
    """Give new scoped rows without a workspace the session's, else their parent's: the object a
    relationship or a collection links them to, else the row their foreign key names."""
    scoped = current_workspace_id(session)
    if scoped is not None:
        for orphan in orphans:
            orphan.workspace_id = scoped
        return
    owners: dict[int, Any] = {}
    for parent in others:
        for key in _owned_collections(_model(parent)):
            for child in parent.__dict__.get(key) or ():
                owners[id(child)] = parent
    # A few rounds, so that a chain of new objects (a tag of a new ticket of a new customer) settles.
    for _ in range(3):
        waiting = []
        for orphan in orphans:
            relationships, _foreign_keys = _parent_links(_model(orphan))
            parents = [orphan.__dict__.get(key) for key in relationships] + [owners.get(id(orphan))]
            found = next(
                (
                    parent.workspace_id
                    for parent in parents
                    if getattr(parent, "workspace_id", None) is not None
                ),
                None,
            )
            if found is None:
                waiting.append(orphan)
            else:
                orphan.workspace_id = found
        if len(waiting) == len(orphans):
            break
        orphans = waiting
    for orphan in orphans:
        _, foreign_keys = _parent_links(_model(orphan))
        for key, parent_table in foreign_keys:
            parent_id = orphan.__dict__.get(key)
            if parent_id is None:
                continue
            query = select(parent_table.c.workspace_id).where(parent_table.c.id == parent_id)
            found = session.connection().execute(query).scalar_one_or_none()
            if found is not None:
                orphan.workspace_id = found
                break


@event.listens_for(Session, "before_flush")
def _fill_defaults(session: Session, _context: Any, _instances: Any) -> None:
    new, dirty = session.new, session.dirty
    if not new and not dirty:
        return
    now: datetime | None = None
    orphans: list[Any] = []
    by_model: dict[type[Base], list[Any]] = {}
    for instance in new:
        model = _model(instance)
        values = instance.__dict__
        created, updated = _timestamps(model)
        if (created and values.get("created_at") is None) or (updated and values.get("updated_at") is None):
            now = now or session_clock(session.info).now()
            if created and values.get("created_at") is None:
                instance.created_at = now
            if updated and values.get("updated_at") is None:
                # As a service does: a new row was last changed when it was made.
                instance.updated_at = values.get("created_at") or now
        if isinstance(instance, WorkspaceScoped) and values.get("workspace_id") is None:
            orphans.append(instance)
        if model in _fillers:
            by_model.setdefault(model, []).append(instance)
    if orphans:
        _inherit_workspace(session, orphans, (*new, *dirty))
    for model, instances in by_model.items():
        instances.sort(key=lambda instance: inspect(instance).insert_order or 0)
        _fillers[model](session, instances)
    for instance in dirty:
        if not _timestamps(_model(instance))[1]:
            continue
        state = inspect(instance)
        changed = state.committed_state
        if not changed or "updated_at" in changed:
            continue  # nothing changed, or the caller stamped the change itself
        touching = _touching_keys(_model(instance))
        if any(key in touching and state.attrs[key].history.has_changes() for key in changed):
            now = now or session_clock(session.info).now()
            instance.updated_at = now


# --- enum columns take their string values -------------------------------------------------------


def _to_member(enum: type[Enum]) -> Callable[[Any, Any, Any, Any], Any]:
    def convert(_target: Any, value: Any, _old: Any, _initiator: Any) -> Any:
        if isinstance(value, str) and not isinstance(value, enum):
            return enum(value)  # an unknown value fails here, where it was set, not at the flush
        return value

    return convert


_converted: set[type[Any]] = set()


def _convert_enum_strings(mapper: Mapper[Any], model: type[Any]) -> None:
    if model in _converted:
        return
    _converted.add(model)
    for prop in mapper.column_attrs:
        enum = getattr(prop.columns[0].type, "enum_class", None)
        if isinstance(enum, type) and issubclass(enum, Enum):
            attribute: QueryableAttribute[Any] = getattr(model, prop.key)
            event.listen(attribute, "set", _to_member(enum), retval=True)


event.listen(Mapper, "mapper_configured", _convert_enum_strings)
# Mappers configured before this module was imported did not see the listener above.
for _mapper in Base.registry.mappers:
    if _mapper.configured:
        _convert_enum_strings(_mapper, _mapper.class_)
