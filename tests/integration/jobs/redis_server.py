"""A Redis server of the test's own, for tests that stop and start their broker: the shared one on
port 6379 carries other tests' streams and must never go down. The ``private_redis`` fixture (in this
folder's conftest) starts one per test."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError

# Bounds a server that does not come up; it answers within some milliseconds.
STARTS_WITHIN = 10.0
TRY_EVERY = 0.02
# Below Linux's ephemeral range (32768 and up): while the server is down, no outgoing connection of
# another process can be given its port, so it can start again on the same one.
PORTS = range(20_000, 32_000)


def free_port() -> int:
    for _ in range(100):
        port = random.choice(PORTS)
        with socket.socket() as probe, contextlib.suppress(OSError):
            probe.bind(("127.0.0.1", port))
            return port
    raise RuntimeError("no free port for a Redis server")


@dataclass
class RedisServer:
    """A ``redis-server`` that keeps nothing on disk, as a cache-only Redis is often run: what it held is
    gone after a restart, the task stream and its consumer group included."""

    binary: str
    folder: Path
    port: int
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start the server on its port and return once it answers."""
        self.process = await asyncio.create_subprocess_exec(
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.folder),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(self.folder / "redis.log"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = redis.from_url(self.url)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTS_WITHIN
        try:
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(f"redis-server exited with {self.process.returncode}: {self.log()}")
                with contextlib.suppress(RedisConnectionError):
                    # redis-py types its commands for both of its clients; this one's answer is awaited.
                    if await cast(Awaitable[bool], client.ping()):
                        return
                if loop.time() > deadline:
                    raise RuntimeError(f"redis-server did not answer within {STARTS_WITHIN} s: {self.log()}")
                await asyncio.sleep(TRY_EVERY)
        finally:
            await client.aclose()

    async def stop(self, signum: signal.Signals = signal.SIGKILL) -> None:
        """Stop the server (killed at once by default, as a crashed or evicted one is)."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signum)
            await self.process.wait()
        self.process = None

    def log(self) -> str:
        path = self.folder / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""
