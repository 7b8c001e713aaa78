"""What a sender of outbox messages is given, and what it answers.

A sender (the webhook sender, the mail provider chain, the CRM client) knows its protocol and nothing
of the outbox: it gets one :class:`Delivery`, sends it, and either returns :class:`Sent` or raises
:class:`DeliveryFailed` saying whether trying again could help. The worker records the outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, runtime_checkable

from supportdesk.jobs.models import DeliveryChannel


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt at one outbox message."""

    message_id: int
    workspace_id: int
    channel: DeliveryChannel
    target: str
    dedupe_key: str
    payload: Mapping[str, Any]
    attempt: int  # 1 for the first attempt
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Sent:
    """A delivery the receiver accepted."""

    provider: str | None = None
    provider_message_id: str | None = None
    status_code: int | None = None


@dataclass(slots=True)
class DeliveryFailed(Exception):
    """The receiver did not take the message.

    ``permanent`` means the message itself was refused (a 4xx that is not about load, a deleted
    subscription): trying again would fail the same way, so it is dead-lettered at once.
    ``retry_after`` is the receiver's own hint (HTTP Retry-After).
    """

    reason: str
    permanent: bool = False
    retry_after: timedelta | None = None
    status_code: int | None = None
    provider: str | None = None
    # Set by a sender that wants the message's subscription or target switched off (HTTP 410 Gone).
    gone: bool = False

    def __str__(self) -> str:
        return self.reason


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """The wait a Retry-After header asks for (seconds or an HTTP date), or ``None`` if it makes no sense."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        try:
            return timedelta(seconds=int(text))
        except OverflowError:
            return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # HTTP dates are in GMT; a date without a zone is read as one.
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


Sender = Callable[[Delivery], Awaitable[Sent]]


@runtime_checkable
class Preparing(Protocol):
    """A sender that reads what a batch of messages needs at once before they are sent (the webhook
    sender reads all their subscriptions in one query)."""

    async def prepare(self, deliveries: Sequence[Delivery]) -> None: ...


Senders = Mapping[DeliveryChannel, Sender]
