"""The Redis stream broker, made to outlive a Redis that restarts with nothing kept (docs/decisions/0039).

Imported only when ``SUPPORTDESK_QUEUE_URL`` names Redis, like taskiq-redis itself.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from taskiq import AckableMessage
from taskiq_redis import RedisStreamBroker

_log = logging.getLogger("supportdesk.background")

# Where a consumer group that is made now starts reading: the stream's first entry, not its end ("$").
FROM_THE_START = "0"


class StreamBroker(RedisStreamBroker):
    """taskiq-redis's stream broker, whose consumer group is declared whenever it starts listening.

    taskiq-redis declares the group once, at start-up. Redis keeps a consumer group inside its stream,
    so a Redis restarted without persistence (or whose key was evicted or deleted) comes back without
    either; the first relay's XADD creates the stream again, but not the group, and every XREADGROUP
    then fails with NOGROUP: the worker would never take a task again, short of a restart of its
    process. A receiver whose broker failed is started again (``Background.consume_forever``), and its
    listening now begins by declaring the group, which does nothing when the group is there.

    A group made that way reads the stream from its first entry: the relays may have added tasks since
    Redis came back and before a worker did, and a group made at the stream's end would skip them until
    their messages' leases ran out (five minutes by default). Should the stream hold older entries (a
    group deleted by hand), each is a claim its message no longer has, which a worker drops.
    """

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, consumer_id=FROM_THE_START, **options)

    async def startup(self) -> None:
        try:
            await super().startup()  # declaring the group is the last thing it does
        except RedisError as error:
            # A worker or server started while Redis is down (a restart of the machine, or a worker a
            # supervisor starts again in the middle of the outage) runs all the same: its relay hands
            # out nothing until Redis answers, and its receiver makes the group once it can listen.
            _log.warning("Redis cannot be reached at start-up, trying again when listening: %s", error)

    async def declare_group(self) -> None:
        """Make the consumer group (and the stream) unless it is there."""
        async with Redis(connection_pool=self.connection_pool) as client:
            try:
                await client.xgroup_create(
                    self.queue_name, self.consumer_group_name, id=self.consumer_id, mkstream=True
                )
            except ResponseError as error:
                if not str(error).startswith("BUSYGROUP"):  # the group exists: the usual case
                    raise

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        await self.declare_group()
        async for message in super().listen():
            yield AckableMessage(data=message.data, ack=_forgiving(message.ack))


def _forgiving(ack: Callable[[], Awaitable[None] | None]) -> Callable[[], Awaitable[None]]:
    """``ack``, with a Redis that cannot be reached noted in one line.

    A task is acknowledged after it ran, when the outcomes of its messages are in the database: a lost
    acknowledgement only lets Redis hand the task out again (or forget it, if Redis restarted empty),
    and a second run finds its claims stale. taskiq leaves the error in the task that ran the callback,
    where asyncio reports it as an exception never retrieved, one traceback per task in flight.
    """

    async def acknowledge() -> None:
        try:
            pending = ack()
            if pending is not None:
                await pending
        except RedisError as error:
            _log.warning("a task that ran could not be acknowledged, which costs nothing: %s", error)

    return acknowledge
