"""Audit events: who did what to which object, when, with the changed fields before and after."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.db.base import Base, BigIntId, WorkspaceScoped
from supportdesk.db.types import JSONType, enum_column


class ActorType(StrEnum):
    user = "user"
    customer = "customer"
    system = "system"


class AuditAction(StrEnum):
    created = "created"
    updated = "updated"
    deleted = "deleted"


class AuditEvent(WorkspaceScoped, Base):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_object", "workspace_id", "object_type", "object_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    actor_type: Mapped[ActorType] = mapped_column(enum_column(ActorType, "audit_actor_type"))
    actor_id: Mapped[int | None] = mapped_column(BigIntId, default=None)
    action: Mapped[AuditAction] = mapped_column(enum_column(AuditAction, "audit_action"))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[int] = mapped_column(BigIntId)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime]
