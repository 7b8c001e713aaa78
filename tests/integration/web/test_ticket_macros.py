"""Macros on the ticket page: applying one sends its reply and makes its changes through the macro flow,
a ticket changed since the page showed it is not touched, and nobody applies another workspace's
macro or one their role may not."""

from __future__ import annotations

import re

import pytest

from supportdesk.core.permissions import Role
from supportdesk.workspaces.models import Workspace
from tests.factories.automation import MacroFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient
from tests.integration.web.conftest import PageClient, PageClientFactory

pytestmark = pytest.mark.integration

_VERSION = re.compile(r'action="/app/tickets/\d+/macro".*?name="version" value="(\d+)"', re.DOTALL)


async def test_a_macro_replies_and_changes_the_ticket(
    agent_browser: PageClient,
    admin_client: ApiClient,
    ticket_factory: TicketFactory,
    macro_factory: MacroFactory,
) -> None:
    macro = await macro_factory(
        name="Refund on its way",
        actions=[{"type": "add_tags", "tags": ["refund"]}, {"type": "set_priority", "value": "high"}],
        reply="Your refund is on its way.",
    )
    ticket = await ticket_factory(customer_email="maria@example.com")
    page = await agent_browser.get(f"/app/tickets/{ticket.id}")
    version = _VERSION.search(page.text)
    assert version is not None
    assert f'<option value="{macro.id}">Refund on its way</option>' in page.text

    response = await agent_browser.submit(
        f"/app/tickets/{ticket.id}/macro", {"macro": str(macro.id), "version": version.group(1)}
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"/app/tickets/{ticket.id}?saved=macro"
    stored = (await admin_client.get(f"/api/v1/tickets/{ticket.id}")).json()
    assert (stored["priority"], stored["tags"]) == ("high", ["refund"])
    comments = (await admin_client.get(f"/api/v1/tickets/{ticket.id}/comments")).json()
    assert [(comment["content"], comment["is_public"]) for comment in comments] == [
        ("Your refund is on its way.", True)
    ]
    shown = await agent_browser.get(response.headers["location"])
    assert "Macro applied." in shown.text


async def test_a_macro_on_a_ticket_changed_meanwhile_changes_nothing(
    agent_browser: PageClient,
    admin_client: ApiClient,
    ticket_factory: TicketFactory,
    macro_factory: MacroFactory,
) -> None:
    macro = await macro_factory(actions=[{"type": "set_priority", "value": "low"}], reply="Done.")
    ticket = await ticket_factory()
    page = await agent_browser.get(f"/app/tickets/{ticket.id}")
    version = _VERSION.search(page.text)
    assert version is not None
    moved = await admin_client.patch(f"/api/v1/tickets/{ticket.id}", json={"priority": "critical"})
    assert moved.status_code == 200

    response = await agent_browser.submit(
        f"/app/tickets/{ticket.id}/macro", {"macro": str(macro.id), "version": version.group(1)}
    )

    assert response.status_code == 412
    assert 'id="stale-warning"' in response.text
    assert (await admin_client.get(f"/api/v1/tickets/{ticket.id}")).json()["priority"] == "critical"
    assert (await admin_client.get(f"/api/v1/tickets/{ticket.id}/comments")).json() == []


async def test_another_workspaces_macro_is_not_found_and_a_viewer_applies_none(
    agent_browser: PageClient,
    page_client_factory: PageClientFactory,
    admin_client: ApiClient,
    ticket_factory: TicketFactory,
    macro_factory: MacroFactory,
    other_workspace: Workspace,
) -> None:
    theirs = await macro_factory(workspace=other_workspace, reply="From elsewhere")
    mine = await macro_factory(reply="From here")
    ticket = await ticket_factory()
    viewer = await page_client_factory(role=Role.viewer)

    answers = [
        await agent_browser.submit(f"/app/tickets/{ticket.id}/macro", {"macro": str(theirs.id)}),
        await agent_browser.submit(f"/app/tickets/{ticket.id}/macro", {"macro": "nine"}),
        await viewer.submit(f"/app/tickets/{ticket.id}/macro", {"macro": str(mine.id)}),
        await agent_browser.post(
            f"/app/tickets/{ticket.id}/macro", data={"csrf_token": "x", "macro": str(mine.id)}
        ),
    ]

    assert [answer.status_code for answer in answers] == [404, 422, 403, 403]
    assert (await admin_client.get(f"/api/v1/tickets/{ticket.id}/comments")).json() == []
    assert 'id="macros"' not in (await viewer.get(f"/app/tickets/{ticket.id}")).text
