"""Webhook subscriptions: where a workspace's events are sent, which ones, and the secrets that sign them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.db.base import Base, BigIntId, WorkspaceScoped
from supportdesk.db.types import JSONType, json_default_list


class WebhookEvent(StrEnum):
    """What a subscription can ask to hear about; the value is the event's ``type`` on the wire."""

    ticket_created = "ticket.created"
    ticket_updated = "ticket.updated"
    ticket_assigned = "ticket.assigned"
    ticket_status_changed = "ticket.status_changed"
    ticket_escalated = "ticket.escalated"
    comment_created = "comment.created"
    sla_breached = "sla.breached"


class WebhookSubscription(WorkspaceScoped, Base):
    """An endpoint that receives the workspace's events of the listed types, signed per Standard Webhooks."""

    __tablename__ = "webhook_subscription"
    __table_args__ = (Index("ix_webhook_subscription_workspace", "workspace_id", "id"),)
    __audited__ = True
    # The signing secrets are never written into the audit trail.
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset(
        {"updated_at", "version", "secret", "previous_secret", "previous_secret_expires_at"}
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[list[str]] = mapped_column(JSONType, default=json_default_list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why the desk switched it off by itself (the endpoint answered 410 Gone); cleared when an admin
    # switches it on again.
    disabled_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    secret: Mapped[str] = mapped_column(String(100))
    # During a rotation, the secret being retired still signs too, until it expires.
    previous_secret: Mapped[str | None] = mapped_column(String(100), default=None)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        """The secrets a message sent at ``now`` is signed with: the current one, and the previous one
        while its overlap lasts."""
        if self.previous_secret and self.previous_secret_expires_at and now < self.previous_secret_expires_at:
            return (self.secret, self.previous_secret)
        return (self.secret,)
