"""Tickets, their tags and comments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportdesk.db.base import Base, BigIntId, WorkspaceScoped
from supportdesk.db.types import enum_column
from supportdesk.people.models import Customer, User


class TicketStatus(StrEnum):
    open = "open"
    assigned = "assigned"
    in_progress = "in_progress"
    pending = "pending"
    resolved = "resolved"
    closed = "closed"


class Priority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class Channel(StrEnum):
    api = "api"
    email = "email"
    portal = "portal"


class Ticket(WorkspaceScoped, Base):
    """A customer's request, from arrival to closing."""

    __tablename__ = "ticket"
    __table_args__ = (
        UniqueConstraint("workspace_id", "number"),
        UniqueConstraint("workspace_id", "external_id"),
        Index("ix_ticket_workspace_created", "workspace_id", "created_at", "id"),
        Index("ix_ticket_workspace_updated", "workspace_id", "updated_at", "id"),
        Index("ix_ticket_workspace_status", "workspace_id", "status"),
        Index("ix_ticket_workspace_assignee", "workspace_id", "assigned_agent_id"),
        Index("ix_ticket_workspace_customer", "workspace_id", "customer_id"),
    )
    __audited__ = True

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[TicketStatus] = mapped_column(
        enum_column(TicketStatus, "ticket_status"), default=TicketStatus.open
    )
    priority: Mapped[Priority] = mapped_column(
        enum_column(Priority, "ticket_priority"), default=Priority.medium
    )
    category: Mapped[str] = mapped_column(String(64), default="general")
    customer_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("customer.id", ondelete="SET NULL"), default=None
    )
    customer_email: Mapped[str | None] = mapped_column(String(254), default=None)
    assigned_agent_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "ticket_channel"), default=Channel.api)
    external_id: Mapped[str | None] = mapped_column(String(200), default=None)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    first_responded_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)

    customer: Mapped[Customer | None] = relationship(back_populates="tickets", lazy="raise")
    assigned_agent: Mapped[User | None] = relationship(lazy="raise")
    tag_rows: Mapped[list[TicketTag]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="TicketTag.name"
    )
    comments: Mapped[list[Comment]] = relationship(
        lazy="raise",
        cascade="all, delete-orphan",
        order_by="(Comment.created_at, Comment.id)",
        back_populates="ticket",
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def tags(self) -> list[str]:
        """The ticket's tags, sorted."""
        return sorted(row.name for row in self.tag_rows)

    def is_urgent(self) -> bool:
        """Open, unassigned and high or critical: see :func:`supportdesk.tickets.rules.is_urgent`."""
        from supportdesk.tickets.rules import is_urgent

        return is_urgent(self.status, self.priority, self.assigned_agent_id)


class TicketTag(WorkspaceScoped, Base):
    """One tag on one ticket."""

    __tablename__ = "ticket_tag"
    __table_args__ = (Index("ix_ticket_tag_name_workspace", "name", "workspace_id"),)
    __audited__ = True
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset({"ticket_id", "workspace_id"})
    __audit_labels__: ClassVar[dict[str, str]] = {"name": "tag"}
    __audit_is_child__ = True

    ticket_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)

    def audit_subject(self) -> tuple[int, str, int]:
        """Tag changes belong to the ticket's audit trail."""
        return self.workspace_id, "ticket", self.ticket_id


class Comment(WorkspaceScoped, Base):
    """A message on a ticket, by a staff user or by the customer; public or internal."""

    __tablename__ = "comment"
    __table_args__ = (
        Index("ix_comment_ticket_created", "ticket_id", "created_at", "id"),
        CheckConstraint("(author_user_id IS NULL) <> (author_customer_id IS NULL)", name="one_author"),
    )
    __audited__ = True

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("ticket.id", ondelete="CASCADE"))
    # Authors are kept, never nulled: staff are deactivated rather than deleted.
    author_user_id: Mapped[int | None] = mapped_column(BigIntId, ForeignKey("user.id"), default=None)
    author_customer_id: Mapped[int | None] = mapped_column(BigIntId, ForeignKey("customer.id"), default=None)
    author_email: Mapped[str | None] = mapped_column(String(254), default=None)
    content: Mapped[str] = mapped_column(Text)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]

    ticket: Mapped[Ticket] = relationship(back_populates="comments", lazy="raise")
