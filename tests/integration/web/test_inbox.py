"""The inbox page: the signed-in person's notifications newest first, opened into their ticket and
marked read, the unread badge every page shows, and nobody else's notifications anywhere."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.notifications import service as notification_service
from supportdesk.notifications.models import NotificationKind
from supportdesk.notifications.service import Note
from supportdesk.tickets.models import Ticket
from supportdesk.workspaces.models import Workspace
from tests.factories.tickets import TicketFactory
from tests.integration.web.conftest import PageClient, PageClientFactory

pytestmark = pytest.mark.integration

_NOTE = re.compile(r'action="/app/inbox/(\d+)/open"')
_OLDER = re.compile(r'href="([^"]+)" rel="next">Older<')
_BADGE = re.compile(r'id="unread-count"( hidden)?>([0-9+]+)<')


async def _notify(
    database: Database,
    clock: FrozenClock,
    workspace_id: int,
    user_id: int,
    message: str,
    ticket: Ticket | None,
) -> None:
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace_id)
        await notification_service.record(
            session,
            clock,
            workspace_id,
            [
                Note(
                    user_id=user_id,
                    kind=NotificationKind.assignment,
                    message=message,
                    ticket_id=ticket.id if ticket else None,
                )
            ],
        )
    clock.advance(timedelta(seconds=1))


def _badge(html: str) -> tuple[bool, str]:
    match = _BADGE.search(html)
    assert match is not None, "the page has no unread badge"
    return match.group(1) is None, match.group(2)


async def test_the_inbox_lists_my_notifications_newest_first_and_every_page_counts_the_unread(
    agent_browser: PageClient,
    ticket_factory: TicketFactory,
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
) -> None:
    ticket = await ticket_factory(title="Printer on fire")
    me = agent_browser.user.id
    await _notify(database, clock, workspace.id, me, "Ticket #1 was assigned to you", ticket)
    await _notify(database, clock, workspace.id, me, "Ticket #1 breached its first response", ticket)

    page = await agent_browser.get("/app/inbox")
    queue = await agent_browser.get("/app")

    assert page.status_code == 200
    text = page.text
    assert text.index("breached its first response") < text.index("was assigned to you")
    assert text.count('class="badge info">New<') == 2
    assert _badge(text) == (True, "2")
    assert _badge(queue.text) == (True, "2")


async def test_opening_a_notification_marks_it_read_and_leads_to_its_ticket(
    agent_browser: PageClient,
    ticket_factory: TicketFactory,
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
) -> None:
    ticket = await ticket_factory()
    await _notify(database, clock, workspace.id, agent_browser.user.id, "Assigned to you", ticket)
    await _notify(database, clock, workspace.id, agent_browser.user.id, "A note about nothing", None)
    shown = await agent_browser.get("/app/inbox")
    about_nothing, about_ticket = (int(found) for found in _NOTE.findall(shown.text))

    opened = await agent_browser.submit(f"/app/inbox/{about_ticket}/open", {})
    nothing = await agent_browser.submit(f"/app/inbox/{about_nothing}/open", {})

    assert opened.status_code == 303
    assert opened.headers["location"] == f"/app/tickets/{ticket.id}"
    assert nothing.headers["location"] == "/app/inbox"
    after = await agent_browser.get("/app/inbox?unread=1")
    assert "Nothing unread. You are up to date." in after.text
    assert _badge(after.text) == (False, "0")


async def test_mark_all_read_empties_the_unread_list(
    agent_browser: PageClient, database: Database, clock: FrozenClock, workspace: Workspace
) -> None:
    for n in range(3):
        await _notify(database, clock, workspace.id, agent_browser.user.id, f"Note {n}", None)

    marked = await agent_browser.submit("/app/inbox/read", {})
    again = await agent_browser.submit("/app/inbox/read", {})

    assert marked.headers["location"] == "/app/inbox?marked=all"
    assert again.headers["location"] == "/app/inbox?marked=none"
    page = await agent_browser.get("/app/inbox?marked=all")
    assert "Every notification is marked read." in page.text
    assert page.text.count('class="badge info">New<') == 0
    assert "Note 2" in page.text


async def test_the_inbox_pages_back_in_time_and_a_damaged_link_starts_again(
    agent_browser: PageClient,
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
    settings: Settings,
) -> None:
    size = min(settings.page_size_default, settings.page_size_max)
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        for n in range(size + 1):
            note = Note(
                user_id=agent_browser.user.id, kind=NotificationKind.trigger, message=f"Note {n:03d}."
            )
            await notification_service.record(session, clock, workspace.id, [note])
            clock.advance(timedelta(seconds=1))

    first = await agent_browser.get("/app/inbox")
    older = _OLDER.search(first.text)
    assert older is not None
    second = await agent_browser.get(html.unescape(older.group(1)))
    damaged = await agent_browser.get("/app/inbox?cursor=not-a-cursor")

    assert f"Note {size:03d}." in first.text
    assert "Note 000." not in first.text
    assert "Note 000." in second.text
    assert f"Note {size:03d}." not in second.text
    assert 'href="/app/inbox">Newest<' in second.text
    assert "That page link no longer fits this list; here is its first page." in damaged.text
    assert f"Note {size:03d}." in damaged.text


async def test_nobody_sees_or_opens_anyone_elses_notifications(
    page_client_factory: PageClientFactory,
    agent_browser: PageClient,
    ticket_factory: TicketFactory,
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
    other_workspace: Workspace,
) -> None:
    colleague = await page_client_factory()
    ticket = await ticket_factory()
    await _notify(database, clock, workspace.id, colleague.user.id, "For the colleague only", ticket)
    theirs = _NOTE.findall((await colleague.get("/app/inbox")).text)

    mine = await agent_browser.get("/app/inbox")
    opened = await agent_browser.submit(f"/app/inbox/{theirs[0]}/open", {})
    too_large = await agent_browser.submit("/app/inbox/9007199254740993/open", {})

    assert "For the colleague only" not in mine.text
    assert (opened.status_code, too_large.status_code) == (404, 404)
    assert "There is nothing here in your workspace." in opened.text
    still = await colleague.get("/app/inbox?unread=1")
    assert "For the colleague only" in still.text


async def test_inbox_forms_without_their_token_change_nothing(
    agent_browser: PageClient, database: Database, clock: FrozenClock, workspace: Workspace
) -> None:
    await _notify(database, clock, workspace.id, agent_browser.user.id, "Keep me unread", None)

    refused = await agent_browser.post("/app/inbox/read", data={"csrf_token": "forged"})

    assert refused.status_code == 403
    page = await agent_browser.get("/app/inbox?unread=1")
    assert "Keep me unread" in page.text
