"""Journeys of an agent through the workspace in a real Chromium, against a live server.

Each journey is one thing a person does in a working day, checked through what the page shows and,
where it matters, through the API: what the browser changed is what the desk holds.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from playwright.async_api import FilePayload, Page, expect

from tests.fixtures.browser import AGENT_EMAIL, AGENT_NAME, AGENT_PASSWORD, WorkspaceServer

PAGE_POLICY = re.compile(r"script-src 'self'.*frame-ancestors 'none'")


async def test_an_agent_signs_in_past_inline_errors_and_signs_out(
    page: Page, workspace_server: WorkspaceServer, screenshots: Path
) -> None:
    response = await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/app/login$"))
    assert response is not None
    assert PAGE_POLICY.search(response.headers["content-security-policy"])
    await expect(page.get_by_role("heading", name="Sign in to supportdesk")).to_be_visible()
    await page.screenshot(path=screenshots / "login.png")

    # Keyboard only: the e-mail field has the focus, Tab leads to the password, Enter sends.
    await expect(page.get_by_label("E-mail address")).to_be_focused()
    await page.keyboard.type("alex@live")
    await page.keyboard.press("Tab")
    await page.keyboard.type("whatever")
    await page.keyboard.press("Enter")
    await expect(page.locator("#email-error")).to_contain_text("e-mail address")
    await expect(page.get_by_label("E-mail address")).to_have_value("alex@live")

    await page.get_by_label("E-mail address").fill(AGENT_EMAIL)
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("The e-mail address or password is wrong.")
    await expect(page.get_by_label("E-mail address")).to_have_value(AGENT_EMAIL)
    await expect(page.get_by_label("Password")).to_be_focused()
    await page.screenshot(path=screenshots / "login-error.png")

    await page.keyboard.type(AGENT_PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/app$"))
    await expect(page.get_by_role("heading", name="My tickets")).to_be_visible()
    await expect(page.get_by_role("banner")).to_contain_text(AGENT_NAME)

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("status")).to_have_text("You are signed out.")
    await page.goto("/app")
    await expect(page).to_have_url(re.compile(r"/app/login$"))


async def test_an_agent_finds_a_new_ticket_in_the_queue_replies_and_moves_it_on(
    agent_page: Page, workspace_server: WorkspaceServer, screenshots: Path
) -> None:
    page, api = agent_page, workspace_server.api()
    title = f"Export stops at 10,000 rows {uuid.uuid4().hex[:6]}"
    # A colleague routes a new request to the agent through the API.
    ticket = workspace_server.create_ticket(
        title=title,
        priority="high",
        description="Our nightly export stops at exactly 10,000 rows.",
        assigned_agent_id=workspace_server.agent_id,
    )

    await page.goto("/app")
    queue = page.get_by_role("navigation", name="Queues")
    await expect(queue.get_by_role("link", name=re.compile("My tickets"))).to_have_attribute(
        "aria-current", "page"
    )
    row = page.get_by_role("row").filter(has_text=title)
    await expect(row).to_contain_text("Assigned")
    await expect(row).to_contain_text("High")
    await page.screenshot(path=screenshots / "queue.png", full_page=True)
    await row.get_by_role("link", name=title).click()

    await expect(page.get_by_role("heading", level=1)).to_have_text(f"#{ticket['number']} {title}")
    await expect(page.locator("[data-sla]").first).to_contain_text("First response")
    await page.get_by_label("Message").fill("Thanks for telling us. We are looking at the export now.")
    await page.get_by_role("button", name="Send reply").click()
    await expect(page.get_by_role("status")).to_have_text("Reply sent.")
    reply = page.locator(".message-reply").last
    await expect(reply).to_contain_text("Public reply")
    await expect(reply).to_contain_text("We are looking at the export now.")

    # An internal note, sent from the keyboard; the composer shows which kind it is about to send.
    await page.get_by_label("Internal note for staff").check()
    await expect(page.locator("#composer button[type=submit]")).to_have_text("Add internal note")
    await page.get_by_label("Message").fill("Probably the page size of the export job.")
    await page.get_by_label("Message").press("Control+Enter")
    await expect(page.get_by_role("status")).to_have_text("Internal note added.")
    note = page.locator(".message-note").last
    await expect(note).to_contain_text("Internal note")
    await expect(note).to_contain_text("page size of the export job")

    await page.get_by_label("Status").select_option("in_progress")
    await page.get_by_label("Tags").fill("export, billing")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("status")).to_have_text("Changes saved.")
    await expect(page.locator("#ticket-status")).to_have_text("In progress")
    await expect(page.get_by_label("Tags")).to_have_value("billing, export")
    await page.screenshot(path=screenshots / "ticket.png", full_page=True)

    stored = api.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert (stored["status"], stored["tags"]) == ("in_progress", ["billing", "export"])
    comments = api.get(f"/api/v1/tickets/{ticket['id']}/comments").json()
    assert [(comment["is_public"], comment["author_user_id"]) for comment in comments] == [
        (True, workspace_server.agent_id),
        (False, workspace_server.agent_id),
    ]


async def test_a_stale_or_refused_change_is_explained_and_nothing_typed_is_lost(
    agent_page: Page, workspace_server: WorkspaceServer
) -> None:
    page, api = agent_page, workspace_server.api()
    ticket = workspace_server.create_ticket(assigned_agent_id=workspace_server.agent_id)
    await page.goto(f"/app/tickets/{ticket['id']}")

    # Someone else raises the priority while the agent decides to wait for the customer.
    changed = api.patch(f"/api/v1/tickets/{ticket['id']}", json={"priority": "critical"})
    assert changed.status_code == 200, changed.text
    await page.get_by_label("Status").select_option("pending")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.locator("#stale-warning")).to_be_visible()
    await expect(page.locator("#ticket-priority")).to_have_text("Critical priority")
    await expect(page.get_by_label("Status")).to_have_value("pending")
    await expect(page.get_by_label("Priority")).to_have_value("critical")
    assert api.get(f"/api/v1/tickets/{ticket['id']}").json()["status"] == "assigned"
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("status")).to_have_text("Changes saved.")
    stored = api.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert (stored["status"], stored["priority"]) == ("pending", "critical")

    # The ticket is closed elsewhere while a reply is being written: the reply is refused, kept.
    for status in ("resolved", "closed"):
        moved = api.patch(f"/api/v1/tickets/{ticket['id']}", json={"status": status})
        assert moved.status_code == 200, moved.text
    await page.get_by_label("Message").fill("One more thing about your export.")
    await page.get_by_role("button", name="Send reply").click()
    await expect(page.locator("#content-error")).to_contain_text("closed")
    await expect(page.get_by_label("Message")).to_have_value("One more thing about your export.")
    assert api.get(f"/api/v1/tickets/{ticket['id']}/comments").json() == []


async def test_what_customers_write_is_shown_as_text_and_never_runs(
    agent_page: Page, workspace_server: WorkspaceServer
) -> None:
    page, api = agent_page, workspace_server.api()
    title = '<img src=x onerror="window.pwned=1;alert(1)">Refund <b>now</b>'
    message = '<script>window.pwned=2;alert(2)</script><a href="javascript:alert(3)">click</a>'
    ticket = workspace_server.create_ticket(
        title=title, description='"><svg onload=alert(4)>', assigned_agent_id=workspace_server.agent_id
    )
    added = api.post(
        f"/api/v1/tickets/{ticket['id']}/comments", json={"content": message, "author": "customer"}
    )
    assert added.status_code == 201, added.text

    await page.goto("/app")
    await expect(page.get_by_role("link", name=title)).to_be_visible()
    await page.get_by_role("link", name=title).click()
    await expect(page.locator("#ticket-title .title")).to_have_text(title)
    await expect(page.locator(".message-customer .message-body")).to_have_text(message)
    await expect(page.locator(".message-request .message-body")).to_have_text('"><svg onload=alert(4)>')
    assert await page.locator("main img, main svg, main script, .message-body a").count() == 0
    assert await page.evaluate("window.pwned") is None


async def test_the_common_moves_work_from_the_keyboard_and_are_listed_on_question_mark(
    agent_page: Page, workspace_server: WorkspaceServer, screenshots: Path
) -> None:
    page = agent_page
    title = f"Keyboard journey {uuid.uuid4().hex[:6]}"
    ticket = workspace_server.create_ticket(title=title, assigned_agent_id=workspace_server.agent_id)
    await page.goto("/app?sort=-created_at")

    await page.keyboard.press("?")
    shortcuts = page.get_by_role("dialog", name="Keyboard shortcuts")
    await expect(shortcuts).to_be_visible()
    await expect(shortcuts).to_contain_text("Write an internal note")
    await page.screenshot(path=screenshots / "shortcuts.png")
    await page.keyboard.press("Escape")
    await expect(shortcuts).to_be_hidden()

    # The newest ticket is first: j focuses it, Enter opens it.
    await page.keyboard.press("j")
    await expect(page.get_by_role("link", name=title)).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"#{ticket['number']} {title}")

    await page.keyboard.press("n")
    await expect(page.get_by_label("Message")).to_be_focused()
    await expect(page.get_by_label("Internal note for staff")).to_be_checked()
    await page.keyboard.type("Typed without the mouse; r and n inside the text stay letters.")
    await page.keyboard.press("Escape")
    await page.keyboard.press("r")
    await expect(page.get_by_label("Public reply to the customer")).to_be_checked()
    await expect(page.get_by_label("Message")).to_have_value(
        "Typed without the mouse; r and n inside the text stay letters."
    )
    await page.keyboard.press("Escape")
    await page.keyboard.press("s")
    await expect(page.get_by_label("Status")).to_be_focused()

    await page.keyboard.press("Escape")
    await page.keyboard.press("g")
    await page.keyboard.press("i")
    await expect(page).to_have_url(re.compile(r"/app/inbox$"))
    await page.keyboard.press("g")
    await page.keyboard.press("q")
    await expect(page).to_have_url(re.compile(r"/app$"))


async def test_an_agent_changes_several_tickets_at_once_from_the_queue(
    agent_page: Page, workspace_server: WorkspaceServer, screenshots: Path
) -> None:
    page, api = agent_page, workspace_server.api()
    marker = uuid.uuid4().hex[:6]
    tickets = [workspace_server.create_ticket(title=f"Bulk {marker} {n}") for n in range(2)]
    await page.goto(f"/app?queue=all&sort=-created_at&q=Bulk+{marker}")

    for ticket in tickets:
        await page.get_by_label(f"Choose #{ticket['number']}").check()
    await expect(page.locator("#bulk-count")).to_have_text("2 tickets chosen:")
    await page.locator("#bulk-priority").select_option("low")
    await page.get_by_label("Add tag").fill(f"bulk-{marker}")
    await page.screenshot(path=screenshots / "queue-bulk.png", full_page=True)
    await page.get_by_role("button", name="Apply to chosen").click()

    await expect(page.get_by_role("status").filter(has_text="changed")).to_have_text("2 tickets changed.")
    for ticket in tickets:
        stored = api.get(f"/api/v1/tickets/{ticket['id']}").json()
        assert (stored["priority"], stored["tags"]) == ("low", [f"bulk-{marker}"])


async def test_an_agent_attaches_a_file_to_a_reply_and_copies_a_colleague_of_the_customer(
    agent_page: Page, workspace_server: WorkspaceServer, screenshots: Path
) -> None:
    page, api = agent_page, workspace_server.api()
    ticket = workspace_server.create_ticket(
        title=f"Export format {uuid.uuid4().hex[:6]}", assigned_agent_id=workspace_server.agent_id
    )
    await page.goto(f"/app/tickets/{ticket['id']}")

    await page.get_by_label("Message").fill("The corrected export is attached.")
    await page.get_by_label("Attach files").set_input_files(
        [FilePayload(name="export.csv", mimeType="text/csv", buffer=b"id,total\n1,42\n")]
    )
    await page.get_by_role("button", name="Send reply").click()
    await expect(page.get_by_role("status")).to_have_text("Reply sent.")
    reply = page.locator(".message-reply").last
    link = reply.get_by_role("link", name="export.csv")
    await expect(link).to_be_visible()
    async with page.expect_download() as started:
        await link.click()
    download = await started.value
    assert download.suggested_filename == "export.csv"
    saved = await download.path()
    assert saved.read_bytes() == b"id,total\n1,42\n"

    await page.get_by_label("E-mail address").fill("lee.chen@example.com")
    await page.get_by_role("button", name="Add participant").click()
    await expect(page.get_by_role("status")).to_have_text("Participant added.")
    await expect(page.locator("#participants")).to_contain_text("lee.chen@example.com")
    await page.screenshot(path=screenshots / "ticket-with-files.png", full_page=True)

    [stored] = api.get(f"/api/v1/tickets/{ticket['id']}/attachments").json()
    assert (stored["filename"], stored["size"]) == ("export.csv", 14)
    participants = api.get(f"/api/v1/tickets/{ticket['id']}/participants").json()
    assert [one["email"] for one in participants] == ["lee.chen@example.com"]
