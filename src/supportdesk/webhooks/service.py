"""Webhook subscriptions (kept by admins) and the events announced to them.

A flow that changes a ticket calls :func:`announce`: for each active subscription that listens to the
event, one outbox message is written in the flow's transaction, carrying the event as it was at that
moment. Subscriptions are read from this process's cache while the workspace's delivery revision holds,
so a ticket opened in a workspace without subscriptions costs no query.

Services flush; the caller (request or job) commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.core.clock import Clock
from supportdesk.core.errors import InvalidInput, NotFound
from supportdesk.core.http import require_version
from supportdesk.db.caches import CacheKey, caches_of
from supportdesk.db.lookups import get_in_workspace
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs import outbox
from supportdesk.jobs.models import DeliveryChannel, OutboxMessage
from supportdesk.webhooks.models import WebhookEvent, WebhookSubscription
from supportdesk.webhooks.signing import generate_secret
from supportdesk.webhooks.targets import TargetPolicy, UnsafeTarget, check_url
from supportdesk.workspaces import revisions

# The longest a retired secret may keep signing after a rotation.
MAX_OVERLAP = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Listener:
    """An active subscription as announcing needs it."""

    id: int
    events: frozenset[str]


LISTENERS: CacheKey[tuple[Listener, ...]] = CacheKey("webhook_listeners")


# --- keeping subscriptions -------------------------------------------------------------------------


async def list_subscriptions(session: AsyncSession) -> list[WebhookSubscription]:
    """The workspace's subscriptions, oldest first."""
    query = select(WebhookSubscription).order_by(WebhookSubscription.id)
    return list((await session.execute(query)).scalars())


async def get_subscription(session: AsyncSession, subscription_id: int) -> WebhookSubscription:
    """The subscription with ``subscription_id`` in the session's workspace."""
    return await get_in_workspace(session, WebhookSubscription, subscription_id, "webhook subscription")


def _checked_url(url: str, policy: TargetPolicy) -> str:
    try:
        check_url(url, policy)
    except UnsafeTarget as refused:
        raise InvalidInput("url", str(refused), reason=f"unsafe-target-{refused.code}") from None
    return url


async def create_subscription(
    session: AsyncSession,
    clock: Clock,
    policy: TargetPolicy,
    *,
    workspace_id: int,
    url: str,
    event_types: Sequence[WebhookEvent],
    description: str = "",
    is_active: bool = True,
) -> WebhookSubscription:
    """Add a subscription with a new signing secret; its URL must be one the desk may call."""
    now = clock.now()
    subscription = WebhookSubscription(
        workspace_id=workspace_id,
        url=_checked_url(url, policy),
        description=description,
        event_types=_event_names(event_types),
        is_active=is_active,
        secret=generate_secret(),
        created_at=now,
        updated_at=now,
    )
    session.add(subscription)
    await session.flush()
    await revisions.bump(session, workspace_id, revisions.Covered.delivery)
    return subscription


async def update_subscription(
    session: AsyncSession,
    clock: Clock,
    policy: TargetPolicy,
    subscription: WebhookSubscription,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> WebhookSubscription:
    """Apply a partial update (url, event_types, description, is_active)."""
    require_version(subscription.version, expected_version)
    for key, value in changes.items():
        if key == "url":
            value = _checked_url(value, policy)
        elif key == "event_types":
            value = _event_names(value)
        setattr(subscription, key, value)
    if changes.get("is_active"):
        # Switched on by an admin: whatever switched it off is answered.
        subscription.disabled_reason = None
    if session.sync_session.is_modified(subscription):
        subscription.updated_at = clock.now()
        await session.flush()
        await revisions.bump(session, subscription.workspace_id, revisions.Covered.delivery)
    return subscription


async def rotate_secret(
    session: AsyncSession,
    clock: Clock,
    subscription: WebhookSubscription,
    *,
    overlap: timedelta,
    expected_version: int | None = None,
) -> WebhookSubscription:
    """Give the subscription a new secret; the old one goes on signing alongside it for ``overlap``, so
    the receiver can switch over without refusing a message."""
    require_version(subscription.version, expected_version)
    if overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise InvalidInput(
            "overlap_hours", f"The overlap must be between 0 and {MAX_OVERLAP.days * 24} hours"
        )
    now = clock.now()
    subscription.previous_secret = subscription.secret if overlap > timedelta(0) else None
    subscription.previous_secret_expires_at = now + overlap if overlap > timedelta(0) else None
    subscription.secret = generate_secret()
    subscription.updated_at = now
    await session.flush()
    return subscription


async def delete_subscription(session: AsyncSession, subscription: WebhookSubscription) -> None:
    """Delete a subscription; messages still waiting for it are dropped when their turn comes."""
    await session.delete(subscription)
    await session.flush()
    await revisions.bump(session, subscription.workspace_id, revisions.Covered.delivery)


def _event_names(event_types: Iterable[WebhookEvent | str]) -> list[str]:
    names = sorted({WebhookEvent(event).value for event in event_types})
    if not names:
        raise InvalidInput("event_types", "Name at least one event type")
    return names


# --- announcing events -----------------------------------------------------------------------------


async def listeners(session: AsyncSession, workspace_id: int) -> tuple[Listener, ...]:
    """The workspace's active subscriptions, from this process's cache while the revision holds."""
    revision = (await revisions.current(session, workspace_id)).delivery
    cache = caches_of(session).revision_cache(LISTENERS)
    found = cache.get(workspace_id, revision)
    if found is None:
        query = (
            select(WebhookSubscription.id, WebhookSubscription.event_types)
            .where(WebhookSubscription.workspace_id == workspace_id, WebhookSubscription.is_active.is_(True))
            .order_by(WebhookSubscription.id)
        )
        rows = (await session.execute(query)).all()
        found = tuple(Listener(int(row.id), frozenset(row.event_types)) for row in rows)
        cache.put(workspace_id, revision, found)
    return found


async def announce(
    session: AsyncSession,
    clock: Clock,
    workspace_id: int,
    events: Sequence[WebhookEvent],
    *,
    cause: str,
    data: Callable[[], Awaitable[Mapping[str, Any]]],
    ticket_id: int | None = None,
) -> int:
    """Write one outbox message per event and listening subscription; returns how many.

    ``cause`` names the change (``ticket:77:v3``) and with the event and the subscription makes the
    message's dedupe key, which is also its ``webhook-id``: announcing the same change twice sends once.
    ``data`` is called only when somebody listens.
    """
    messages = await event_messages(
        session, clock, workspace_id, events, cause=cause, data=data, ticket_id=ticket_id
    )
    return await outbox.enqueue(session, clock, workspace_id, messages)


async def event_messages(
    session: AsyncSession,
    clock: Clock,
    workspace_id: int,
    events: Sequence[WebhookEvent],
    *,
    cause: str,
    data: Callable[[], Awaitable[Mapping[str, Any]]],
    ticket_id: int | None = None,
) -> list[outbox.Outgoing]:
    """The outbox messages :func:`announce` writes, for a caller that writes them with others."""
    if not events:
        return []
    subscribed = await listeners(session, workspace_id)
    wanted = [
        (event, listener) for event in events for listener in subscribed if event.value in listener.events
    ]
    if not wanted:
        return []
    now = clock.now()
    body = dict(await data())
    messages = [
        outbox.Outgoing(
            channel=DeliveryChannel.webhook,
            target=str(listener.id),
            dedupe_key=f"{cause}:{event.value}:wh{listener.id}",
            payload={"type": event.value, "timestamp": now.isoformat(), "data": body},
            ticket_id=ticket_id,
        )
        for event, listener in wanted
    ]
    return messages


async def replay(
    session: AsyncSession, clock: Clock, subscription: WebhookSubscription, message_id: int
) -> OutboxMessage:
    """Send an earlier delivery of ``subscription`` again, as a new message with the same event."""
    original = await session.get(OutboxMessage, message_id)
    if (
        original is None
        or original.workspace_id != subscription.workspace_id
        or original.channel != DeliveryChannel.webhook
        or original.target != str(subscription.id)
    ):
        raise NotFound("No such delivery of this subscription")
    earlier = select(func.count()).where(
        OutboxMessage.dedupe_key.startswith(f"replay:{original.id}:", autoescape=True)
    )
    key = f"replay:{original.id}:{(await session.execute(earlier)).scalar_one() + 1}"
    message = outbox.Outgoing(
        channel=DeliveryChannel.webhook,
        target=original.target,
        dedupe_key=key,
        payload=original.payload,
        ticket_id=original.ticket_id,
    )
    await outbox.enqueue(session, clock, subscription.workspace_id, [message])
    found = (await session.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))).scalar_one()
    return found


# --- what the sender reads and writes --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Destination:
    """Where and how to send one subscription's message now."""

    url: str
    secrets: tuple[str, ...]


async def destination(
    database: Database, workspace_id: int, subscription_id: int, now: datetime
) -> Destination | None:
    """The URL and signing secrets of an active subscription; ``None`` when it was deleted or switched
    off (its waiting messages are then not sent)."""
    found = await destinations(database, [(workspace_id, subscription_id)], now)
    return found.get((workspace_id, subscription_id))


async def destinations(
    database: Database, subscriptions: Iterable[tuple[int, int]], now: datetime
) -> dict[tuple[int, int], Destination]:
    """:func:`destination` of each (workspace id, subscription id), read in one query; deleted and
    switched-off subscriptions are left out."""
    wanted = set(subscriptions)
    if not wanted:
        return {}
    async with database.unit_of_work(readonly=True) as session:
        query = select(WebhookSubscription).where(
            WebhookSubscription.id.in_({subscription_id for _workspace_id, subscription_id in wanted}),
            WebhookSubscription.is_active.is_(True),
        )
        return {
            (row.workspace_id, row.id): Destination(url=row.url, secrets=row.signing_secrets(now))
            for row in (await session.execute(query)).scalars()
            if (row.workspace_id, row.id) in wanted
        }


async def switch_off(
    database: Database, clock: Clock, workspace_id: int, subscription_id: int, reason: str
) -> None:
    """Switch a subscription off because its endpoint asked for it (410 Gone): audited as the system's
    doing, and announcing stops at every process's next unit of work."""
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace_id)
        act_as(session.sync_session, SYSTEM, clock)
        subscription = await session.get(WebhookSubscription, subscription_id)
        if subscription is None or not subscription.is_active:
            return
        subscription.is_active = False
        subscription.disabled_reason = reason[:200]
        subscription.updated_at = clock.now()
        await session.flush()
        await revisions.bump(session, workspace_id, revisions.Covered.delivery)
