"""/api/v1/admin/deliveries: every side effect the workspace sent or is sending, and retrying dead ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from supportdesk.auth.dependencies import Context, allowed
from supportdesk.core.http import model_response
from supportdesk.core.pagination import Page
from supportdesk.core.permissions import Action
from supportdesk.core.schemas import MAX_ID, ObjectId, QueryText
from supportdesk.idempotency.service import IdempotencyKey, idempotency_for
from supportdesk.jobs import deliveries
from supportdesk.jobs.models import DeliveryChannel, DeliveryState, OutboxMessage
from supportdesk.jobs.schemas import DeliveryAttemptOut, DeliveryDetailOut, DeliveryOut

router = APIRouter(prefix="/admin/deliveries", tags=["deliveries"])

Managing = Annotated[Context, Depends(allowed(Action.manage_deliveries))]


async def delivery_page(context: Context, rows: Sequence[OutboxMessage]) -> list[DeliveryOut]:
    """A page of messages, each with what its latest attempt got (one query for the page)."""
    return await deliveries.delivery_views(context.session, rows)


async def delivery_detail(context: Context, message: OutboxMessage) -> DeliveryDetailOut:
    """A message with its payload and every attempt."""
    attempts = (await deliveries.attempts_of(context.session, [message.id]))[message.id]
    return DeliveryDetailOut(
        **deliveries.delivery_out(message, attempts).model_dump(),
        payload=message.payload,
        attempt_log=[DeliveryAttemptOut.model_validate(attempt) for attempt in attempts],
    )


@router.get("", response_model=Page[DeliveryOut], summary="List deliveries, newest first (admins)")
async def list_deliveries(
    context: Managing,
    state: DeliveryState | None = None,
    channel: DeliveryChannel | None = None,
    ticket_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    target: QueryText | None = None,
    cursor: QueryText | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Page[DeliveryOut]:
    page_size = min(limit or context.settings.page_size_default, context.settings.page_size_max)
    filters = deliveries.DeliveryFilter(state=state, channel=channel, ticket_id=ticket_id, target=target)
    rows, next_cursor = await deliveries.list_deliveries(
        context.session, filters, limit=page_size, cursor=cursor
    )
    return Page[DeliveryOut](
        items=await delivery_page(context, rows), next_cursor=next_cursor, limit=page_size
    )


@router.get("/{delivery_id:int}", response_model=DeliveryDetailOut, summary="Get a delivery and its attempts")
async def get_delivery(delivery_id: ObjectId, context: Managing) -> DeliveryDetailOut:
    message = await deliveries.get_delivery(context.session, delivery_id)
    return await delivery_detail(context, message)


@router.post(
    "/{delivery_id:int}/retry",
    response_model=DeliveryDetailOut,
    summary="Try a dead delivery again, with a fresh set of attempts (admins)",
)
async def retry_delivery(
    delivery_id: ObjectId, context: Managing, request: Request, idempotency_key: IdempotencyKey = None
) -> Response:
    idempotency = await idempotency_for(request, context, idempotency_key)
    if (replay := await idempotency.replay()) is not None:
        return replay
    message = await deliveries.get_delivery(context.session, delivery_id)
    message = await deliveries.retry_delivery(context.session, context.clock, message)
    response = model_response(await delivery_detail(context, message))
    return await context.commit(response, idempotency)
