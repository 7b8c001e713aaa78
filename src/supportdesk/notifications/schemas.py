"""Response bodies of the staff inbox API."""

from __future__ import annotations

from datetime import datetime

from supportdesk.core.schemas import ResponseModel
from supportdesk.notifications.models import NotificationKind


class NotificationOut(ResponseModel):
    id: int
    kind: NotificationKind
    ticket_id: int | None
    message: str
    priority: str
    created_at: datetime
    read_at: datetime | None


class MarkedRead(ResponseModel):
    marked: int
