"""Journeys of a customer through the portal in a real Chromium, against a live server whose e-mail is
kept in a maildir: a visitor sends a request and gets its acknowledgement; a customer signs in with the
link the desk mails, reads an agent's public reply (never the internal note), answers, says the
request is solved and rates the help. What the browser did is checked through the API as well."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
from playwright.async_api import FilePayload, Page, expect

from tests.e2e.conftest import WORKSPACE
from tests.fixtures.browser import AGENT_NAME, WorkspaceServer

PORTAL = f"/portal/{WORKSPACE}"
PAGE_POLICY = re.compile(r"script-src 'self'.*frame-ancestors 'none'")
LINK = re.compile(r"https?://[^\s]+/portal/[^\s/]+/sign-in/[A-Za-z0-9_-]+")


def _address() -> str:
    return f"portal.{uuid.uuid4().hex[:10]}@example.com"


async def _sign_in_by_link(page: Page, workspace_server: WorkspaceServer, address: str) -> None:
    """Ask for a sign-in link from the page a signed-out customer is sent to, and use the mailed link."""
    await page.goto(f"{PORTAL}/tickets")
    await expect(page).to_have_url(re.compile(rf"{PORTAL}/sign-in$"))
    await page.get_by_label("Your e-mail address").fill(address)
    await page.get_by_role("button", name="E-mail me a sign-in link").click()
    await expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()

    mail = await workspace_server.mail_to(address, "Your link to sign in")
    body = mail.get_body(("plain",))
    assert body is not None
    found = LINK.search(body.get_content())
    assert found is not None, body.get_content()
    await page.goto(found.group(0))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="My requests")).to_be_visible()


async def test_a_visitor_sends_a_request_and_gets_its_acknowledgement(
    page: Page, workspace_server: WorkspaceServer, screenshots: Path
) -> None:
    address, subject = _address(), f"Invoice download fails {uuid.uuid4().hex[:6]}"
    response = await page.goto(PORTAL)
    assert response is not None
    assert PAGE_POLICY.search(response.headers["content-security-policy"])
    await expect(page.get_by_role("heading", name="How can we help?")).to_be_visible()

    # Keyboard only, in the order the fields are read; the hidden trap is never reached.
    await page.get_by_label("Your name").focus()
    await page.keyboard.type("Maria Lopez")
    await page.keyboard.press("Tab")
    await page.keyboard.type("maria@")
    await page.keyboard.press("Tab")
    await page.keyboard.type(subject)
    await page.keyboard.press("Tab")
    await page.keyboard.type("The download button does nothing since Monday.")
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Attach files")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Send request")).to_be_focused()
    await page.keyboard.press("Enter")

    # The broken address is shown beside its field; what was typed is still there.
    await expect(page.get_by_role("alert")).to_contain_text("check the fields")
    await expect(page.locator("#email-error")).to_contain_text("e-mail address")
    await expect(page.get_by_label("Subject")).to_have_value(subject)
    await page.screenshot(path=screenshots / "portal-form.png", full_page=True)
    await page.get_by_label("Your e-mail address").fill(address)
    await page.get_by_role("button", name="Send request").click()

    await expect(page.get_by_role("heading", name="Thank you, we have your request")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text(re.compile(r"#\d+"))
    acknowledgement = await workspace_server.mail_to(address, subject)
    body = acknowledgement.get_body(("plain",))
    assert body is not None
    assert subject in body.get_content()


async def test_a_customer_signs_in_by_link_follows_the_conversation_and_rates_the_help(
    page: Page, workspace_server: WorkspaceServer, screenshots: Path
) -> None:
    address, title = _address(), f"Export stops at 10,000 rows {uuid.uuid4().hex[:6]}"
    ticket = workspace_server.create_ticket(title=title, customer_email=address, description="Every night.")
    agent = httpx.AsyncClient(
        base_url=workspace_server.base_url,
        headers={"Authorization": f"Bearer {workspace_server.agent_session}"},
        timeout=10,
    )
    async with agent:
        for content, public in (
            ("We found the limit and raised it. Could you try again tonight?", True),
            ("Internal: the customer is on the legacy plan", False),
        ):
            created = await agent.post(
                f"/api/v1/tickets/{ticket['id']}/comments", json={"content": content, "is_public": public}
            )
            assert created.status_code == 201, created.text

    await _sign_in_by_link(page, workspace_server, address)

    await page.get_by_role("link", name=re.compile(re.escape(title))).click()
    await expect(page.get_by_role("heading", name=re.compile(re.escape(title)))).to_be_visible()
    conversation = page.get_by_role("list").filter(has_text="Your request")
    await expect(conversation).to_contain_text("We found the limit and raised it.")
    await expect(conversation).to_contain_text(AGENT_NAME)
    await expect(page.locator("main")).not_to_contain_text("legacy plan")

    await page.get_by_label("Your reply").fill("Thanks, it worked tonight.")
    await page.get_by_role("button", name="Send reply").click()
    await expect(page.get_by_role("status")).to_have_text("Your reply has been sent.")
    await expect(conversation).to_contain_text("Thanks, it worked tonight.")

    await page.get_by_role("button", name="My problem is solved").click()
    await expect(page.get_by_role("status")).to_contain_text("marked as solved")
    await page.get_by_label("Good, I got the help I needed").check()
    await page.get_by_label("Anything you would like to tell us?").fill("Quick and clear.")
    await page.get_by_role("button", name="Send my rating").click()
    await expect(page.get_by_role("status")).to_have_text("Thank you for your feedback.")
    await page.screenshot(path=screenshots / "portal-ticket.png", full_page=True)

    api = workspace_server.api()
    rating = api.get(f"/api/v1/tickets/{ticket['id']}/satisfaction").json()
    assert (rating["rating"], rating["comment"]) == ("good", "Quick and clear.")
    assert api.get(f"/api/v1/tickets/{ticket['id']}").json()["status"] == "resolved"


async def test_a_visitor_attaches_a_file_to_the_request(
    page: Page, workspace_server: WorkspaceServer
) -> None:
    address, subject = _address(), f"Broken invoice {uuid.uuid4().hex[:6]}"
    await page.goto(PORTAL)

    await page.get_by_label("Your e-mail address").fill(address)
    await page.get_by_label("Subject").fill(subject)
    await page.get_by_label("Your message").fill("The invoice shows the wrong total; here it is.")
    await page.get_by_label("Attach files").set_input_files(
        [FilePayload(name="invoice.pdf", mimeType="application/pdf", buffer=b"%PDF-1.4 total 42")]
    )
    await page.get_by_role("button", name="Send request").click()
    await expect(page.get_by_role("heading", name="Thank you, we have your request")).to_be_visible()

    api = workspace_server.api()
    [ticket] = api.get("/api/v1/tickets", params={"q": address}).json()["items"]
    assert ticket["title"] == subject
    [stored] = api.get(f"/api/v1/tickets/{ticket['id']}/attachments").json()
    assert (stored["filename"], stored["size"]) == ("invoice.pdf", 17)


async def test_a_customer_sees_and_downloads_the_file_an_agent_sent_but_not_a_notes(
    page: Page, workspace_server: WorkspaceServer, screenshots: Path
) -> None:
    address, title = _address(), f"Export format {uuid.uuid4().hex[:6]}"
    ticket = workspace_server.create_ticket(title=title, customer_email=address)
    agent = httpx.AsyncClient(
        base_url=workspace_server.base_url,
        headers={"Authorization": f"Bearer {workspace_server.agent_session}"},
        timeout=10,
    )
    async with agent:
        for content, public, name in (
            ("Here is the corrected export.", "true", "export.csv"),
            ("Internal: cost estimate", "false", "internal-costs.txt"),
        ):
            sent = await agent.post(
                f"/api/v1/tickets/{ticket['id']}/attachments",
                data={"content": content, "is_public": public},
                files=[("files", (name, b"id,total\n1,42\n", "text/csv"))],
            )
            assert sent.status_code == 201, sent.text

    await _sign_in_by_link(page, workspace_server, address)
    await page.get_by_role("link", name=re.compile(re.escape(title))).click()
    link = page.get_by_role("link", name="export.csv")
    await expect(link).to_be_visible()
    await expect(page.locator("main")).not_to_contain_text("internal-costs")
    await page.screenshot(path=screenshots / "portal-ticket-files.png", full_page=True)
    async with page.expect_download() as started:
        await link.click()
    download = await started.value

    assert download.suggested_filename == "export.csv"
    assert (await download.path()).read_bytes() == b"id,total\n1,42\n"
