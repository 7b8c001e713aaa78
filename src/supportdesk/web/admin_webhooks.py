"""The webhook admin pages, for admins only: the subscriptions, and per subscription its settings, its
signing secret and its delivery log.

The pages act through the webhook service the API uses (``/api/v1/webhooks``), with the same
permission and rules: a URL must be one the desk may call, a subscription listens to at least one event,
and an edit made on a page shown before another change is refused, as the API's ``If-Match`` is. The
signing secret is shown once, in the answer to the form that created or rotated it, and never again:
every other page gets the subscription as the API lists it, which has no secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from supportdesk.auth.dependencies import Context, get_context
from supportdesk.core.permissions import Action
from supportdesk.jobs import deliveries
from supportdesk.jobs.models import DeliveryChannel, DeliveryState
from supportdesk.web import admin_parts as parts
from supportdesk.web.admin_deliveries import delivery_log
from supportdesk.web.pages import WEB_PREFIX, PageRoute, checked_form, text
from supportdesk.webhooks import service
from supportdesk.webhooks.models import WebhookEvent, WebhookSubscription
from supportdesk.webhooks.schemas import (
    SecretRotation,
    SubscriptionCreate,
    SubscriptionOut,
    SubscriptionUpdate,
)
from supportdesk.webhooks.targets import TargetPolicy

WEBHOOKS_PATH = f"{WEB_PREFIX}/admin/webhooks"
_NOTICES = {
    "changed": "The subscription was changed.",
    "enabled": "The subscription is on: new events are sent to it.",
    "disabled": "The subscription is off: no events are sent to it until it is switched on.",
    "deleted": "The subscription was deleted; messages still waiting for it are dropped.",
    "replayed": "The event is sent again, as a new delivery at the top of the log.",
}
_MESSAGES = {
    "url": "Enter an http(s) URL of up to 2000 characters.",
    "description": "Enter a description of up to 200 characters.",
    "event_types": "Choose at least one event.",
    "overlap_hours": "Enter whole hours from 0 to 168.",
}

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=PageRoute)
Managing = Annotated[Context, Depends(get_context)]


@dataclass(slots=True)
class SubscriptionForm:
    """The form that adds or changes a subscription, as shown: what was typed and why it was refused."""

    url: str = ""
    description: str = ""
    events: list[str] = field(default_factory=lambda: [event.value for event in WebhookEvent])
    is_active: bool = True
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, subscription: WebhookSubscription) -> SubscriptionForm:
        return cls(subscription.url, subscription.description, list(subscription.event_types))

    def body(self) -> dict[str, Any]:
        """The form as the API's body gives it."""
        return {"url": self.url, "description": self.description, "event_types": self.events}


@dataclass(slots=True)
class Shown:
    """What a subscription's page shows besides the subscription: the forms as they were sent, a
    refusal, and the secret just made (only in the answer that made it)."""

    form: SubscriptionForm | None = None
    overlap: str = "24"
    overlap_error: str | None = None
    problem: str | None = None
    secret: str | None = None


def _policy(context: Context) -> TargetPolicy:
    return TargetPolicy.from_setting(context.settings.webhook_allowed_targets)


def _form_from(posted: FormData) -> SubscriptionForm:
    typed = parts.field_text(posted, "url", "description")
    return SubscriptionForm(
        typed["url"],
        typed["description"],
        parts.chosen(posted, "event_types"),
        parts.ticked(posted, "is_active"),
    )


async def _list_page(
    request: Request, context: Context, *, form: SubscriptionForm | None = None, status_code: int = 200
) -> HTMLResponse:
    found = await service.list_subscriptions(context.session)
    return await parts.admin_page(
        request,
        context,
        "admin_webhooks.html",
        status_code=status_code,
        subscriptions=[SubscriptionOut.model_validate(subscription) for subscription in found],
        events=list(WebhookEvent),
        form=form or SubscriptionForm(),
        notice=parts.notice(request, _NOTICES),
    )


async def _subscription_page(
    request: Request,
    context: Context,
    subscription: WebhookSubscription,
    *,
    shown: Shown | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    shown = shown or Shown()
    query = request.query_params
    state = query.get("state", "")
    filters = deliveries.DeliveryFilter(
        state=DeliveryState(state) if state in set(DeliveryState) else None,
        channel=DeliveryChannel.webhook,
        target=str(subscription.id),
    )
    path = f"{WEBHOOKS_PATH}/{subscription.id}"
    log = await delivery_log(request, context, filters, f"{path}?state={state}" if filters.state else path)
    return await parts.admin_page(
        request,
        context,
        "admin_webhooks_subscription.html",
        status_code=status_code,
        subscription=SubscriptionOut.model_validate(subscription),
        events=list(WebhookEvent),
        state_options=parts.options(DeliveryState, "Every state"),
        state=filters.state.value if filters.state else "",
        replay_base=f"{path}/deliveries",
        form=shown.form or SubscriptionForm.of(subscription),
        shown=shown,
        notice=parts.notice(request, _NOTICES),
        **log,
    )


async def _subscription(context: Context, subscription_id: int) -> WebhookSubscription:
    # Another workspace's subscription is not found, as in the API.
    return await service.get_subscription(context.session, parts.in_range(subscription_id, "subscription"))


@router.get("/admin/webhooks")
async def subscriptions_page(request: Request, context: Managing) -> Response:
    """The workspace's webhook subscriptions and the form that adds one."""
    context.require(Action.manage_webhooks)
    return await _list_page(request, context)


@router.post("/admin/webhooks")
async def add_subscription(request: Request, context: Managing) -> Response:
    """Add a subscription, as ``POST /api/v1/webhooks`` does; the answer shows its secret, once."""
    posted = await checked_form(request, context.settings)
    context.require(Action.manage_webhooks)
    form = _form_from(posted)

    async def create() -> WebhookSubscription:
        body = SubscriptionCreate.model_validate({**form.body(), "is_active": form.is_active})
        return await service.create_subscription(
            context.session,
            context.clock,
            _policy(context),
            workspace_id=context.workspace_id,
            **body.model_dump(),
        )

    async def refused(status_code: int, errors: dict[str, str], _detail: str) -> Response:
        form.errors = errors
        return await _list_page(request, context, form=form, status_code=status_code)

    subscription = await parts.attempt(context, create, refused, messages=_MESSAGES, fallback="url")
    if isinstance(subscription, Response):
        return subscription
    page = await _subscription_page(
        request, context, subscription, shown=Shown(secret=subscription.secret), status_code=201
    )
    return await context.commit(page)


@router.get("/admin/webhooks/{subscription_id:int}")
async def subscription_page(subscription_id: int, request: Request, context: Managing) -> Response:
    """One subscription: its settings, its secret's rotation and its delivery log, newest first."""
    context.require(Action.manage_webhooks)
    return await _subscription_page(request, context, await _subscription(context, subscription_id))


async def _update(
    request: Request, context: Context, subscription_id: int, changes: dict[str, Any], saved: str
) -> Response:
    """Apply ``changes`` (the API's PATCH body) through the service, or show the page with why not."""
    posted = await checked_form(request, context.settings)
    context.require(Action.manage_webhooks)
    subscription = await _subscription(context, subscription_id)
    form = _form_from(posted) if "url" in changes else None
    version = parts.typed_number(text(posted, "version"))

    async def update() -> WebhookSubscription:
        body = SubscriptionUpdate.model_validate(changes)
        return await service.update_subscription(
            context.session,
            context.clock,
            _policy(context),
            subscription,
            body.model_dump(exclude_unset=True),
            expected_version=version if isinstance(version, int) else None,
        )

    async def refused(status_code: int, errors: dict[str, str], detail: str) -> Response:
        shown = Shown(form=form)
        if form is not None and errors:
            form.errors = errors
        else:
            # A stale page, or a switch that did not apply: said above the forms.
            shown.problem = detail
        fresh = await _subscription(context, subscription_id)
        return await _subscription_page(request, context, fresh, shown=shown, status_code=status_code)

    done = await parts.attempt(context, update, refused, messages=_MESSAGES)
    if isinstance(done, Response):
        return done
    return await context.commit(parts.saved(f"{WEBHOOKS_PATH}/{subscription_id}", saved))


@router.post("/admin/webhooks/{subscription_id:int}")
async def change_subscription(subscription_id: int, request: Request, context: Managing) -> Response:
    """Change a subscription's URL, description and events, as ``PATCH /api/v1/webhooks/{id}`` does."""
    posted = await checked_form(request, context.settings)
    return await _update(request, context, subscription_id, _form_from(posted).body(), "changed")


@router.post("/admin/webhooks/{subscription_id:int}/enable")
async def enable_subscription(subscription_id: int, request: Request, context: Managing) -> Response:
    """Switch a subscription on, which also clears why the desk had switched it off."""
    return await _update(request, context, subscription_id, {"is_active": True}, "enabled")


@router.post("/admin/webhooks/{subscription_id:int}/disable")
async def disable_subscription(subscription_id: int, request: Request, context: Managing) -> Response:
    """Switch a subscription off: no events are sent to it until it is switched on again."""
    return await _update(request, context, subscription_id, {"is_active": False}, "disabled")


@router.post("/admin/webhooks/{subscription_id:int}/rotate-secret")
async def rotate_secret(subscription_id: int, request: Request, context: Managing) -> Response:
    """Give a subscription a new secret, as ``POST /api/v1/webhooks/{id}/rotate-secret`` does; the
    answer shows it, once."""
    posted = await checked_form(request, context.settings)
    context.require(Action.manage_webhooks)
    subscription = await _subscription(context, subscription_id)
    typed = text(posted, "overlap_hours").strip()
    hours = parts.typed_number(typed)
    try:
        # Left empty, the overlap is the API's default.
        body = SecretRotation.model_validate({} if hours is None else {"overlap_hours": hours})
    except ValidationError:
        shown = Shown(overlap=typed, overlap_error=_MESSAGES["overlap_hours"])
        return await _subscription_page(request, context, subscription, shown=shown, status_code=422)
    subscription = await service.rotate_secret(
        context.session, context.clock, subscription, overlap=timedelta(hours=body.overlap_hours)
    )
    shown = Shown(secret=subscription.secret, overlap=typed)
    return await context.commit(await _subscription_page(request, context, subscription, shown=shown))


@router.post("/admin/webhooks/{subscription_id:int}/delete")
async def delete_subscription(subscription_id: int, request: Request, context: Managing) -> Response:
    """Delete a subscription, as ``DELETE /api/v1/webhooks/{id}`` does."""
    await checked_form(request, context.settings)
    context.require(Action.manage_webhooks)
    subscription = await _subscription(context, subscription_id)
    await service.delete_subscription(context.session, subscription)
    return await context.commit(parts.saved(WEBHOOKS_PATH, "deleted"))


@router.post("/admin/webhooks/{subscription_id:int}/deliveries/{delivery_id:int}/replay")
async def replay_delivery(
    subscription_id: int, delivery_id: int, request: Request, context: Managing
) -> Response:
    """Send an earlier delivery's event again, as a new delivery, as the API's replay does."""
    await checked_form(request, context.settings)
    context.require(Action.manage_webhooks)
    subscription = await _subscription(context, subscription_id)
    delivery_id = parts.in_range(delivery_id, "delivery of this subscription")
    await service.replay(context.session, context.clock, subscription, delivery_id)
    return await context.commit(parts.saved(f"{WEBHOOKS_PATH}/{subscription_id}", "replayed"))
