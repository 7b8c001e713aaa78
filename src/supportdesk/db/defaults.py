"""What a flush fills in for objects written without a service, so the models work on their own.

Services set every column themselves. Code that adds objects straight to a session (a data migration, a
test, a notebook) should not have to know which columns only a service fills: this module's
``before_flush`` hook stamps ``created_at``/``updated_at`` from the session's clock, refreshes
``updated_at`` when a change did not, gives a new scoped row the workspace of its parent, and runs the
functions that domain packages register for their models: fillers of new objects (a ticket's number, for
instance) and followers of changed ones (a ticket's SLA clocks after its status changed, or those of a
customer's tickets after the customer's tier changed).

It runs them in a fixed order: the timestamps and the workspace of new objects, each model's fillers by
their stage (:class:`FillStage`), ``updated_at`` of changed objects, then the followers. Only what the
caller left unset is filled, and an object that has its values, or a change no follower watches, costs a
few dictionary look-ups. Enum columns also take their string values (``status="open"``), converted to
the enum member when the attribute is set.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, IntEnum
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


class FillStage(IntEnum):
    """When a filler of new objects runs among its model's. The package that owns the model fills what
    its services would set first; another package's columns that are derived from those (a ticket's SLA
    due times follow the category and status its own filler chose) come after."""

    own = 0
    derived = 1


@dataclass(frozen=True, slots=True)
class _Follower:
    keys: tuple[str, ...]
    follow: Filler[Any]


# Model -> its fillers in stage order, at most one per stage; each is called with that model's new
# objects of one flush. The stage, not the order modules happen to be imported in, decides who goes first.
_fillers: dict[type[Base], list[tuple[FillStage, Filler[Any]]]] = {}
# Model -> the one function that follows changes to some of its attributes.
_followers: dict[type[Base], _Follower] = {}
# Where the fillers and followers of the flush running now keep what they read, for each other.
_MEMO_KEY = "flush_memo"


def _same_function(first: Callable[..., Any], second: Callable[..., Any]) -> bool:
    # A module imported again (importlib.reload) registers its functions again, as new objects.
    return (first.__module__, first.__qualname__) == (second.__module__, second.__qualname__)


def fills_new(
    model: type[ModelT], stage: FillStage = FillStage.own
) -> Callable[[Filler[ModelT]], Filler[ModelT]]:
    """Register the decorated function to fill what the caller left unset on new ``model`` objects.

    It runs inside the flush, after the timestamps and the workspace are in place and after the model's
    fillers of earlier stages, with the session (whose ``execute`` may be called synchronously there)
    and the flush's new objects of ``model``. A model has one filler per stage.
    """

    def register(filler: Filler[ModelT]) -> Filler[ModelT]:
        registered = _fillers.setdefault(model, [])
        for index, (taken, existing) in enumerate(registered):
            if taken is stage:
                if not _same_function(existing, filler):
                    taken_by = existing.__qualname__
                    raise ValueError(f"{model.__name__} already has a {stage.name} filler: {taken_by}")
                del registered[index]
                break
        registered.append((stage, filler))
        registered.sort(key=lambda entry: entry[0])
        return filler

    return register


def fillers_of(model: type[Base]) -> list[Filler[Any]]:
    """The fillers of new ``model`` objects, in the order a flush runs them."""
    return [filler for _, filler in _fillers.get(model, ())]


def follows_changes(model: type[ModelT], keys: Iterable[str]) -> Callable[[Filler[ModelT]], Filler[ModelT]]:
    """Register the decorated function to bring what derives from ``keys`` up to date on changed
    ``model`` objects.

    It runs inside the flush, last, with the session and the flush's objects of ``model`` whose value of
    one of ``keys`` differs from the stored one. ``updated_at`` has been stamped by then, so on a model
    that has it, it tells when the change was made. A model has one follower.
    """
    watched = tuple(keys)

    def register(follow: Filler[ModelT]) -> Filler[ModelT]:
        existing = _followers.get(model)
        if existing is not None and not _same_function(existing.follow, follow):
            raise ValueError(f"{model.__name__} already has a follower: {existing.follow.__qualname__}")
        _followers[model] = _Follower(watched, follow)
        return follow

    return register


def flush_memo(session: Session) -> dict[str, Any]:
    """What the fillers and followers of the flush running now have read, for those after them.

    It is emptied when they are done, so nothing read in one flush is taken for true in the next. Outside
    a flush there is nothing to share, and each call gets an empty dictionary of its own.
    """
    memo: dict[str, Any] | None = session.info.get(_MEMO_KEY)
    return {} if memo is None else memo


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
    session.info[_MEMO_KEY] = {}
    try:
        for model, instances in by_model.items():
            instances.sort(key=lambda instance: inspect(instance).insert_order or 0)
            for _stage, filler in _fillers[model]:
                filler(session, instances)
        followed: dict[type[Base], list[Any]] = {}
        for instance in dirty:
            model = _model(instance)
            stamped = _timestamps(model)[1]
            follower = _followers.get(model)
            if not stamped and follower is None:
                continue
            state = inspect(instance)
            changed = state.committed_state
            if not changed:
                continue  # nothing changed
            if stamped and "updated_at" not in changed:  # else the caller stamped the change itself
                touching = _touching_keys(model)
                if any(key in touching and state.attrs[key].history.has_changes() for key in changed):
                    now = now or session_clock(session.info).now()
                    instance.updated_at = now
            if follower is not None and any(
                key in changed and state.attrs[key].history.has_changes() for key in follower.keys
            ):
                followed.setdefault(model, []).append(instance)
        for model, instances in followed.items():
            _followers[model].follow(session, instances)
    finally:
        del session.info[_MEMO_KEY]


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
