"""The public request form: a visitor's request becomes a ticket of the portal channel with its
acknowledgement in the outbox; refused input is shown again as typed; bots filling the hidden field,
forms without their token and too many requests from one address are turned away."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.ops.middleware import PAGE_CONTENT_SECURITY_POLICY
from supportdesk.people.models import Customer
from supportdesk.tickets.models import Channel, Ticket
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory
from tests.integration.portal.conftest import PORTAL, PortalBrowser, emails, token_for

REQUEST = {
    "name": "Maria Lopez",
    "email": "maria@example.com",
    "subject": "Cannot download my invoice",
    "message": "The download button does nothing.\nSince Monday.",
}


async def _tickets(database: Database, workspace: Workspace) -> list[Ticket]:
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, workspace.id)
        found = list((await session.execute(select(Ticket).order_by(Ticket.id))).scalars())
        session.expunge_all()  # read after the session ends
        return found


async def test_the_form_is_a_page_with_the_strict_headers_a_token_and_a_hidden_trap(
    visitor: PortalBrowser,
) -> None:
    page = await visitor.get(PORTAL)

    assert page.status_code == 200
    assert page.headers["content-security-policy"] == PAGE_CONTENT_SECURITY_POLICY
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert token_for(page.text, f"{PORTAL}/requests")
    assert 'name="website"' in page.text
    assert 'tabindex="-1"' in page.text
    assert "<h1>How can we help?</h1>" in page.text
    assert "style=" not in page.text
    assert "<script>" not in page.text
    visit_cookie = page.headers["set-cookie"]
    assert "HttpOnly" in visit_cookie
    assert "SameSite=lax" in visit_cookie
    assert f"Path={PORTAL}" in visit_cookie


async def test_a_request_becomes_a_portal_ticket_and_its_acknowledgement_is_in_the_outbox(
    visitor: PortalBrowser, database: Database, workspace: Workspace
) -> None:
    sent = await visitor.fill(PORTAL, f"{PORTAL}/requests", REQUEST)

    [ticket] = await _tickets(database, workspace)
    assert sent.status_code == 303
    assert sent.headers["location"] == f"{PORTAL}/received?number={ticket.number}"
    assert (ticket.title, ticket.description, ticket.channel) == (
        REQUEST["subject"],
        REQUEST["message"],
        Channel.portal,
    )
    assert ticket.customer_email == "maria@example.com"
    [acknowledgement] = await emails(database, "ticket_received")
    assert acknowledgement["to"] == "maria@example.com"
    assert REQUEST["subject"] in acknowledgement["text"]
    confirmation = await visitor.get(sent.headers["location"])
    assert f"#{ticket.number}" in confirmation.text


async def test_a_known_customer_keeps_their_record(
    visitor: PortalBrowser, database: Database, workspace: Workspace, customer_factory: CustomerFactory
) -> None:
    customer = await customer_factory(email="maria@example.com", name="Maria L.")

    await visitor.fill(PORTAL, f"{PORTAL}/requests", REQUEST)

    [ticket] = await _tickets(database, workspace)
    assert ticket.customer_id == customer.id
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, workspace.id)
        assert len(list((await session.execute(select(Customer))).scalars())) == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        pytest.param("email", "maria@", "Enter your e-mail address", id="broken-address"),
        pytest.param("subject", "   ", "Say in a few words", id="blank-subject"),
        pytest.param("subject", "x" * 301, "Say in a few words", id="subject-too-long"),
        pytest.param("message", "", "Describe your request", id="no-message"),
        pytest.param("message", "a\x00b", "Describe your request", id="nul-character"),
        pytest.param("name", "n" * 201, "Keep your name under", id="name-too-long"),
    ],
)
async def test_refused_input_is_shown_beside_its_field_with_what_was_typed(
    visitor: PortalBrowser, database: Database, workspace: Workspace, field: str, value: str, message: str
) -> None:
    typed = {**REQUEST, field: value}

    refused = await visitor.fill(PORTAL, f"{PORTAL}/requests", typed)

    assert refused.status_code == 422
    assert message in refused.text
    assert f'aria-invalid="true" aria-describedby="{field}-error' in refused.text
    kept = [name for name in ("subject", "message") if name != field]
    assert all(REQUEST[name].split("\n")[0] in refused.text for name in kept)
    assert await _tickets(database, workspace) == []


async def test_a_filled_trap_is_answered_like_a_request_and_writes_nothing(
    visitor: PortalBrowser, database: Database, workspace: Workspace
) -> None:
    sent = await visitor.fill(PORTAL, f"{PORTAL}/requests", {**REQUEST, "website": "http://spam.example"})

    assert sent.status_code == 303
    assert sent.headers["location"].startswith(f"{PORTAL}/received")
    assert await _tickets(database, workspace) == []
    assert await emails(database) == []


@pytest.mark.parametrize(
    "token", [pytest.param(None, id="no-token"), pytest.param("forged", id="wrong-token")]
)
async def test_a_form_without_its_token_is_refused(
    visitor: PortalBrowser, database: Database, workspace: Workspace, token: str | None
) -> None:
    await visitor.get(PORTAL)
    fields = dict(REQUEST) | ({"csrf_token": token} if token else {})

    refused = await visitor.post(f"{PORTAL}/requests", data=fields)

    assert refused.status_code == 403
    assert "out of date" in refused.text
    assert await _tickets(database, workspace) == []


async def test_one_address_may_send_ten_requests_an_hour(visitor: PortalBrowser) -> None:
    page = await visitor.get(PORTAL)
    token = token_for(page.text, f"{PORTAL}/requests")
    # Every submission counts, checked or not; refused ones are the cheapest to send.
    for _ in range(10):
        answer = await visitor.post(f"{PORTAL}/requests", data={"csrf_token": token, "email": "x"})
        assert answer.status_code == 422

    refused = await visitor.post(f"{PORTAL}/requests", data={"csrf_token": token, **REQUEST})

    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert "try again in" in refused.text
    assert REQUEST["subject"] in refused.text


async def test_what_a_visitor_writes_is_printed_as_text(
    visitor: PortalBrowser, database: Database, workspace: Workspace
) -> None:
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'

    refused = await visitor.fill(
        PORTAL, f"{PORTAL}/requests", {**REQUEST, "email": payload, "subject": payload}
    )

    assert refused.status_code == 422
    assert "<script>alert" not in refused.text
    assert "<img src=x" not in refused.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in refused.text


async def test_a_workspace_nobody_has_is_not_found(visitor: PortalBrowser) -> None:
    for path in ("/portal/nobody", "/portal/nobody/sign-in", "/portal/%00bad", "/portal/acme/tickets/0"):
        answer = await visitor.get(path)
        assert answer.status_code in (404, 303), path
        if answer.status_code == 404:
            assert "Not found" in answer.text


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(f"{PORTAL}/nowhere", id="no-such-page"),
        pytest.param(f"{PORTAL}/tickets/not-a-number", id="id-not-a-number"),
        pytest.param(f"{PORTAL}/tickets/1/files/not-a-number", id="file-id-not-a-number"),
    ],
)
async def test_a_wrong_link_in_the_portal_shows_the_portals_not_found_page(
    visitor: PortalBrowser, path: str
) -> None:
    page = await visitor.get(path)

    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "There is nothing here. The link may be wrong or out of date." in page.text
