"""The agent's ticket page and mail: each e-mail in the conversation says who sent it and why it was
threaded onto this ticket, and the page lists who else receives the agents' public replies."""

from __future__ import annotations

import pytest
from markupsafe import escape

from tests.fixtures.app import ApiClient
from tests.integration.channels.conftest import Deliver, email

pytestmark = pytest.mark.integration


async def test_the_ticket_page_says_why_each_email_is_here_and_who_else_gets_replies(
    admin_client: ApiClient, deliver: Deliver
) -> None:
    (opened,) = await deliver(email("Printer on fire", "It smokes since this morning."))
    assert opened.ticket_id is not None
    ticket = (await admin_client.get(f"/api/v1/tickets/{opened.ticket_id}")).json()
    (answer,) = await deliver(email(f"Re: [#{ticket['number']}] Printer on fire", "Still smoking."))
    added = await admin_client.post(
        f"/api/v1/tickets/{ticket['id']}/participants", json={"email": "boss@example.com", "name": "Ana Boss"}
    )
    assert added.status_code == 201, added.text

    page = await admin_client.get(f"/app/tickets/{ticket['id']}")

    assert page.status_code == 200
    assert page.text.count("By e-mail from maria@example.com: why here?") == 2
    assert str(escape("because it matched no ticket, so it opened this one.")) in page.text
    assert str(escape("because its subject names this ticket's number.")) in page.text
    assert str(escape(answer.thread_evidence or "")) in page.text
    assert 'id="participants"' in page.text
    assert "Ana Boss" in page.text
    assert "boss@example.com" in page.text


async def test_a_ticket_opened_through_the_api_shows_no_mail_facts(admin_client: ApiClient) -> None:
    created = await admin_client.post("/api/v1/tickets", json={"title": "Typed in", "description": "By hand"})

    page = await admin_client.get(f"/app/tickets/{created.json()['id']}")

    assert "why here?" not in page.text
    assert 'id="participants"' not in page.text
