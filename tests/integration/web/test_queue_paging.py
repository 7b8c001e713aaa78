"""Queue pages are keyset pages, as the API's list is: the next page starts after the last row shown."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from tests.factories.tickets import TicketFactory
from tests.fixtures.database import make_settings
from tests.integration.web.conftest import PageClient
from tests.integration.web.test_queues import listed

_NEXT = re.compile(r'<a href="(/app\?[^"]+)" rel="next">')


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    """Pages of two tickets, so that five make three pages."""
    return make_settings(engine.url.render_as_string(hide_password=False), page_size_default=2)


async def test_a_queue_is_read_page_by_page(
    agent_browser: PageClient, ticket_factory: TicketFactory, clock: FrozenClock
) -> None:
    tickets = [
        await ticket_factory(title=f"Ticket {n}", created_at=clock.now() - timedelta(hours=10 - n))
        for n in range(5)
    ]

    seen: list[int] = []
    url: str | None = "/app?queue=all&status=open"
    pages = 0
    while url is not None:
        page = await agent_browser.get(url.replace("&amp;", "&"))
        seen += listed(page.text)
        pages += 1
        following = _NEXT.search(page.text)
        url = following.group(1) if following else None
        if pages > 1:
            assert "First page" in page.text

    assert pages == 3
    assert seen == [ticket.id for ticket in tickets]


async def test_a_damaged_page_link_starts_the_list_again(
    agent_browser: PageClient, ticket_factory: TicketFactory
) -> None:
    tickets = [await ticket_factory() for _ in range(3)]

    page = await agent_browser.get("/app", params={"queue": "all", "cursor": "not-a-cursor"})

    assert page.status_code == 200
    assert "That page link no longer fits this list" in page.text
    assert listed(page.text) == [ticket.id for ticket in tickets[:2]]
