"""Factories for webhook subscriptions and the outbox messages sent to them."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import select

from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs import outbox
from supportdesk.jobs.models import DeliveryAttempt, DeliveryChannel, DeliveryState, OutboxMessage
from supportdesk.webhooks import service as webhooks
from supportdesk.webhooks.models import WebhookEvent, WebhookSubscription
from supportdesk.webhooks.targets import TargetPolicy
from supportdesk.workspaces.models import Workspace

SubscriptionFactory = Callable[..., Awaitable[WebhookSubscription]]
WebhookMessageFactory = Callable[..., Awaitable[OutboxMessage]]
FailedDelivery = Callable[..., Awaitable[None]]
_counter = itertools.count(1)


@pytest.fixture
def subscription_factory(database: Database, clock: FrozenClock, workspace: Workspace) -> SubscriptionFactory:
    """Make a subscription: ``await subscription_factory(url=..., events=[...], allow=["127.0.0.1"])``."""

    async def make(
        *,
        workspace: Workspace = workspace,
        url: str | None = None,
        events: Sequence[WebhookEvent] = tuple(WebhookEvent),
        allow: Sequence[str] = (),
        is_active: bool = True,
    ) -> WebhookSubscription:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            return await webhooks.create_subscription(
                session,
                clock,
                TargetPolicy(list(allow)),
                workspace_id=workspace.id,
                url=url or f"https://hooks.example.com/{next(_counter)}",
                event_types=events,
                is_active=is_active,
            )

    return make


@pytest.fixture
def webhook_message_factory(database: Database, clock: FrozenClock) -> WebhookMessageFactory:
    """Record an outbox message for a subscription, as announcing an event would."""

    async def make(
        subscription: WebhookSubscription, *, key: str | None = None, payload: dict[str, Any] | None = None
    ) -> OutboxMessage:
        key = key or f"ticket:{next(_counter)}:created:ticket.created:wh{subscription.id}"
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, subscription.workspace_id)
            message = outbox.Outgoing(
                DeliveryChannel.webhook,
                str(subscription.id),
                key,
                payload or {"type": "ticket.created", "timestamp": clock.now().isoformat(), "data": {}},
            )
            await outbox.enqueue(session, clock, subscription.workspace_id, [message])
            query = select(OutboxMessage).where(OutboxMessage.dedupe_key == key)
            return (await session.execute(query)).scalar_one()

    return make


@pytest.fixture
def failed_delivery(database: Database, clock: FrozenClock) -> FailedDelivery:
    """Record that a message gave up after one attempt the receiver answered with ``status_code``:
    ``await failed_delivery(message, status_code=500, duration_ms=120)``."""

    async def fail(message: OutboxMessage, *, status_code: int = 500, duration_ms: int = 120) -> None:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, message.workspace_id)
            stored = await session.get_one(OutboxMessage, message.id)
            stored.state, stored.attempts = DeliveryState.dead, 1
            stored.last_error = f"HTTP {status_code}"
            session.add(
                DeliveryAttempt(
                    workspace_id=message.workspace_id,
                    message_id=message.id,
                    number=1,
                    started_at=clock.now(),
                    duration_ms=duration_ms,
                    succeeded=False,
                    status_code=status_code,
                    error=f"HTTP {status_code}",
                )
            )

    return fail
