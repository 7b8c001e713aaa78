"""The live workspace in a real Chromium: a queue that shows a new ticket without a reload, a ticket
page that follows what others change, two agents who see each other on a ticket, and a reply warned
about when someone else answered while it was being written."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from playwright.async_api import Page, expect

from tests.fixtures.browser import AGENT_NAME, COLLEAGUE_NAME, WorkspaceServer

CONNECTED = "body[data-live=connected]"


async def test_a_ticket_created_through_the_api_appears_in_the_open_queue(
    agent_page: Page, workspace_server: WorkspaceServer, screenshots: Path
) -> None:
    page = agent_page
    await page.goto("/app")
    await page.wait_for_selector(CONNECTED, state="attached")
    counts = page.get_by_role("navigation", name="Queues")
    mine_before = await counts.get_by_role("link", name=re.compile("My tickets")).inner_text()

    title = f"Checkout fails with a card error {uuid.uuid4().hex[:6]}"
    agent_id = workspace_server.agent_id
    workspace_server.create_ticket(title=title, priority="critical", assigned_agent_id=agent_id)

    row = page.get_by_role("row").filter(has_text=title)
    await expect(row).to_be_visible()
    await expect(row).to_have_class(re.compile(r"\bis-new\b"))
    await expect(row).to_contain_text("Critical")
    await expect(page.locator("#live-status")).to_have_text("1 ticket arrived in this list.")
    await expect(counts.get_by_role("link", name=re.compile("My tickets"))).not_to_have_text(mine_before)
    await page.screenshot(path=screenshots / "queue-live.png", full_page=True)


async def test_a_ticket_page_follows_what_someone_else_changes(
    agent_page: Page, workspace_server: WorkspaceServer
) -> None:
    page, api = agent_page, workspace_server.api()
    ticket = workspace_server.create_ticket(assigned_agent_id=workspace_server.agent_id)
    await page.goto(f"/app/tickets/{ticket['id']}")
    await page.wait_for_selector(CONNECTED, state="attached")

    changed = api.patch(f"/api/v1/tickets/{ticket['id']}", json={"priority": "critical"})
    assert changed.status_code == 200, changed.text
    await expect(page.locator("#ticket-priority")).to_have_text("Critical priority")
    await expect(page.get_by_label("Priority")).to_have_value("critical")

    # A choice the agent is in the middle of is kept, and the form says the ticket moved under it.
    await page.get_by_label("Status").select_option("pending")
    noted = api.post(
        f"/api/v1/tickets/{ticket['id']}/comments", json={"content": "Customer called", "is_public": False}
    )
    assert noted.status_code == 201, noted.text
    await expect(page.locator(".message-note").last).to_contain_text("Customer called")
    await expect(page.get_by_label("Status")).to_have_value("pending")
    await expect(page.locator("#properties-stale")).to_be_visible()


async def test_two_agents_on_one_ticket_see_each_other_and_a_stale_reply_is_warned(
    agent_page: Page, colleague_page: Page, workspace_server: WorkspaceServer, screenshots: Path
) -> None:
    dana, sam, api = agent_page, colleague_page, workspace_server.api()
    ticket = workspace_server.create_ticket(
        title="Invoice shows the wrong VAT number", assigned_agent_id=workspace_server.agent_id
    )
    await dana.goto(f"/app/tickets/{ticket['id']}")
    await dana.wait_for_selector(CONNECTED, state="attached")
    await sam.goto(f"/app/tickets/{ticket['id']}")

    await expect(dana.locator("#presence")).to_have_text(f"{COLLEAGUE_NAME} is viewing")
    await expect(sam.locator("#presence")).to_have_text(f"{AGENT_NAME} is viewing")

    await sam.get_by_label("Message").fill("Hello, the corrected invoice is attached to this reply.")
    await expect(dana.locator("#presence")).to_have_text(f"{COLLEAGUE_NAME} is replying")
    await dana.get_by_label("Message").fill("Hi! We are checking the VAT number now.")
    await expect(sam.locator("#presence")).to_have_text(f"{AGENT_NAME} is replying")
    await dana.screenshot(path=screenshots / "ticket-presence.png", full_page=True)

    await sam.get_by_role("button", name="Send reply").click()
    await expect(sam.get_by_role("status")).to_have_text("Reply sent.")

    # Dana's page shows Sam's reply at once, warns her, and keeps what she wrote.
    await expect(dana.locator(".message-reply").last).to_contain_text("corrected invoice")
    await expect(dana.locator("#reply-warning")).to_contain_text("Someone wrote on this ticket")
    await expect(dana.get_by_label("Message")).to_have_value("Hi! We are checking the VAT number now.")
    await dana.screenshot(path=screenshots / "ticket-stale-reply.png", full_page=True)

    # Warned, she sends a follow-up instead; it goes through.
    await dana.get_by_label("Message").fill("Thanks, Sam. Maria, please confirm the new invoice is right.")
    await dana.get_by_role("button", name="Send reply").click()
    await expect(dana.get_by_role("status")).to_have_text("Reply sent.")
    comments = api.get(f"/api/v1/tickets/{ticket['id']}/comments").json()
    assert [comment["content"][:8] for comment in comments] == ["Hello, t", "Thanks, "]

    # Sam leaves the ticket; Dana's page forgets him at once.
    await sam.goto("/app")
    await expect(dana.locator("#presence")).to_have_text("")


async def test_a_notification_raises_the_unread_count_at_once_and_opens_its_ticket(
    agent_page: Page, workspace_server: WorkspaceServer, screenshots: Path
) -> None:
    page, api = agent_page, workspace_server.api()
    title = f"Refund twice charged {uuid.uuid4().hex[:6]}"
    ticket = workspace_server.create_ticket(title=title)
    await page.goto("/app/inbox?unread=1")
    await page.wait_for_selector(CONNECTED, state="attached")
    badge = page.locator("#unread-count")
    before = int((await badge.inner_text()).split()[0]) if await badge.is_visible() else 0

    agent_id = workspace_server.agent_id
    assigned = api.patch(f"/api/v1/tickets/{ticket['id']}", json={"assigned_agent_id": agent_id})
    assert assigned.status_code == 200, assigned.text

    await expect(badge).to_be_visible()
    await expect(badge).to_contain_text(str(before + 1))
    await expect(page.locator(".toast")).to_contain_text(title)
    note = page.locator(".note.is-unread").filter(has_text=title)
    await expect(note).to_be_visible()
    await page.screenshot(path=screenshots / "inbox.png", full_page=True)

    await note.get_by_role("button").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"#{ticket['number']} {title}")
    # Opened, it is read: the count is back where it was.
    if before:
        await expect(page.locator("#unread-count")).to_contain_text(str(before))
    else:
        await expect(page.locator("#unread-count")).to_be_hidden()
