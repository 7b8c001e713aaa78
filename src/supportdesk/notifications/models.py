"""A staff user's in-app notifications."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.db.base import Base, BigIntId, WorkspaceScoped
from supportdesk.db.types import enum_column


class NotificationKind(StrEnum):
    sla_breach = "sla_breach"
    escalation = "escalation"
    pending_reminder = "pending_reminder"
    assignment = "assignment"
    trigger = "trigger"


class Notification(WorkspaceScoped, Base):
    """Something one staff user should know about, usually about one ticket."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_created", "user_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("user.id", ondelete="CASCADE"))
    kind: Mapped[NotificationKind] = mapped_column(enum_column(NotificationKind, "notification_kind"))
    ticket_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("ticket.id", ondelete="CASCADE"), default=None, index=True
    )
    message: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16), default="medium")
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None] = mapped_column(default=None)
