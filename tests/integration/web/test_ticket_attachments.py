"""Files and participants on the ticket page: the composer sends files with a reply or a note through
the API upload's checks and service, refusals are said beside the file field with the message kept,
the conversation links each file to the safe download, and the participants form copies an address
on the replies through the participants service. Another workspace's ticket is not found."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.tickets import attachments, participants
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Attachment, Ticket, TicketStatus
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.uploads import PNG, REFUSED_FILES, Files, small_upload_settings
from tests.integration.web.conftest import PageClient


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    return small_upload_settings(engine)


async def _send(
    browser: PageClient, ticket_id: int, content: str, files: Files, *, visibility: str = "public"
) -> tuple[int, str, str]:
    """Post the composer as a browser does (multipart, with the page's token): status, location, page."""
    response = await browser.post(
        f"/app/tickets/{ticket_id}/comments",
        data={"csrf_token": browser.csrf_token, "content": content, "visibility": visibility},
        files=files,
    )
    return response.status_code, response.headers.get("location", ""), response.text


async def _stored(database: Database, ticket: Ticket) -> tuple[list[tuple[str, bool]], list[Attachment]]:
    """The ticket's comments (content, public) and attachments as committed."""
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, ticket.workspace_id)
        fresh = await ticket_service.get_ticket(session, ticket.id)
        comments = await ticket_service.list_comments(session, fresh)
        files = await attachments.list_attachments(session, fresh)
        session.expunge_all()
    return [(one.content, one.is_public) for one in comments], files


@pytest.mark.parametrize(
    ("visibility", "public"),
    [pytest.param("public", True, id="public-reply"), pytest.param("note", False, id="internal-note")],
)
async def test_the_composer_sends_files_and_the_conversation_links_them(
    agent_browser: PageClient,
    ticket_factory: TicketFactory,
    database: Database,
    visibility: str,
    public: bool,
) -> None:
    ticket = await ticket_factory()
    files: Files = [
        ("files", ("report.txt", b"numbers", "text/plain")),
        ("files", ("screen.png", PNG, "image/png")),
    ]

    status, location, _ = await _send(agent_browser, ticket.id, "See attached.", files, visibility=visibility)

    comments, kept = await _stored(database, ticket)
    assert comments == [("See attached.", public)]
    assert [(one.filename, one.size) for one in kept] == [("report.txt", 7), ("screen.png", len(PNG))]
    assert status == 303
    assert location.startswith(f"/app/tickets/{ticket.id}?saved=")
    page = (await agent_browser.get(f"/app/tickets/{ticket.id}")).text
    text_file, picture = kept
    assert (
        f'<a href="/api/v1/attachments/{text_file.id}/content" download="report.txt">report.txt</a>' in page
    )
    # Only a picture of the allow-list is shown as a thumbnail; every file is a download link.
    assert f'<img src="/api/v1/attachments/{picture.id}/content"' in page
    assert f'<img src="/api/v1/attachments/{text_file.id}/content"' not in page


@pytest.mark.parametrize(
    ("filename", "data", "declared", "served", "disposition"),
    [
        pytest.param(
            "notes.html",
            b"<script>alert(1)</script>",
            "text/html",
            "application/octet-stream",
            "attachment",
            id="page-is-bytes-to-download",
        ),
        pytest.param("screen.png", PNG, "image/png", "image/png", "inline", id="picture-shown"),
    ],
)
async def test_a_linked_file_downloads_with_safe_headers_in_the_browser_session(
    agent_browser: PageClient,
    ticket_factory: TicketFactory,
    database: Database,
    filename: str,
    data: bytes,
    declared: str,
    served: str,
    disposition: str,
) -> None:
    ticket = await ticket_factory()
    await _send(agent_browser, ticket.id, "A file.", [("files", (filename, data, declared))])
    _, [kept] = await _stored(database, ticket)
    page = (await agent_browser.get(f"/app/tickets/{ticket.id}")).text
    link = re.search(rf'href="(/api/v1/attachments/{kept.id}/content)"', page)
    assert link is not None

    download = await agent_browser.get(link.group(1))

    assert download.status_code == 200
    assert download.content == data
    assert download.headers["content-type"] == served
    assert download.headers["content-disposition"].startswith(f"{disposition}; filename*=UTF-8''")
    assert download.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(("files", "message"), REFUSED_FILES)
async def test_refused_files_are_said_beside_the_field_and_the_message_is_kept(
    agent_browser: PageClient, ticket_factory: TicketFactory, database: Database, files: Files, message: str
) -> None:
    ticket = await ticket_factory()

    status, _, page = await _send(agent_browser, ticket.id, "Logs & dumps attached", files, visibility="note")

    assert status == 422
    assert f'<p class="field-error" id="files-error" role="alert">{message}</p>' in page
    assert "choose the files again" in page
    assert ">Logs &amp; dumps attached</textarea>" in page
    assert '<input type="radio" name="visibility" value="note" checked>' in page
    assert await _stored(database, ticket) == ([], [])


async def test_an_empty_file_field_sends_the_reply_without_files(
    agent_browser: PageClient, ticket_factory: TicketFactory, database: Database
) -> None:
    ticket = await ticket_factory()
    # What a browser sends for a file field nobody used: a part without a name or bytes.
    nothing_chosen: Files = [("files", ("", b"", "application/octet-stream"))]

    status, _, _ = await _send(agent_browser, ticket.id, "Just words.", nothing_chosen)

    assert status == 303
    assert await _stored(database, ticket) == ([("Just words.", True)], [])


async def test_files_without_the_forms_token_are_refused(
    agent_browser: PageClient, ticket_factory: TicketFactory, database: Database
) -> None:
    ticket = await ticket_factory()

    response = await agent_browser.post(
        f"/app/tickets/{ticket.id}/comments",
        data={"content": "From another site"},
        files=[("files", ("report.txt", b"numbers", "text/plain"))],
    )

    assert response.status_code == 403
    assert await _stored(database, ticket) == ([], [])


async def test_another_workspaces_ticket_and_files_are_not_found(
    agent_browser: PageClient,
    ticket_factory: TicketFactory,
    database: Database,
    clock: FrozenClock,
    other_workspace: Workspace,
) -> None:
    theirs = await ticket_factory(workspace=other_workspace, title="Theirs")
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, other_workspace.id)
        comment = await ticket_service.add_comment(
            session,
            clock,
            await ticket_service.get_ticket(session, theirs.id),
            actor=None,
            content="Their note",
            is_public=False,
        )
        file = Attachment(
            workspace_id=other_workspace.id,
            ticket_id=theirs.id,
            comment_id=comment.id,
            filename="secret.txt",
            content_type="text/plain",
            size=6,
            sha256="0" * 64,
            created_at=clock.now(),
        )
        session.add(file)
        await session.flush()
        file_id = file.id

    sent = await _send(agent_browser, theirs.id, "Hello", [("files", ("a.txt", b"a", "text/plain"))])
    copied = await agent_browser.submit(f"/app/tickets/{theirs.id}/participants", {"email": "x@example.com"})
    download = await agent_browser.get(f"/api/v1/attachments/{file_id}/content")

    assert (sent[0], copied.status_code, download.status_code) == (404, 404, 404)
    assert (await _stored(database, theirs))[0] == [("Their note", False)]


async def test_a_participant_is_added_from_the_ticket_page(
    agent_browser: PageClient, ticket_factory: TicketFactory, database: Database
) -> None:
    ticket = await ticket_factory()

    response = await agent_browser.submit(
        f"/app/tickets/{ticket.id}/participants", {"email": "Lee@Example.com", "name": "Lee Chen"}
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"/app/tickets/{ticket.id}?saved=participant#participants-title"
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, ticket.workspace_id)
        found = await participants.list_participants(session, ticket.id)
        added = [(one.email, one.name, one.added_by_user_id) for one in found]
    assert added == [("lee@example.com", "Lee Chen", agent_browser.user.id)]
    page = (await agent_browser.get(response.headers["location"].split("#")[0])).text
    assert "Participant added." in page
    assert 'Lee Chen <span class="muted">lee@example.com</span>' in page


@pytest.mark.parametrize(
    ("email", "status_code", "message"),
    [
        pytest.param(
            "not an address", 422, "Enter an e-mail address, like name@example.com.", id="not-an-address"
        ),
        pytest.param("maria@example.com", 422, "This is the ticket&#39;s customer.", id="the-customer"),
        pytest.param(
            "lee@example.com", 409, "lee@example.com is a participant of ticket", id="copied-already"
        ),
    ],
)
async def test_a_refused_participant_is_said_beside_the_form_with_the_address_kept(
    agent_browser: PageClient,
    ticket_factory: TicketFactory,
    customer_factory: CustomerFactory,
    email: str,
    status_code: int,
    message: str,
) -> None:
    maria = await customer_factory(email="maria@example.com")
    ticket = await ticket_factory(customer=maria)
    first = await agent_browser.submit(f"/app/tickets/{ticket.id}/participants", {"email": "lee@example.com"})
    assert first.status_code == 303

    response = await agent_browser.submit(f"/app/tickets/{ticket.id}/participants", {"email": email})

    assert response.status_code == status_code
    assert 'id="participant-error"' in response.text
    assert message in response.text
    assert f'name="email" value="{email}"' in response.text


async def test_a_closed_ticket_offers_no_files_or_participants(
    agent_browser: PageClient, ticket_factory: TicketFactory
) -> None:
    ticket = await ticket_factory(status=TicketStatus.closed)

    page = (await agent_browser.get(f"/app/tickets/{ticket.id}")).text

    assert 'name="files"' not in page
    assert f'action="/app/tickets/{ticket.id}/participants"' not in page
