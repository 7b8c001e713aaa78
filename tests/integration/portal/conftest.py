"""Browsers in the customer portal: HTTP clients that keep their cookies as a browser does, and read the
forms' tokens off the pages they were shown."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs.models import DeliveryChannel, OutboxMessage
from supportdesk.notifications.mail.compose import Draft
from supportdesk.people.models import Customer
from supportdesk.portal import service as portal_service
from supportdesk.workspaces.models import Workspace
from tests.fixtures.uploads import Files

PORTAL = "/portal/acme"
_FORM = re.compile(
    r'<form method="post" action="(?P<action>[^"]+)"[^>]*>\s*<input type="hidden" name="csrf_token" '
    r'value="(?P<token>[^"]*)">'
)


def token_for(page: str, action: str) -> str:
    """The CSRF token of the form of ``page`` that posts to ``action``."""
    for match in _FORM.finditer(page):
        if html.unescape(match.group("action")) == action:
            return match.group("token")
    raise AssertionError(f"the page has no form posting to {action}")


class PortalBrowser(httpx.AsyncClient):
    """A browser in the portal of the test's workspace (``acme``)."""

    customer: Customer | None = None

    async def fill(
        self, page_path: str, action: str, fields: dict[str, str], files: Files | None = None
    ) -> httpx.Response:
        """Open ``page_path`` and send its form that posts to ``action`` with ``fields`` (and ``files``,
        as a multipart form, as a browser sends a form that takes files)."""
        shown = await self.get(page_path)
        assert shown.status_code == 200, shown.text
        data = {"csrf_token": token_for(shown.text, action), **fields}
        return await self.post(action, data=data, files=files)


def portal_browser(app: FastAPI) -> PortalBrowser:
    return PortalBrowser(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def visitor(app: FastAPI, workspace: Workspace) -> AsyncIterator[PortalBrowser]:
    """Someone who is not signed in to the portal of the test's workspace."""
    async with portal_browser(app) as browser:
        yield browser


async def emails(database: Database, kind: str | None = None) -> list[dict[str, Any]]:
    """The e-mails written to the outbox, oldest first (their payloads, rendered as the worker renders
    them), of ``kind`` if given."""
    async with database.unit_of_work(readonly=True) as session:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.channel == DeliveryChannel.email)
            .order_by(OutboxMessage.id)
        )
        payloads = [
            Draft.from_payload(row.payload).render().to_payload()
            for row in (await session.execute(query)).scalars()
        ]
    return [payload for payload in payloads if kind is None or payload["kind"] == kind]


LINK = re.compile(r"http://testserver(/portal/acme/sign-in/[A-Za-z0-9_-]+)")


def link_in(payload: dict[str, Any]) -> str:
    """The sign-in link (its path) a sign-in e-mail carries."""
    match = LINK.search(payload["text"])
    assert match is not None, payload["text"]
    return match.group(1)


SignIn = Callable[[Customer], Awaitable[PortalBrowser]]


@pytest.fixture
async def sign_in(
    app: FastAPI, database: Database, clock: FrozenClock, settings: Settings, workspace: Workspace
) -> AsyncIterator[SignIn]:
    """``await sign_in(customer)``: a browser signed in to the portal as ``customer``, by a link the
    service made (the sign-in tests go through the form and the e-mail instead)."""
    browsers: list[PortalBrowser] = []

    async def make(customer: Customer) -> PortalBrowser:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            link = await portal_service.request_sign_in(
                session,
                clock,
                settings,
                workspace_id=workspace.id,
                email=customer.email,
                link_base=f"{PORTAL}/sign-in/",
            )
        assert link is not None
        browser = portal_browser(app)
        browsers.append(browser)
        signed = await browser.fill(link.url, link.url, {})
        assert signed.status_code == 303, signed.text
        assert signed.headers["location"] == f"{PORTAL}/tickets"
        browser.customer = customer
        return browser

    yield make
    for browser in browsers:
        await browser.aclose()
