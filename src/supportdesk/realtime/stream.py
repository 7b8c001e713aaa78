"""Server-Sent Events: what a subscription hears, written as the ``text/event-stream`` a browser's
``EventSource`` reads (decision 0054).

A stream opens with the reconnection delay and, when the browser says it was connected before
(``Last-Event-ID``), a ``resync`` event: pushes are not kept, so what was published while it was away is
read again from the pages. Each message becomes an event named by its ``type``, with an id the browser
sends back when it reconnects. A comment line keeps idle connections open through proxies, and the
stream ends after ``lifetime`` seconds: the browser reconnects at once, which checks its session again,
so a session that was revoked stops hearing within that time.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from supportdesk.realtime.pubsub import Subscription

# Event names a browser script can listen for; anything else arrives as a plain "message".
_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")


@dataclass(frozen=True, slots=True)
class StreamTiming:
    """How a stream paces itself (seconds, except ``retry_ms``)."""

    heartbeat: float = 15.0
    lifetime: float = 60.0
    retry_ms: int = 2000


def event_text(event_id: str, message: Mapping[str, Any]) -> str:
    """One event: its id, its name (the message's ``type``) and the message as one line of JSON."""
    kind = message.get("type")
    plain = isinstance(kind, str) and kind[:1].isalpha() and set(kind) <= _NAME_CHARACTERS
    name = kind if plain and isinstance(kind, str) else "message"
    # JSON escapes line breaks inside strings, so the data is one line and cannot end the event early.
    data = json.dumps(message, separators=(",", ":"), default=str)
    return f"id: {event_id}\nevent: {name}\ndata: {data}\n\n"


async def event_stream(
    subscription: Subscription, timing: StreamTiming, *, reconnected: bool = False
) -> AsyncIterator[str]:
    """The events of ``subscription`` until ``timing.lifetime`` has passed."""
    # Ids are unique to this stream, so a browser that reconnects names what it last had; the answer
    # to that is a resync in any case, since nothing is kept to replay.
    prefix = secrets.token_hex(4)
    yield f"retry: {timing.retry_ms}\n\n"
    sent = 0
    if reconnected:
        sent += 1
        yield event_text(f"{prefix}-{sent}", {"type": "resync"})
    loop = asyncio.get_running_loop()
    ends = loop.time() + timing.lifetime
    while (left := ends - loop.time()) > 0:
        try:
            async with asyncio.timeout(min(timing.heartbeat, left)):
                message = await subscription.next()
        except TimeoutError:
            yield ": still here\n\n"
            continue
        sent += 1
        yield event_text(f"{prefix}-{sent}", message)
