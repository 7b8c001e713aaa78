"""Fixtures of the background-work tests."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fixtures.services import service_missing
from tests.integration.jobs.redis_server import RedisServer, free_port


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A started Redis server of this test's own, on a port of its own; stopped afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        service_missing("redis-server is not installed")
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(binary, folder, free_port())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
