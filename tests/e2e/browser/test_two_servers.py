"""Two server processes on one PostgreSQL database, with Redis carrying pushes between them, as a
deployment runs them: a change made through one process reaches a browser connected to the other."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import LiveServer, LiveServers
from tests.fixtures.browser import PageProblems, add_agent, signed_in, watched_page

REDIS_URL = os.environ.get("SUPPORTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class TwoServers:
    """The first process (with its admin's token) and the address of the second."""

    first: LiveServer
    second_url: str


@pytest.fixture(scope="module")
async def two_servers(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> AsyncIterator[TwoServers]:
    """Two ``supportdesk serve`` processes on one PostgreSQL database, publishing over Redis under a
    name of this run's own, so that parallel runs sharing the Redis server never hear each other."""
    run = f"{uuid.uuid4().hex[:8]}_{worker_id}"
    servers = LiveServers(
        directory=tmp_path_factory.mktemp("two-servers"),
        run_id=f"two_{run}",
        backends={"postgresql"},
        seed=False,
        environment={"SUPPORTDESK_PUBSUB_URL": REDIS_URL, "SUPPORTDESK_QUEUE_NAME": f"e2e-two-{run}"},
    )
    try:
        first = await servers.get("postgresql")
        second_url = await servers.another("postgresql")
        yield TwoServers(first, second_url)
    finally:
        await servers.close()


async def test_a_ticket_created_through_one_process_appears_in_a_queue_open_on_the_other(
    browser: Browser, two_servers: TwoServers
) -> None:
    first = two_servers.first
    agent_id, session = await asyncio.to_thread(
        add_agent, first, email="lee@two.example.com", name="Lee Agent"
    )
    problems = PageProblems()
    page = await signed_in(await watched_page(browser, first.base_url, problems), first.base_url, session)
    try:
        await page.goto("/app")
        await page.wait_for_selector("body[data-live=connected]", state="attached")

        title = f"Made through the other process {uuid.uuid4().hex[:6]}"
        async with httpx.AsyncClient(base_url=two_servers.second_url, headers=first.auth_headers) as second:
            created = await second.post(
                "/api/v1/tickets", json={"title": title, "assigned_agent_id": agent_id}
            )
        assert created.status_code == 201, created.text

        row = page.get_by_role("row").filter(has_text=title)
        await expect(row).to_be_visible()
        await expect(row).to_have_class(re.compile(r"\bis-new\b"))
    finally:
        await page.context.close()
    assert problems.items == []
