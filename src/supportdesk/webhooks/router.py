"""/api/v1/webhooks: subscriptions (admins), their secrets, their delivery log and replays."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from supportdesk.auth.dependencies import Context, allowed
from supportdesk.core.http import (
    IfMatch,
    created_headers,
    model_response,
    named_fields,
    parse_if_match,
    versioned_response,
)
from supportdesk.core.pagination import Page
from supportdesk.core.permissions import Action
from supportdesk.core.schemas import ObjectId, QueryText
from supportdesk.idempotency.service import IdempotencyKey, idempotency_for
from supportdesk.jobs import deliveries
from supportdesk.jobs.models import DeliveryChannel, DeliveryState
from supportdesk.jobs.router import delivery_detail, delivery_page
from supportdesk.jobs.schemas import DeliveryDetailOut, DeliveryOut
from supportdesk.webhooks import service
from supportdesk.webhooks.models import WebhookSubscription
from supportdesk.webhooks.schemas import (
    SecretRotation,
    SubscriptionCreate,
    SubscriptionOut,
    SubscriptionUpdate,
    SubscriptionWithSecret,
)
from supportdesk.webhooks.targets import TargetPolicy

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

Managing = Annotated[Context, Depends(allowed(Action.manage_webhooks))]


def _policy(context: Context) -> TargetPolicy:
    return TargetPolicy.from_setting(context.settings.webhook_allowed_targets)


def _with_secret(subscription: WebhookSubscription) -> SubscriptionWithSecret:
    return SubscriptionWithSecret.model_validate(subscription)


@router.get("", response_model=list[SubscriptionOut], summary="List webhook subscriptions (admins)")
async def list_subscriptions(context: Managing) -> list[SubscriptionOut]:
    found = await service.list_subscriptions(context.session)
    return [SubscriptionOut.model_validate(subscription) for subscription in found]


@router.post(
    "", status_code=201, response_model=SubscriptionWithSecret, summary="Add a webhook subscription (admins)"
)
async def create_subscription(
    body: SubscriptionCreate, context: Managing, request: Request, idempotency_key: IdempotencyKey = None
) -> Response:
    idempotency = await idempotency_for(request, context, idempotency_key)
    if (replay := await idempotency.replay()) is not None:
        return replay
    subscription = await service.create_subscription(
        context.session,
        context.clock,
        _policy(context),
        workspace_id=context.workspace_id,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        is_active=body.is_active,
    )
    headers = created_headers(subscription.version, f"/api/v1/webhooks/{subscription.id}")
    response = model_response(_with_secret(subscription), status_code=201, headers=headers)
    return await context.commit(response, idempotency)


@router.get("/{subscription_id:int}", response_model=SubscriptionOut, summary="Get a webhook subscription")
async def get_subscription(subscription_id: ObjectId, context: Managing) -> Response:
    subscription = await service.get_subscription(context.session, subscription_id)
    return versioned_response(SubscriptionOut.model_validate(subscription), subscription.version)


@router.patch(
    "/{subscription_id:int}", response_model=SubscriptionOut, summary="Change a webhook subscription (admins)"
)
async def update_subscription(
    subscription_id: ObjectId, body: SubscriptionUpdate, context: Managing, if_match: IfMatch = None
) -> Response:
    expected = parse_if_match(if_match)
    subscription = await service.get_subscription(context.session, subscription_id)
    subscription = await service.update_subscription(
        context.session,
        context.clock,
        _policy(context),
        subscription,
        named_fields(body),
        expected_version=expected,
    )
    view = SubscriptionOut.model_validate(subscription)
    return await context.commit(versioned_response(view, subscription.version))


@router.delete("/{subscription_id:int}", status_code=204, summary="Delete a webhook subscription (admins)")
async def delete_subscription(subscription_id: ObjectId, context: Managing) -> Response:
    subscription = await service.get_subscription(context.session, subscription_id)
    await service.delete_subscription(context.session, subscription)
    return await context.commit(Response(status_code=204))


@router.post(
    "/{subscription_id:int}/rotate-secret",
    response_model=SubscriptionWithSecret,
    summary="Give a subscription a new signing secret; the old one signs too during the overlap",
)
async def rotate_secret(
    subscription_id: ObjectId, context: Managing, body: SecretRotation | None = None, if_match: IfMatch = None
) -> Response:
    expected = parse_if_match(if_match)
    overlap = timedelta(hours=(body or SecretRotation()).overlap_hours)
    subscription = await service.get_subscription(context.session, subscription_id)
    subscription = await service.rotate_secret(
        context.session, context.clock, subscription, overlap=overlap, expected_version=expected
    )
    return await context.commit(versioned_response(_with_secret(subscription), subscription.version))


@router.get(
    "/{subscription_id:int}/deliveries",
    response_model=Page[DeliveryOut],
    summary="The subscription's delivery log, newest first",
)
async def list_deliveries(
    subscription_id: ObjectId,
    context: Managing,
    state: DeliveryState | None = None,
    cursor: QueryText | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Page[DeliveryOut]:
    subscription = await service.get_subscription(context.session, subscription_id)
    page_size = min(limit or context.settings.page_size_default, context.settings.page_size_max)
    filters = deliveries.DeliveryFilter(
        state=state, channel=DeliveryChannel.webhook, target=str(subscription.id)
    )
    rows, next_cursor = await deliveries.list_deliveries(
        context.session, filters, limit=page_size, cursor=cursor
    )
    return Page[DeliveryOut](
        items=await delivery_page(context, rows), next_cursor=next_cursor, limit=page_size
    )


@router.post(
    "/{subscription_id:int}/deliveries/{delivery_id:int}/replay",
    status_code=201,
    response_model=DeliveryDetailOut,
    summary="Send an earlier delivery's event again, as a new delivery",
)
async def replay_delivery(
    subscription_id: ObjectId,
    delivery_id: ObjectId,
    context: Managing,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    idempotency = await idempotency_for(request, context, idempotency_key)
    if (replay := await idempotency.replay()) is not None:
        return replay
    subscription = await service.get_subscription(context.session, subscription_id)
    message = await service.replay(context.session, context.clock, subscription, delivery_id)
    headers = {"Location": f"/api/v1/admin/deliveries/{message.id}"}
    response = model_response(await delivery_detail(context, message), status_code=201, headers=headers)
    return await context.commit(response, idempotency)
