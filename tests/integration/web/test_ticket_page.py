"""The ticket page: what it shows, replies and notes through the comment flow, changes through the update
flow with the stale-edit check, refused forms shown again with what was typed, and another workspace's
tickets answering "not found" to every page and form."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from markupsafe import escape

from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Attachment, Priority, Ticket, TicketStatus
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory, UserFactory
from tests.factories.tickets import CommentFactory, TicketFactory
from tests.fixtures.app import ApiClient
from tests.integration.web.conftest import PageClient, PageClientFactory


@dataclass(frozen=True)
class Stored:
    """What the database holds of a ticket and its comments."""

    status: TicketStatus
    priority: Priority
    assigned_agent_id: int | None
    version: int
    first_responded_at: datetime | None
    comments: list[tuple[int, str, bool, int | None]]  # id, content, public, author
    category: str = "general"
    tags: list[str] = field(default_factory=list)


async def _stored(database: Database, ticket: Ticket) -> Stored:
    """The ticket and its comments as committed, read through the ticket service."""
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, ticket.workspace_id)
        fresh = await ticket_service.get_ticket(session, ticket.id)
        comments = await ticket_service.list_comments(session, fresh)
        return Stored(
            fresh.status,
            fresh.priority,
            fresh.assigned_agent_id,
            fresh.version,
            fresh.first_responded_at,
            [(one.id, one.content, one.is_public, one.author_user_id) for one in comments],
            fresh.category,
            list(fresh.tags),
        )


def _form(ticket: Ticket, **changes: str) -> dict[str, str]:
    """The properties form as the page fills it for ``ticket``, with ``changes`` chosen."""
    shown = {
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "assignee": str(ticket.assigned_agent_id or ""),
        "category": ticket.category,
        "tags": ", ".join(ticket.tags),
    }
    return {
        "version": str(ticket.version),
        **{f"shown_{name}": value for name, value in shown.items()},
        **shown,
        **changes,
    }


async def test_the_page_shows_the_ticket_its_sla_and_its_conversation(
    agent_browser: PageClient,
    ticket_factory: TicketFactory,
    comment_factory: CommentFactory,
    customer_factory: CustomerFactory,
    database: Database,
    clock: FrozenClock,
) -> None:
    maria = await customer_factory(email="maria@example.com", name="Maria Lopez", company="Initech")
    ticket = await ticket_factory(
        title="Export stops", description="It stops at 10,000 rows.", customer=maria, priority=Priority.high
    )
    earlier = await ticket_factory(title="An earlier question", customer=maria)
    me = agent_browser.user
    await comment_factory(ticket, author=me, content="More details?", as_customer=True)
    await comment_factory(ticket, author=me, content="We are on it.")
    note = await comment_factory(ticket, author=me, content="Check the export job.", is_public=False)
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, ticket.workspace_id)
        session.add(
            Attachment(
                workspace_id=ticket.workspace_id,
                ticket_id=ticket.id,
                comment_id=note.id,
                filename="export.log",
                content_type="text/plain",
                size=2048,
                sha256="0" * 64,
                created_at=clock.now(),
            )
        )

    page = await agent_browser.get(f"/app/tickets/{ticket.id}")

    assert page.status_code == 200
    text = page.text
    assert f'<span class="number">#{ticket.number}</span> <span class="title">Export stops</span>' in text
    assert "High priority" in text
    assert '<span class="sla-name">First response</span>' in text
    assert '<span class="sla-state">Met</span>' in text  # the agent's public reply
    # The resolution target of a high-priority ticket: 24 hours.
    assert re.search(r'<time datetime="[^"]+" data-countdown[^>]*>in 1 d 0 h</time>', text)
    kinds = re.findall(r'<li class="message message-(\w+)"', text)
    assert kinds == ["request", "customer", "reply", "note"]
    assert "Internal note" in text
    assert re.search(r'href="/api/v1/attachments/\d+/content" download="export.log">export.log</a>', text)
    assert "2 KB" in text
    assert "Maria Lopez" in text
    assert "Initech" in text
    assert f'href="/app/tickets/{earlier.id}"' in text
    assert f'name="version" value="{(await _stored(database, ticket)).version}"' in text
    # The customer panel leads to the queue of everything this customer asked.
    every = re.search(r'<a href="(/app\?[^"]+)">Every ticket of this customer</a>', text)
    assert every is not None
    listed = await agent_browser.get(html.unescape(every.group(1)))
    assert set(re.findall(r'<tr data-ticket="(\d+)">', listed.text)) == {str(ticket.id), str(earlier.id)}


async def test_an_agent_replies_and_writes_notes_through_the_comment_flow(
    agent_browser: PageClient, ticket_factory: TicketFactory, database: Database, clock: FrozenClock
) -> None:
    ticket = await ticket_factory()
    clock.advance(timedelta(minutes=5))

    reply = await agent_browser.submit(
        f"/app/tickets/{ticket.id}/comments", {"content": "  We are on it.  ", "visibility": "public"}
    )
    note = await agent_browser.submit(
        f"/app/tickets/{ticket.id}/comments", {"content": "Looks like the job.", "visibility": "note"}
    )

    stored = await _stored(database, ticket)
    me = agent_browser.user.id
    (reply_id, *reply_fields), (note_id, *note_fields) = stored.comments
    assert reply_fields == ["We are on it.", True, me]
    assert note_fields == ["Looks like the job.", False, me]
    assert stored.first_responded_at == clock.now()  # the flow's rules ran: the first public reply
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/app/tickets/{ticket.id}?saved=reply#comment-{reply_id}"
    assert note.headers["location"] == f"/app/tickets/{ticket.id}?saved=note#comment-{note_id}"
    shown = await agent_browser.get(reply.headers["location"].split("#")[0])
    assert "Reply sent." in shown.text


async def test_an_empty_reply_is_refused_beside_the_message(
    agent_browser: PageClient, ticket_factory: TicketFactory, database: Database
) -> None:
    ticket = await ticket_factory()

    response = await agent_browser.submit(
        f"/app/tickets/{ticket.id}/comments", {"content": "   ", "visibility": "note"}
    )

    assert response.status_code == 422
    assert 'id="content-error"' in response.text
    assert "Write a message before sending it." in response.text
    assert '<input type="radio" name="visibility" value="note" checked>' in response.text
    assert (await _stored(database, ticket)).comments == []


async def test_a_reply_to_a_closed_ticket_is_refused_and_its_text_kept(
    agent_browser: PageClient, ticket_factory: TicketFactory, database: Database
) -> None:
    ticket = await ticket_factory(status=TicketStatus.closed)
    text = 'One more thing: <b>"quotes"</b> & all'

    response = await agent_browser.submit(f"/app/tickets/{ticket.id}/comments", {"content": text})

    assert response.status_code == 409
    assert "A closed ticket takes no more comments" in response.text
    assert f">{escape(text)}</textarea>" in response.text
    assert (await _stored(database, ticket)).comments == []


async def test_status_priority_and_assignee_change_through_the_update_flow(
    agent_browser: PageClient, ticket_factory: TicketFactory, database: Database
) -> None:
    ticket = await ticket_factory()
    me = str(agent_browser.user.id)

    response = await agent_browser.submit(
        f"/app/tickets/{ticket.id}/update", _form(ticket, assignee=me, status="in_progress", priority="high")
    )

    assert (response.status_code, response.headers["location"]) == (
        303,
        f"/app/tickets/{ticket.id}?saved=update",
    )
    stored = await _stored(database, ticket)
    assert (stored.status, stored.priority, stored.assigned_agent_id) == (
        TicketStatus.in_progress,
        Priority.high,
        agent_browser.user.id,
    )
    assert stored.version == ticket.version + 1
    assert stored.first_responded_at is not None  # the flow's rules ran: work started


async def test_category_and_tags_change_through_the_update_flow(
    agent_browser: PageClient, ticket_factory: TicketFactory, database: Database
) -> None:
    ticket = await ticket_factory(category="general", tags=["billing"])
    page = await agent_browser.get(f"/app/tickets/{ticket.id}")
    assert '<option value="general" selected>' in page.text
    assert 'name="tags" type="text" value="billing"' in page.text

    response = await agent_browser.submit(
        f"/app/tickets/{ticket.id}/update", _form(ticket, category="technical", tags="VIP,  export export")
    )

    assert response.headers["location"] == f"/app/tickets/{ticket.id}?saved=update"
    stored = await _stored(database, ticket)
    assert (stored.category, stored.tags) == ("technical", ["export", "vip"])
    assert stored.version == ticket.version + 1


async def test_tags_retyped_in_another_order_change_nothing(
    agent_browser: PageClient, ticket_factory: TicketFactory, database: Database
) -> None:
    ticket = await ticket_factory(tags=["billing", "vip"])

    response = await agent_browser.submit(
        f"/app/tickets/{ticket.id}/update", _form(ticket, tags="vip  billing")
    )

    assert response.headers["location"] == f"/app/tickets/{ticket.id}?saved=nothing"
    assert (await _stored(database, ticket)).version == ticket.version


async def test_a_form_that_changes_nothing_changes_nothing(
    agent_browser: PageClient, ticket_factory: TicketFactory, database: Database
) -> None:
    ticket = await ticket_factory()

    response = await agent_browser.submit(f"/app/tickets/{ticket.id}/update", _form(ticket))

    assert response.headers["location"] == f"/app/tickets/{ticket.id}?saved=nothing"
    assert (await _stored(database, ticket)).version == ticket.version


async def test_a_stale_change_is_refused_with_a_warning_and_the_choice_kept(
    agent_browser: PageClient, admin_client: ApiClient, ticket_factory: TicketFactory, database: Database
) -> None:
    ticket = await ticket_factory(assignee=agent_browser.user)
    # Someone else raises the priority after the agent's page showed the ticket.
    changed = await admin_client.patch(f"/api/v1/tickets/{ticket.id}", json={"priority": "critical"})
    assert changed.status_code == 200

    response = await agent_browser.submit(f"/app/tickets/{ticket.id}/update", _form(ticket, status="pending"))

    assert response.status_code == 412
    assert 'id="stale-warning"' in response.text
    assert '<option value="pending" selected>' in response.text
    assert '<option value="critical" selected>' in response.text  # the other change, not the stale value
    assert f'name="version" value="{ticket.version + 1}"' in response.text
    stored = await _stored(database, ticket)
    assert (stored.status, stored.priority) == (TicketStatus.assigned, Priority.critical)


@pytest.mark.parametrize(
    ("changes", "status_code", "message"),
    [
        pytest.param(
            {"status": "in_progress"},
            422,
            "Assign the ticket before moving it to in_progress",
            id="needs-agent",
        ),
        pytest.param({"status": "closed"}, 409, "A ticket cannot go from open to closed", id="transition"),
        pytest.param(
            {"priority": "urgentest"}, 422, "Choose a valid value for: priority.", id="bad-priority"
        ),
        pytest.param({"assignee": "someone"}, 422, "Choose a valid value for: assignee.", id="bad-assignee"),
        pytest.param({"assignee": "999999"}, 422, "No active staff user has this id.", id="unknown-agent"),
        pytest.param({"category": "gardening"}, 422, "Unknown category; use one of", id="unknown-category"),
        pytest.param({"tags": "fine, not/fine"}, 422, "Choose a valid value for: tags", id="bad-tag"),
    ],
)
async def test_a_refused_change_is_said_on_the_page(
    agent_browser: PageClient,
    ticket_factory: TicketFactory,
    database: Database,
    changes: dict[str, str],
    status_code: int,
    message: str,
) -> None:
    ticket = await ticket_factory()

    response = await agent_browser.submit(f"/app/tickets/{ticket.id}/update", _form(ticket, **changes))

    assert response.status_code == status_code
    assert 'id="properties-error"' in response.text
    assert message in response.text
    assert (await _stored(database, ticket)).version == ticket.version


async def test_a_form_without_its_version_is_refused(
    agent_browser: PageClient, ticket_factory: TicketFactory
) -> None:
    ticket = await ticket_factory()
    form = _form(ticket, priority="low")
    del form["version"]

    response = await agent_browser.submit(f"/app/tickets/{ticket.id}/update", form)

    assert response.status_code == 422
    assert "missing the ticket&#39;s version" in response.text


async def test_forms_without_the_pages_token_change_nothing(
    agent_browser: PageClient, ticket_factory: TicketFactory, database: Database
) -> None:
    ticket = await ticket_factory()

    reply = await agent_browser.post(f"/app/tickets/{ticket.id}/comments", data={"content": "Forged"})
    update = await agent_browser.post(
        f"/app/tickets/{ticket.id}/update", data={"csrf_token": "forged", **_form(ticket, priority="low")}
    )

    for response in (reply, update):
        assert response.status_code == 403
        assert "This form has expired" in response.text
    stored = await _stored(database, ticket)
    assert stored.comments == []
    assert stored.version == ticket.version


async def test_a_viewer_reads_but_cannot_reply_or_change(
    page_client_factory: PageClientFactory, ticket_factory: TicketFactory, database: Database
) -> None:
    viewer = await page_client_factory(role=Role.viewer)
    ticket = await ticket_factory()

    page = await viewer.get(f"/app/tickets/{ticket.id}")
    reply = await viewer.submit(f"/app/tickets/{ticket.id}/comments", {"content": "Hello"})
    update = await viewer.submit(f"/app/tickets/{ticket.id}/update", _form(ticket, priority="low"))

    assert page.status_code == 200
    assert 'id="composer"' not in page.text
    assert "Save changes" not in page.text
    assert (reply.status_code, update.status_code) == (403, 403)
    assert (await _stored(database, ticket)).comments == []


async def test_customer_text_is_printed_as_text(
    agent_browser: PageClient, ticket_factory: TicketFactory, comment_factory: CommentFactory
) -> None:
    title = '"><script>alert(1)</script>'
    comment = '<img src=x onerror="alert(2)"><a href="javascript:alert(3)">link</a>'
    ticket = await ticket_factory(
        title=title, description="</textarea><script>alert(4)</script>", customer_email="eve@example.com"
    )
    await comment_factory(ticket, author=agent_browser.user, content=comment, as_customer=True)

    page = await agent_browser.get(f"/app/tickets/{ticket.id}")

    for text in (title, comment, "</textarea><script>alert(4)</script>"):
        assert str(escape(text)) in page.text
    assert "<script>alert" not in page.text
    assert "<img src=x" not in page.text
    assert 'href="javascript:' not in page.text


async def test_another_workspaces_ticket_is_not_found_by_any_page_or_form(
    agent_browser: PageClient,
    ticket_factory: TicketFactory,
    user_factory: UserFactory,
    other_workspace: Workspace,
    database: Database,
) -> None:
    theirs = await ticket_factory(workspace=other_workspace, title="Theirs")

    answers = [
        await agent_browser.get(f"/app/tickets/{theirs.id}"),
        await agent_browser.submit(f"/app/tickets/{theirs.id}/comments", {"content": "Hello from elsewhere"}),
        await agent_browser.submit(f"/app/tickets/{theirs.id}/update", _form(theirs, priority="low")),
        await agent_browser.get("/app/tickets/9007199254740993"),
    ]

    assert [answer.status_code for answer in answers] == [404, 404, 404, 404]
    assert all("There is nothing here in your workspace." in answer.text for answer in answers)
    assert all("Theirs" not in answer.text for answer in answers)
    stored = await _stored(database, theirs)
    assert (stored.priority, stored.version, stored.comments) == (theirs.priority, theirs.version, [])
