"""/api/v1/me/notifications: the signed-in user's inbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from supportdesk.auth.dependencies import ContextDep
from supportdesk.core.http import model_response
from supportdesk.core.pagination import Page
from supportdesk.core.schemas import ObjectId, QueryText
from supportdesk.notifications import service
from supportdesk.notifications.schemas import MarkedRead, NotificationOut

router = APIRouter(prefix="/me/notifications", tags=["notifications"])


@router.get("", response_model=Page[NotificationOut], summary="My notifications, newest first")
async def list_notifications(
    context: ContextDep,
    unread: bool = False,
    cursor: QueryText | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    page_size = min(limit or context.settings.page_size_default, context.settings.page_size_max)
    page = await service.list_for_user(
        context.session, context.user.id, unread_only=unread, limit=page_size, cursor=cursor
    )
    body = Page[NotificationOut].model_validate(
        {"items": page.items, "next_cursor": page.next_cursor, "limit": page_size}, from_attributes=True
    )
    return model_response(body)


@router.post("/{notification_id:int}/read", response_model=NotificationOut, summary="Mark one read")
async def mark_read(notification_id: ObjectId, context: ContextDep) -> Response:
    notification = await service.mark_read(context.session, context.clock, context.user.id, notification_id)
    return await context.commit(model_response(NotificationOut.model_validate(notification)))


@router.post("/read", response_model=MarkedRead, summary="Mark all read")
async def mark_all_read(context: ContextDep) -> Response:
    marked = await service.mark_all_read(context.session, context.clock, context.user.id)
    return await context.commit(model_response(MarkedRead(marked=marked)))
