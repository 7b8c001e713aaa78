"""A pooled PostgreSQL connection whose server process has ended (a restart of the server, an idle
timeout, an administrator's pg_terminate_backend) is never handed to a request: the pool sees that the
driver has closed it and opens a new one, without asking the server anything first."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from supportdesk.db.engine import create_engine
from tests.fixtures.database import make_settings

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
async def test_a_connection_the_server_ended_is_replaced_before_it_is_used(engine: AsyncEngine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    desk = create_engine(make_settings(url))
    administrator = create_async_engine(url, poolclass=NullPool)
    try:
        ended = await _backend_pid(desk)  # now waiting in the desk's pool
        async with administrator.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": ended})
            # The server process takes a moment to go; the desk's event loop then reads the end of
            # the connection's stream, as a running server's loop would while the connection waits.
            for _ in range(100):
                gone = await connection.scalar(
                    text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid"), {"pid": ended}
                )
                if gone:
                    break
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)

        replaced = await _backend_pid(desk)

        assert replaced != ended
        assert await _backend_pid(desk) == replaced  # the new connection is pooled and reused
    finally:
        await desk.dispose()
        await administrator.dispose()
