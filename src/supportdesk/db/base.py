"""Declarative base, shared column types and mixins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, MetaData, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.sql.type_api import _ResultProcessorType
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL; SQLite only auto-increments a column declared exactly INTEGER (and refuses
# AUTOINCREMENT on any other type), so the SQLite variant must stay plain Integer.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        # SQLite has no time zones; keep UTC without an offset so text comparison orders correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> _ResultProcessorType[datetime] | None:
        # asyncpg already decodes timestamptz as an aware UTC datetime: a list of 50 tickets would call
        # the conversion above some 650 times for nothing.
        if dialect.driver == "asyncpg":
            return None
        return super().result_processor(dialect, coltype)


class Base(DeclarativeBase):
    """Base of every ORM model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}

    # Fields left out of audit events: secrets, and bookkeeping that changes on every write.
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset({"updated_at", "version"})
    # Whether changes to rows of this model are recorded as audit events.
    __audited__: ClassVar[bool] = False
    # Names audit events use for columns, where the column's own name would mislead.
    __audit_labels__: ClassVar[dict[str, str]] = {}
    # Rows that are part of a parent: adding or removing one is an update of the parent.
    __audit_is_child__: ClassVar[bool] = False

    @classmethod
    def __table_cls__(cls, *args: Any, **kwargs: Any) -> Table:
        """Build every model's table with ``sqlite_autoincrement``, so no model can forget it.

        Without AUTOINCREMENT, SQLite hands out max(id) + 1, so deleting the newest row frees its id for
        the next insert, and audit events, idempotency records or links that named the deleted row would
        then name the new one. PostgreSQL sequences never go back, and SQLite ignores the option for
        tables whose key is not a single integer column (a ticket's tags).
        """
        kwargs.setdefault("sqlite_autoincrement", True)
        return Table(*args, **kwargs)

    def audit_subject(self) -> tuple[int, str, int]:
        """(workspace id, object type, object id) an audit event about this row is filed under.

        Child rows without an identity of their own (a ticket's tags) file their changes under the parent.
        """
        return int(getattr(self, "workspace_id")), str(self.__tablename__), int(getattr(self, "id"))  # noqa: B009


class WorkspaceScoped:
    """Rows that belong to exactly one workspace; the session scopes every query by it."""

    # No index of its own: every query also filters by something more selective, and composite
    # indexes lead with workspace_id where a workspace-wide scan is wanted. A lone workspace_id index
    # only tempts SQLite's planner (which has no statistics) away from the selective one.
    @declared_attr
    def workspace_id(cls) -> Mapped[int]:
        return mapped_column(BigIntId, ForeignKey("workspace.id", ondelete="CASCADE"), nullable=False)
