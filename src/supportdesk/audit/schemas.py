"""Audit events as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from supportdesk.audit.models import ActorType, AuditAction
from supportdesk.core.schemas import ResponseModel


class AuditEventOut(ResponseModel):
    id: int
    actor_type: ActorType
    actor_id: int | None
    action: AuditAction
    object_type: str
    object_id: int
    changes: dict[str, Any]
    created_at: datetime
