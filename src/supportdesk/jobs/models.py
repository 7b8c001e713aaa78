"""Background work's rows: which scheduled job ran for which tick, and the outbox of side effects."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.db.base import Base, BigIntId, WorkspaceScoped
from supportdesk.db.types import JSONType, enum_column


class JobRun(Base):
    """One run of a scheduled job for one tick; (job, tick) is unique, so only one process claims it."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "tick"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(64))
    tick: Mapped[datetime]
    owner: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    error: Mapped[str | None] = mapped_column(String(2000), default=None)


class DeliveryChannel(StrEnum):
    """How an outbox message leaves: each channel has its own sender and retry policy."""

    email = "email"
    webhook = "webhook"
    crm = "crm"
    inbound = "inbound"  # an arrived e-mail to process (channels.email)


class DeliveryState(StrEnum):
    """Where an outbox message is in its life (docs/architecture.md draws the transitions)."""

    pending = "pending"  # waiting until next_attempt_at
    queued = "queued"  # claimed by a relay and handed to the task queue
    sending = "sending"  # a worker is sending it now
    delivered = "delivered"
    dead = "dead"  # gave up: a permanent refusal, or every attempt failed


# The states a relay or worker still has to act on.
OPEN_STATES = (DeliveryState.pending, DeliveryState.queued, DeliveryState.sending)


class OutboxMessage(WorkspaceScoped, Base):
    """One side effect to deliver, written in the transaction of the change that caused it.

    The row is the only record of the delivery's progress: the task queue carries just "message N,
    attempt k is ready", so a lost or repeated queue message costs a delay, never a delivery.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedupe_key"),
        # The relay's scan: only rows that still need work are indexed, so delivered history costs it
        # nothing.
        Index(
            "ix_outbox_message_due",
            "next_attempt_at",
            sqlite_where=text("state IN ('pending', 'queued', 'sending')"),
            postgresql_where=text("state IN ('pending', 'queued', 'sending')"),
        ),
        # The admin's list of dead messages. Open ones are found through the relay's index and
        # delivered ones are most rows, so only dead rows are indexed: every message is written and
        # moves through three states, and an index on the state took an entry at each step.
        Index(
            "ix_outbox_message_workspace_dead",
            "workspace_id",
            "id",
            sqlite_where=text("state = 'dead'"),
            postgresql_where=text("state = 'dead'"),
        ),
        Index("ix_outbox_message_workspace_ticket", "workspace_id", "ticket_id", "id"),
        Index("ix_outbox_message_workspace_target", "workspace_id", "channel", "target", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    channel: Mapped[DeliveryChannel] = mapped_column(enum_column(DeliveryChannel, "delivery_channel"))
    # Who or what receives it: an e-mail address, a webhook subscription's id, a CRM connection.
    target: Mapped[str] = mapped_column(String(320))
    # What caused it, e.g. "ticket.created:77:webhook:3"; a second message with the same key is the same
    # message and is not written again. It travels outwards (webhook-id, Message-ID) so a receiver can
    # drop a repeat of an at-least-once delivery.
    dedupe_key: Mapped[str] = mapped_column(String(200))
    # The ticket it is about, for the admin list's filter; ids are never reused, so no foreign key
    # (deleting a ticket leaves what was already sent about it on record).
    ticket_id: Mapped[int | None] = mapped_column(BigIntId, default=None)
    # Everything the sender needs, captured when the change happened, so a later edit does not change
    # what is sent.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[DeliveryState] = mapped_column(
        enum_column(DeliveryState, "delivery_state"), default=DeliveryState.pending
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    # When the relay looks at the message next: the retry time while it is pending, and the end of the
    # lease while it is queued or sending (past it, the relay takes the worker or the queue message for
    # lost and hands the message out again). One column keeps the relay's scan on one index.
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(128), default=None)
    last_error: Mapped[str | None] = mapped_column(String(2000), default=None)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    # Which provider of a fallback chain delivered it, and the id that provider gave the message.
    provider: Mapped[str | None] = mapped_column(String(64), default=None)
    provider_message_id: Mapped[str | None] = mapped_column(String(255), default=None)
    manual_retries: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class DeliveryAttempt(WorkspaceScoped, Base):
    """One try at delivering an outbox message: the delivery log admins read."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (Index("ix_delivery_attempt_message", "message_id", "number"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("outbox_message.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    duration_ms: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    provider: Mapped[str | None] = mapped_column(String(64), default=None)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(String(2000), default=None)
