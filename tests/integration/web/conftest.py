"""Browsers, as the pages see them: HTTP clients that carry a login session's cookie and nothing else."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from supportdesk.auth import service as auth_service
from supportdesk.auth.dependencies import SESSION_COOKIE
from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.people.models import User
from supportdesk.web import csrf
from tests.factories.people import UserFactory

PASSWORD = "a-long-password"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class PageClient(httpx.AsyncClient):
    """A browser signed in as ``user``, with the CSRF token its pages' forms carry."""

    user: User
    csrf_token: str

    async def submit(self, path: str, fields: dict[str, str]) -> httpx.Response:
        """Post a form of the pages, with its CSRF token."""
        return await self.post(path, data={"csrf_token": self.csrf_token, **fields})


PageClientFactory = Callable[..., Awaitable[PageClient]]


def csrf_token_in(html: str) -> str:
    """The CSRF token of the first form of a page."""
    match = _TOKEN.search(html)
    assert match is not None, "the page has no form with a CSRF token"
    return match.group(1)


def anonymous_browser(app: FastAPI) -> httpx.AsyncClient:
    """A browser that is not signed in; it keeps the cookies it is given, as a browser does."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def page_client_factory(
    app: FastAPI, database: Database, settings: Settings, clock: FrozenClock, user_factory: UserFactory
) -> AsyncIterator[PageClientFactory]:
    """``await page_client_factory(role=Role.agent)``: a staff member signed in by password, as the
    sign-in page does it, whose browser sends only the session cookie."""
    clients: list[PageClient] = []

    async def make(*, role: Role = Role.agent, **fields: object) -> PageClient:
        user = await user_factory(role=role, password=PASSWORD, **fields)
        async with database.unit_of_work() as session:
            _, issued = await auth_service.login(
                session, settings, clock, email=user.email, password=PASSWORD
            )
        client = PageClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            headers={"Cookie": f"{SESSION_COOKIE}={issued.secret}"},
        )
        client.user = user
        client.csrf_token = csrf.form_token(settings.secret_key, "session", issued.secret)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def agent_browser(page_client_factory: PageClientFactory) -> PageClient:
    """An agent of the test's workspace, signed in."""
    return await page_client_factory(role=Role.agent)
