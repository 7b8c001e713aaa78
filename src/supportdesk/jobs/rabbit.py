"""The RabbitMQ broker, made to start while RabbitMQ is down (docs/decisions/0039).

Imported only when ``SUPPORTDESK_QUEUE_URL`` names RabbitMQ, like taskiq-aio-pika itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

from taskiq import AckableMessage, BrokerMessage
from taskiq_aio_pika import AioPikaBroker

_log = logging.getLogger("supportdesk.background")


class RabbitBroker(AioPikaBroker):
    """taskiq-aio-pika's broker, which connects whenever it is first used rather than only at start-up.

    taskiq-aio-pika connects once, in ``startup``: a worker or server started while RabbitMQ is down
    (the machine rebooting, or a supervisor starting a worker again in the middle of an outage) would
    stop there, and a supervisor that gives up after a few quick failures would leave it stopped. Here
    a start-up that cannot connect is noted in one line and the process runs all the same: the relay's
    hand-over fails (its claims are handed back at once and it tries again after the poll interval) and
    the receiver's listening fails (it listens again after a pause), each trying to connect first,
    until RabbitMQ answers. Once connected, aio-pika's robust connections reconnect by themselves.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connected = False
        self._connecting = asyncio.Lock()

    async def startup(self) -> None:
        try:
            await self.connect()
        except Exception as error:  # noqa: BLE001  (any failure to connect is tried again on use)
            _log.warning("RabbitMQ cannot be reached at start-up, trying again when used: %s", error)

    async def connect(self) -> None:
        """Connect and declare the exchange and queues, unless that was done; raises if RabbitMQ cannot
        be reached."""
        async with self._connecting:
            if self._connected:
                return
            try:
                await super().startup()
            except BaseException:
                await self._close_connections()
                raise
            self._connected = True

    async def kick(self, message: BrokerMessage) -> None:
        await self.connect()
        await super().kick(message)

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        await self.connect()
        async for message in super().listen():
            yield message

    async def shutdown(self) -> None:
        if self._connected:
            await super().shutdown()
        self._connected = False

    async def _close_connections(self) -> None:
        # A start-up that failed half way (the writing connection made, the reading one not) leaves
        # nothing open behind it; the next attempt makes both again.
        for connection in (self.read_conn, self.write_conn):
            if connection is not None:
                try:
                    await connection.close()
                except Exception as error:  # noqa: BLE001  (closing what is broken anyway)
                    _log.debug("closing a half-made RabbitMQ connection failed: %s", error)
        self.read_conn = self.write_conn = None
        self.read_channel = self.write_channel = None
