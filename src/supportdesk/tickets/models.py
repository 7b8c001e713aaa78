"""Tickets, their tags and comments."""

from __future__ import annotations

from dataclasses import dataclass
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
    and_,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

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
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset(
        {
            "updated_at",
            "version",
            "sla_paused_at",
            "sla_paused_seconds",
            "first_response_at_risk_at",
            "resolution_at_risk_at",
            "first_response_breach_notified_at",
            "resolution_breach_notified_at",
            "pending_reminded_at",
            "assignment_seq",
        }
    )
    # Changes that alone do not make the ticket "updated" when a flush stamps updated_at for a caller
    # that did not (db.defaults): the SLA bookkeeping that follows a policy change, as the services treat it.
    __touch_exclude__: ClassVar[frozenset[str]] = __audit_exclude__ | {
        "sla_policy_id",
        "first_response_due_at",
        "resolution_due_at",
    }
    # Read by id through the object cache (db.objects) as a ListedTicket; a change forgets it.
    __object_cache__: ClassVar[tuple[str, str]] = ("ticket", "id")

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
    # The closed ticket this one follows up: a customer wrote again after it was closed.
    follow_up_of_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("ticket.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    first_responded_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    # SLA: each due time is kept while its clock runs and after it stops (for display); the partial
    # indexes below hold only running clocks, so the breach scan never reads settled tickets.
    # The policy the due times came from. No foreign key: deleting or editing a policy re-matches every
    # active ticket of the workspace (the service does it), which a SET NULL could not.
    sla_policy_id: Mapped[int | None] = mapped_column(BigIntId, default=None)
    # The workspace's assignment number when automatic assignment gave the ticket to its agent; round
    # robin reads each agent's latest one. Cleared when somebody reassigns the ticket by hand.
    assignment_seq: Mapped[int | None] = mapped_column(BigIntId, default=None)
    first_response_due_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution_due_at: Mapped[datetime | None] = mapped_column(default=None)
    # When less than a quarter of each target is left: kept so "at risk" is a query, not a computation.
    first_response_at_risk_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution_at_risk_at: Mapped[datetime | None] = mapped_column(default=None)
    # The resolution clock stands still while pending or resolved: since when, and for how long in all
    # (in the policy's counting time, seconds) before that.
    sla_paused_at: Mapped[datetime | None] = mapped_column(default=None)
    sla_paused_seconds: Mapped[int] = mapped_column(Integer, default=0)
    first_response_breach_notified_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution_breach_notified_at: Mapped[datetime | None] = mapped_column(default=None)
    pending_reminded_at: Mapped[datetime | None] = mapped_column(default=None)
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


# Which clocks are running, as SQL. The partial indexes and the queries use these same expressions, so
# the planner can match them (PostgreSQL uses a partial index only when the query implies its predicate).
FIRST_RESPONSE_RUNNING_STATUSES = (TicketStatus.open, TicketStatus.assigned, TicketStatus.pending)
RESOLUTION_RUNNING_STATUSES = (TicketStatus.open, TicketStatus.assigned, TicketStatus.in_progress)
# Statuses of tickets somebody still has to act on: what an agent's "My tickets" lists.
ACTIVE_STATUSES = (TicketStatus.open, TicketStatus.assigned, TicketStatus.in_progress, TicketStatus.pending)


def first_response_running() -> ColumnElement[bool]:
    """The first-response clock runs until the first response, and not once resolved or closed."""
    return and_(
        Ticket.first_responded_at.is_(None),
        Ticket.status.in_([status.value for status in FIRST_RESPONSE_RUNNING_STATUSES]),
    )


def active() -> ColumnElement[bool]:
    """Somebody still has to act on the ticket (:data:`ACTIVE_STATUSES`)."""
    return Ticket.status.in_([status.value for status in ACTIVE_STATUSES])


def resolution_running() -> ColumnElement[bool]:
    """The resolution clock runs while somebody owes the customer work (not pending, resolved, closed)."""
    return Ticket.status.in_([status.value for status in RESOLUTION_RUNNING_STATUSES])


Index(
    "ix_ticket_first_response_due",
    Ticket.workspace_id,
    Ticket.first_response_due_at,
    postgresql_where=first_response_running(),
    sqlite_where=first_response_running(),
)
Index(
    "ix_ticket_resolution_due",
    Ticket.workspace_id,
    Ticket.resolution_due_at,
    postgresql_where=resolution_running(),
    sqlite_where=resolution_running(),
)
# The moments running targets fall at risk: the "SLA at risk" queue walks those already passed.
Index(
    "ix_ticket_first_response_at_risk",
    Ticket.workspace_id,
    Ticket.first_response_at_risk_at,
    postgresql_where=first_response_running(),
    sqlite_where=first_response_running(),
)
Index(
    "ix_ticket_resolution_at_risk",
    Ticket.workspace_id,
    Ticket.resolution_at_risk_at,
    postgresql_where=resolution_running(),
    sqlite_where=resolution_running(),
)
# Each agent's active tickets: "My tickets" and its count on every page of the workspace. The index holds
# only those, so counting them (up to the badge's cap) reads the index alone, where the planner would
# otherwise scan the table from the start for an agent's tickets, which are the recent ones at its end.
Index(
    "ix_ticket_active_assignee",
    Ticket.workspace_id,
    Ticket.assigned_agent_id,
    postgresql_where=active(),
    sqlite_where=active(),
)
# The same agent's running targets in due order: "My tickets" sorted SLA due first reads each clock's
# next due tickets of the agent from these. Walking the workspace's due-time indexes instead and
# skipping other agents' tickets reads all of them when the agent has none of that clock running.
Index(
    "ix_ticket_assignee_first_response_due",
    Ticket.workspace_id,
    Ticket.assigned_agent_id,
    Ticket.first_response_due_at,
    postgresql_where=first_response_running(),
    sqlite_where=first_response_running(),
)
Index(
    "ix_ticket_assignee_resolution_due",
    Ticket.workspace_id,
    Ticket.assigned_agent_id,
    Ticket.resolution_due_at,
    postgresql_where=resolution_running(),
    sqlite_where=resolution_running(),
)
Index(
    "ix_ticket_agent_assignment",
    Ticket.workspace_id,
    Ticket.assigned_agent_id,
    Ticket.assignment_seq,
    postgresql_where=Ticket.assignment_seq.is_not(None),
    sqlite_where=Ticket.assignment_seq.is_not(None),
)
Index(
    "ix_ticket_resolved_at",
    Ticket.workspace_id,
    Ticket.resolved_at,
    postgresql_where=Ticket.status == TicketStatus.resolved.value,
    sqlite_where=Ticket.status == TicketStatus.resolved.value,
)
Index(
    "ix_ticket_pending_since",
    Ticket.workspace_id,
    Ticket.sla_paused_at,
    postgresql_where=Ticket.status == TicketStatus.pending.value,
    sqlite_where=Ticket.status == TicketStatus.pending.value,
)


@dataclass(slots=True)
class ListedTicket:
    """A ticket as a list reads it: the columns its view and SLA need, and its tags; read with Core,
    without the ORM's per-object bookkeeping (a page holds fifty)."""

    id: int
    number: int
    title: str
    description: str
    status: TicketStatus
    priority: Priority
    category: str
    customer_id: int | None
    customer_email: str | None
    assigned_agent_id: int | None
    channel: Channel
    external_id: str | None
    escalated: bool
    follow_up_of_id: int | None
    created_at: datetime
    updated_at: datetime
    first_responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    version: int
    sla_policy_id: int | None
    sla_paused_at: datetime | None
    sla_paused_seconds: int
    first_response_due_at: datetime | None
    first_response_at_risk_at: datetime | None
    resolution_due_at: datetime | None
    resolution_at_risk_at: datetime | None
    tags: list[str]


class TicketTag(WorkspaceScoped, Base):
    """One tag on one ticket."""

    __tablename__ = "ticket_tag"
    __table_args__ = (Index("ix_ticket_tag_name_workspace", "name", "workspace_id"),)
    __audited__ = True
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset({"ticket_id", "workspace_id"})
    __audit_labels__: ClassVar[dict[str, str]] = {"name": "tag"}
    __audit_is_child__ = True
    # A ticket's record holds its tags: adding or removing one changes the ticket's.
    __object_cache__: ClassVar[tuple[str, str]] = ("ticket", "ticket_id")

    ticket_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)

    def audit_subject(self) -> tuple[int, str, int]:
        """Tag changes belong to the ticket's audit trail."""
        return self.workspace_id, "ticket", self.ticket_id


class Comment(WorkspaceScoped, Base):
    """A message on a ticket, by a staff user, by the customer, or (an internal note a trigger wrote when
    no staff user set it off: mail arriving, a visitor's form) by the desk itself, with no author."""

    __tablename__ = "comment"
    __table_args__ = (
        Index("ix_comment_ticket_created", "ticket_id", "created_at", "id"),
        CheckConstraint("author_user_id IS NULL OR author_customer_id IS NULL", name="one_author"),
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


class Attachment(WorkspaceScoped, Base):
    """A file attached to a comment; its bytes are in the file store under ``sha256``."""

    __tablename__ = "attachment"
    __table_args__ = (Index("ix_attachment_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("ticket.id", ondelete="CASCADE"))
    comment_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("comment.id", ondelete="CASCADE"))
    # The name its sender gave it, without any folder; shown, and offered when it is downloaded.
    filename: Mapped[str] = mapped_column(String(255))
    # The type its sender declared; what a download is served as is decided when it is served.
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(BigIntId)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class TicketParticipant(WorkspaceScoped, Base):
    """Someone besides the customer who hears the ticket's public replies by e-mail: a colleague of the
    customer, a supplier. Only an agent adds one; writing to the desk never makes anyone a participant."""

    __tablename__ = "ticket_participant"
    __table_args__ = (
        UniqueConstraint("ticket_id", "email"),
        Index("ix_ticket_participant_workspace_email", "workspace_id", "email"),
    )
    __audited__ = True

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("ticket.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    added_by_user_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime]


class SatisfactionRating(StrEnum):
    good = "good"
    bad = "bad"


class TicketSatisfaction(WorkspaceScoped, Base):
    """What the customer said of how their request was resolved: good or bad, and a word or two.

    One row per ticket; a customer who changes their mind changes it, and the ticket's audit trail keeps
    every answer, since the row's changes are filed under the ticket."""

    __tablename__ = "ticket_satisfaction"
    __table_args__ = (UniqueConstraint("ticket_id"),)
    __audited__ = True
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset(
        {"id", "ticket_id", "workspace_id", "customer_id", "updated_at"}
    )
    __audit_labels__: ClassVar[dict[str, str]] = {
        "rating": "satisfaction",
        "comment": "satisfaction_comment",
        "rated_at": "satisfaction_rated_at",
    }
    __audit_is_child__ = True

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("ticket.id", ondelete="CASCADE"))
    # Who answered; kept when the customer is deleted only as long as the ticket is.
    customer_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("customer.id", ondelete="SET NULL"), default=None
    )
    rating: Mapped[SatisfactionRating] = mapped_column(enum_column(SatisfactionRating, "satisfaction_rating"))
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    rated_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    def audit_subject(self) -> tuple[int, str, int]:
        """A rating belongs to the ticket's audit trail."""
        return self.workspace_id, "ticket", self.ticket_id
