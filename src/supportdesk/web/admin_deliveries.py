"""The delivery log admin page, for admins only: every message the workspace sent or is sending (e-mail,
webhooks, CRM look-ups, arrived mail to process), newest first, and retrying a dead one.

The page reads and retries through the delivery log's own functions, the ones
``/api/v1/admin/deliveries`` calls: the same filters (state, channel, ticket), the same keyset pages,
and the same rule that only a message nobody is sending and nobody delivered may be tried again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from supportdesk.auth.dependencies import Context, get_context
from supportdesk.core.errors import InvalidInput
from supportdesk.core.permissions import Action
from supportdesk.core.schemas import MAX_ID
from supportdesk.jobs import deliveries
from supportdesk.jobs.models import DeliveryChannel, DeliveryState
from supportdesk.web import admin_parts as parts
from supportdesk.web.pages import WEB_PREFIX, PageRoute, checked_form

DELIVERIES_PATH = f"{WEB_PREFIX}/admin/deliveries"
_NOTICES = {"retried": "The delivery is due again, with a fresh set of attempts."}

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=PageRoute)
Managing = Annotated[Context, Depends(get_context)]


@dataclass(slots=True)
class LogFilters:
    """The log's filters as the page shows them: what was chosen or typed, and what could not be used."""

    state: str = ""
    channel: str = ""
    ticket: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def query(self, **extra: str) -> str:
        """The filters (and ``extra``) as a page address's query, without the empty ones."""
        chosen = {"state": self.state, "channel": self.channel, "ticket": self.ticket, **extra}
        return urlencode({name: value for name, value in chosen.items() if value})


def _filters(request: Request) -> tuple[LogFilters, deliveries.DeliveryFilter]:
    """The filters of the page's address, checked as the API's query parameters are."""
    query = request.query_params
    shown = LogFilters(query.get("state", ""), query.get("channel", ""), query.get("ticket", "").strip())
    if shown.state and shown.state not in set(DeliveryState):
        shown.errors["state"] = "Choose one of the states."
    if shown.channel and shown.channel not in set(DeliveryChannel):
        shown.errors["channel"] = "Choose one of the channels."
    ticket = parts.typed_number(shown.ticket)
    if ticket is not None and not (isinstance(ticket, int) and 0 < ticket <= MAX_ID):
        shown.errors["ticket"] = "Enter a ticket's number, like 1042."
    if shown.errors:
        return shown, deliveries.DeliveryFilter()
    return shown, deliveries.DeliveryFilter(
        state=DeliveryState(shown.state) if shown.state else None,
        channel=DeliveryChannel(shown.channel) if shown.channel else None,
        ticket_id=ticket if isinstance(ticket, int) else None,
    )


async def delivery_log(
    request: Request, context: Context, filters: deliveries.DeliveryFilter, link: str
) -> dict[str, Any]:
    """A page of the log with ``filters`` from the ``cursor`` of the page's address, as the API pages
    it, and ``link``, the page's address with its query up to the cursor, followed by the next page's."""
    page_size = min(context.settings.page_size_default, context.settings.page_size_max)
    cursor = request.query_params.get("cursor") or None
    try:
        rows, next_cursor = await deliveries.list_deliveries(
            context.session, filters, limit=page_size, cursor=cursor
        )
    except InvalidInput:
        # A damaged page link, or one from other filters: the log from its newest delivery.
        rows, next_cursor = await deliveries.list_deliveries(context.session, filters, limit=page_size)
    separator = "&" if "?" in link else "?"
    next_link = f"{link}{separator}{urlencode({'cursor': next_cursor})}" if next_cursor else None
    return {"log": await deliveries.delivery_views(context.session, rows), "next_link": next_link}


async def _log_page(
    request: Request, context: Context, *, problem: str | None = None, status_code: int = 200
) -> HTMLResponse:
    shown, filters = _filters(request)
    query = shown.query()
    log = await delivery_log(
        request, context, filters, f"{DELIVERIES_PATH}?{query}" if query else DELIVERIES_PATH
    )
    return await parts.admin_page(
        request,
        context,
        "admin_deliveries.html",
        status_code=422 if shown.errors else status_code,
        filters=shown,
        state_options=parts.options(DeliveryState, "Every state"),
        channel_options=parts.options(DeliveryChannel, "Every channel"),
        replay_base=None,
        problem=problem,
        notice=parts.notice(request, _NOTICES),
        **log,
    )


@router.get("/admin/deliveries")
async def deliveries_page(request: Request, context: Managing) -> Response:
    """The workspace's deliveries, newest first, filtered by state, channel and ticket."""
    context.require(Action.manage_deliveries)
    return await _log_page(request, context)


@router.post("/admin/deliveries/{delivery_id:int}/retry")
async def retry_delivery(delivery_id: int, request: Request, context: Managing) -> Response:
    """Try a dead delivery again, as ``POST /api/v1/admin/deliveries/{id}/retry`` does."""
    await checked_form(request, context.settings)
    context.require(Action.manage_deliveries)
    # Another workspace's delivery is not found, as in the API.
    message = await deliveries.get_delivery(context.session, parts.in_range(delivery_id, "delivery"))

    async def refused(status_code: int, _errors: dict[str, str], detail: str) -> Response:
        # Delivered, or being sent right now: the page says so and changes nothing.
        return await _log_page(request, context, problem=detail, status_code=status_code)

    done = await parts.attempt(
        context, partial(deliveries.retry_delivery, context.session, context.clock, message), refused
    )
    if isinstance(done, Response):
        return done
    return await context.commit(parts.saved(DELIVERIES_PATH, "retried"))
