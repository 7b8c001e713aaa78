"""Pub/sub for pushes: one process's subscribers in memory, or every process's over Redis.

A push goes to a channel (:func:`agent_channel`: one staff member of one workspace;
:func:`desk_channel`: every staff screen of one workspace) and reaches every subscriber of that channel
that is listening at that moment; nothing is kept for later. What must not be lost is stored elsewhere
(the notification in the inbox, the outbox): a screen that was closed reads it there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from supportdesk.config import Settings
from supportdesk.core.pushes import Push

_log = logging.getLogger("supportdesk.realtime")

# Messages one subscriber may have waiting; a screen that reads none meanwhile loses the oldest.
SUBSCRIBER_BACKLOG = 1000


def agent_channel(workspace_id: int, user_id: int) -> str:
    """The channel of one staff member's screens."""
    return f"ws:{workspace_id}:user:{user_id}"


def desk_channel(workspace_id: int) -> str:
    """The channel every staff screen of a workspace hears: tickets and comments changing, and who is
    looking at which ticket."""
    return f"ws:{workspace_id}:desk"


class Subscription(Protocol):
    async def next(self) -> dict[str, Any]:
        """The next message; waits for one (bound the wait with ``asyncio.timeout``)."""
        ...


class PubSub(Protocol):
    async def publish(self, channel: str, message: Mapping[str, Any]) -> None: ...

    async def publish_many(self, pushes: Sequence[Push]) -> None: ...

    def subscribe(self, *channels: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """Hear what is published on any of ``channels`` from now on, in the order it was published."""
        ...

    async def aclose(self) -> None: ...


class _Queue:
    """A subscriber's waiting messages."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=SUBSCRIBER_BACKLOG)

    def put(self, message: dict[str, Any]) -> None:
        if self._queue.full():
            self._queue.get_nowait()  # the oldest goes: a live screen wants what is new
        self._queue.put_nowait(message)

    async def next(self) -> dict[str, Any]:
        return await self._queue.get()


class MemoryPubSub:
    """Subscribers of this process only: the embedded default, with nothing to install."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[_Queue]] = {}

    async def publish(self, channel: str, message: Mapping[str, Any]) -> None:
        # A copy for each subscriber, made through JSON as Redis would carry it: what one screen's
        # code does to its message never reaches another's, and only JSON ever travels.
        text = json.dumps(message, default=str)
        for subscriber in self._subscribers.get(channel, ()):
            subscriber.put(json.loads(text))

    async def publish_many(self, pushes: Sequence[Push]) -> None:
        for push in pushes:
            await self.publish(push.channel, push.message)

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[Subscription]:
        subscriber = _Queue()
        for channel in channels:
            self._subscribers.setdefault(channel, set()).add(subscriber)
        try:
            yield subscriber
        finally:
            for channel in channels:
                listeners = self._subscribers.get(channel)
                if listeners is not None:
                    listeners.discard(subscriber)
                    if not listeners:
                        del self._subscribers[channel]

    def listening(self, channel: str) -> int:
        """How many subscribers hear ``channel`` now (for health checks and tests)."""
        return len(self._subscribers.get(channel, ()))

    async def aclose(self) -> None:
        self._subscribers.clear()


class _RedisSubscription:
    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    async def next(self) -> dict[str, Any]:
        while True:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is not None and message.get("type") == "message":
                decoded: dict[str, Any] = json.loads(message["data"])
                return decoded


class RedisPubSub:
    """Subscribers of every process connected to the same Redis: a change made through one server
    reaches screens connected to another. Channel names carry ``prefix``, so installations sharing a
    Redis server never hear each other."""

    def __init__(self, url: str, *, prefix: str = "supportdesk:") -> None:
        import redis.asyncio as redis

        # redis-py's asyncio client is only partly annotated.
        self._client: Any = redis.Redis.from_url(url)
        self._prefix = prefix

    async def publish(self, channel: str, message: Mapping[str, Any]) -> None:
        await self._client.publish(self._prefix + channel, json.dumps(message, default=str))

    async def publish_many(self, pushes: Sequence[Push]) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for push in pushes:
                pipe.publish(self._prefix + push.channel, json.dumps(push.message, default=str))
            await pipe.execute()

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[Subscription]:
        pubsub = self._client.pubsub()
        await pubsub.subscribe(*(self._prefix + channel for channel in channels))
        try:
            yield _RedisSubscription(pubsub)
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()


def build_pubsub(settings: Settings) -> PubSub:
    """The pub/sub ``settings.pubsub_url`` names."""
    if settings.pubsub_url.startswith("memory://"):
        return MemoryPubSub()
    return RedisPubSub(settings.pubsub_url, prefix=f"{settings.queue_name}:")
