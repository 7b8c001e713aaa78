"""The signed-in person's notifications, as a page: newest first, unread ones marked, each leading to
its ticket, through the same notification service the API's ``/api/v1/me/notifications`` uses.

Opening a notification marks it read and goes on to its ticket; "Mark all read" empties the unread
count. The badge in the top bar counts the unread ones on every page, and a notification pushed while
a page is open raises it there (``static/app.js``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from supportdesk.auth.dependencies import Context, get_context
from supportdesk.core.errors import InvalidInput, NotFound
from supportdesk.core.schemas import MAX_ID
from supportdesk.notifications import service as notification_service
from supportdesk.web.pages import WEB_PREFIX, PageRoute, checked_form, chrome, render

INBOX_PATH = f"{WEB_PREFIX}/inbox"
_NOTICES = {"all": "Every notification is marked read.", "none": "There was nothing unread."}

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=PageRoute)
SignedIn = Annotated[Context, Depends(get_context)]


@router.get("/inbox")
async def inbox(request: Request, context: SignedIn) -> Response:
    """The caller's notifications, newest first; ``?unread=1`` shows only the unread ones."""
    unread_only = request.query_params.get("unread") == "1"
    cursor = request.query_params.get("cursor") or None
    settings = context.settings
    limit = min(settings.page_size_default, settings.page_size_max)
    notice = _NOTICES.get(request.query_params.get("marked", ""))
    try:
        page = await notification_service.list_for_user(
            context.session, context.user.id, unread_only=unread_only, limit=limit, cursor=cursor
        )
    except InvalidInput:
        # A damaged or foreign page link: the inbox from its first page.
        cursor = None
        notice = "That page link no longer fits this list; here is its first page."
        page = await notification_service.list_for_user(
            context.session, context.user.id, unread_only=unread_only, limit=limit, cursor=None
        )
    return render(
        request,
        "inbox.html",
        **await chrome(
            request,
            context,
            section="inbox",
            notes=page.items,
            next_cursor=page.next_cursor,
            first_page=cursor is None,
            unread_only=unread_only,
            notice=notice,
        ),
    )


@router.post("/inbox/{notification_id:int}/open")
async def open_notification(notification_id: int, request: Request, context: SignedIn) -> Response:
    """Mark one notification read and go to its ticket (or back to the inbox when it names none)."""
    await checked_form(request, context.settings)
    if not 0 < notification_id <= MAX_ID:
        raise NotFound("No such notification")
    note = await notification_service.mark_read(
        context.session, context.clock, context.user.id, notification_id
    )
    target = f"{WEB_PREFIX}/tickets/{note.ticket_id}" if note.ticket_id is not None else INBOX_PATH
    return await context.commit(RedirectResponse(target, status_code=303))


@router.post("/inbox/read")
async def mark_all_read(request: Request, context: SignedIn) -> Response:
    """Mark every unread notification of the caller read."""
    await checked_form(request, context.settings)
    marked = await notification_service.mark_all_read(context.session, context.clock, context.user.id)
    target = f"{INBOX_PATH}?marked={'all' if marked else 'none'}"
    return await context.commit(RedirectResponse(target, status_code=303))
