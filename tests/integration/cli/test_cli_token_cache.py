"""A token revoked from the command line stops working at once on a server already running on the same
PostgreSQL database, though that server has the token in its cache: the revocation's NOTIFY reaches it."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from supportdesk.app import create_app
from supportdesk.auth.token_cache import AuthChangeListener, TokenCache
from supportdesk.db.session import Database
from tests.fixtures.database import make_settings

from .conftest import Cli

PATIENCE = 5.0  # seconds; far less than the server's cache time below, far more than a notice takes


@pytest.fixture(params=[pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)])
def db_backend(request: pytest.FixtureRequest) -> str:
    """Only PostgreSQL: on SQLite another process's revocation is seen within the cache time instead."""
    return str(request.param)


async def _refused_soon(api: httpx.AsyncClient) -> bool:
    """Whether the server refuses the token within ``PATIENCE`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while loop.time() < deadline:
        if (await api.get("/api/v1/me")).status_code == 401:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_token_revoked_by_the_command_is_refused_by_a_running_server(
    cli: Cli, real_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.url = real_database.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("SUPPORTDESK_DATABASE_URL", cli.url)
    await cli.run("users", "create", "ada@example.com", "--workspace", "acme")
    token = (await cli.run("tokens", "create", "ada@example.com")).stdout.strip()
    token_id = json.loads((await cli.run("tokens", "list", "ada@example.com", "--json")).stdout)[0]["id"]
    # The server's cache stands for another process's: only the database's notice can empty it.
    cache = TokenCache(hears_local_changes=False)
    listener = AuthChangeListener(real_database.engine, cache, retry_seconds=0.05)
    listener.start()
    try:
        await asyncio.wait_for(listener.listening.wait(), PATIENCE)
        app = create_app(
            make_settings(cli.url, token_cache_seconds=60), database=real_database, token_cache=cache
        )
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as api:
            assert (await api.get("/api/v1/me")).status_code == 200
            assert len(cache) == 1

            revoked = await cli.run("tokens", "revoke", str(token_id))

            assert revoked.exit_code == 0, revoked.output
            assert await _refused_soon(api)
    finally:
        await listener.stop()
