"""Files in the customer portal: the request form and the reply form take files through the API
upload's checks and service (too many or too large refused beside the field, with what was typed
kept); a customer sees and downloads the files of their own tickets' public comments, never an internal
note's, and anyone else's file is not found."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk.config import Settings
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people.models import Customer
from supportdesk.tickets import attachments
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Attachment, Ticket
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory, UserFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient, ClientFactory
from tests.fixtures.uploads import PNG, REFUSED_FILES, Files, small_upload_settings
from tests.integration.portal.conftest import PORTAL, PortalBrowser, SignIn

REQUEST = {
    "name": "Maria Lopez",
    "email": "maria@example.com",
    "subject": "Invoice download fails",
    "message": "The button does nothing <since Monday>.",
}


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    return small_upload_settings(engine)


@pytest.fixture
async def customer(customer_factory: CustomerFactory) -> Customer:
    return await customer_factory(email="maria@example.com", name="Maria Lopez")


@pytest.fixture
async def maria(sign_in: SignIn, customer: Customer) -> PortalBrowser:
    return await sign_in(customer)


async def _tickets(database: Database, workspace: Workspace) -> list[tuple[Ticket, list[tuple[str, bool]]]]:
    """The workspace's tickets, each with its comments (content, public)."""
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, workspace.id)
        found = []
        for ticket in (await session.execute(select(Ticket).order_by(Ticket.id))).scalars():
            comments = await ticket_service.list_comments(session, ticket)
            found.append((ticket, [(one.content, one.is_public) for one in comments]))
        session.expunge_all()
    return found


async def _files(database: Database, ticket: Ticket) -> list[Attachment]:
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, ticket.workspace_id)
        found = await attachments.list_attachments(session, ticket)
        session.expunge_all()
    return found


async def _upload(client: ApiClient, ticket: Ticket, content: str, public: bool, files: Files) -> list[int]:
    """Staff comment on ``ticket`` with ``files`` through the API; the files' ids."""
    response = await client.post(
        f"/api/v1/tickets/{ticket.id}/attachments",
        data={"content": content, "is_public": str(public).lower()},
        files=files,
    )
    assert response.status_code == 201, response.text
    return [one["id"] for one in response.json()["attachments"]]


async def test_a_request_with_files_keeps_them_on_the_customers_first_message(
    visitor: PortalBrowser, database: Database, workspace: Workspace, sign_in: SignIn
) -> None:
    files: Files = [("files", ("invoice.pdf", b"%PDF-1.4", "application/pdf"))]

    sent = await visitor.fill(PORTAL, f"{PORTAL}/requests", REQUEST, files)

    assert sent.status_code == 303
    [(ticket, comments)] = await _tickets(database, workspace)
    assert ticket.description == REQUEST["message"]
    assert comments == [("Attached to the request: invoice.pdf", True)]
    [kept] = await _files(database, ticket)
    assert (kept.filename, kept.size) == ("invoice.pdf", 8)
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, workspace.id)
        customer = await session.get_one(Customer, ticket.customer_id)
        session.expunge(customer)
    page = await (await sign_in(customer)).get(f"{PORTAL}/tickets/{ticket.id}")
    assert (
        f'href="{PORTAL}/tickets/{ticket.id}/files/{kept.id}" download="invoice.pdf">invoice.pdf</a>'
        in page.text
    )


@pytest.mark.parametrize(("files", "message"), REFUSED_FILES)
async def test_a_request_with_refused_files_is_shown_again_as_typed(
    visitor: PortalBrowser, database: Database, workspace: Workspace, files: Files, message: str
) -> None:
    sent = await visitor.fill(PORTAL, f"{PORTAL}/requests", REQUEST, files)

    assert sent.status_code == 422
    assert f'<p class="field-error" id="files-error">{message}</p>' in sent.text
    assert "Please choose your files again." in sent.text
    assert 'value="Invoice download fails"' in sent.text
    assert "The button does nothing &lt;since Monday&gt;.</textarea>" in sent.text
    assert await _tickets(database, workspace) == []


async def test_a_reply_with_files_is_the_customers_with_its_files(
    maria: PortalBrowser, customer: Customer, ticket_factory: TicketFactory, database: Database
) -> None:
    ticket = await ticket_factory(customer=customer)
    page = f"{PORTAL}/tickets/{ticket.id}"

    sent = await maria.fill(
        page,
        f"{page}/reply",
        {"message": "Here is the screen."},
        [("files", ("screen.png", PNG, "image/png"))],
    )

    assert (sent.status_code, sent.headers["location"]) == (303, f"{page}?saved=reply")
    [kept] = await _files(database, ticket)
    shown = (await maria.get(page)).text
    assert f'<img src="{page}/files/{kept.id}"' in shown
    picture = await maria.get(f"{page}/files/{kept.id}")
    assert (picture.status_code, picture.headers["content-type"], picture.content) == (200, "image/png", PNG)


@pytest.mark.parametrize(("files", "message"), REFUSED_FILES)
async def test_a_reply_with_refused_files_keeps_its_text(
    maria: PortalBrowser,
    customer: Customer,
    ticket_factory: TicketFactory,
    database: Database,
    workspace: Workspace,
    files: Files,
    message: str,
) -> None:
    ticket = await ticket_factory(customer=customer)
    page = f"{PORTAL}/tickets/{ticket.id}"

    sent = await maria.fill(page, f"{page}/reply", {"message": "Logs attached"}, files)

    assert sent.status_code == 422
    assert f'<p class="field-error" id="files-error">{message}</p>' in sent.text
    assert ">Logs attached</textarea>" in sent.text
    [(_, comments)] = await _tickets(database, workspace)
    assert comments == []
    assert await _files(database, ticket) == []


async def test_the_customer_sees_and_downloads_public_files_only(
    maria: PortalBrowser,
    customer: Customer,
    ticket_factory: TicketFactory,
    user_factory: UserFactory,
    client_factory: ClientFactory,
) -> None:
    ticket = await ticket_factory(customer=customer)
    agent = await client_factory(await user_factory(role=Role.agent))
    [public] = await _upload(
        agent, ticket, "The fixed export.", True, [("files", ("export.csv", b"a,b", "text/csv"))]
    )
    [internal] = await _upload(
        agent, ticket, "Our notes.", False, [("files", ("internal-costs.txt", b"secret", "text/plain"))]
    )
    page = f"{PORTAL}/tickets/{ticket.id}"

    shown = (await maria.get(page)).text
    download = await maria.get(f"{page}/files/{public}")
    hidden = await maria.get(f"{page}/files/{internal}")

    assert f'href="{page}/files/{public}" download="export.csv"' in shown
    assert "internal-costs" not in shown
    assert (download.status_code, download.content) == (200, b"a,b")
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''export.csv"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in download.headers["content-security-policy"]
    assert hidden.status_code == 404


async def test_nobody_else_downloads_a_customers_files(
    maria: PortalBrowser,
    customer: Customer,
    visitor: PortalBrowser,
    customer_factory: CustomerFactory,
    ticket_factory: TicketFactory,
    user_factory: UserFactory,
    client_factory: ClientFactory,
    other_workspace: Workspace,
) -> None:
    agent = await client_factory(await user_factory(role=Role.agent))
    mine = await ticket_factory(customer=customer)
    [my_file] = await _upload(agent, mine, "For you.", True, [("files", ("mine.txt", b"mine", "text/plain"))])
    someone = await customer_factory(email="other@example.com")
    theirs = await ticket_factory(customer=someone)
    [their_file] = await _upload(
        agent, theirs, "For them.", True, [("files", ("theirs.txt", b"x", "text/plain"))]
    )
    # The same address in another workspace is another customer, whose files are that workspace's.
    elsewhere = await customer_factory(workspace=other_workspace, email="maria@example.com")
    far = await ticket_factory(workspace=other_workspace, customer=elsewhere)
    far_agent = await client_factory(await user_factory(role=Role.agent, workspace=other_workspace))
    [far_file] = await _upload(
        far_agent, far, "Elsewhere.", True, [("files", ("far.txt", b"y", "text/plain"))]
    )

    answers = {
        "their-ticket": (await maria.get(f"{PORTAL}/tickets/{theirs.id}/files/{their_file}")).status_code,
        "their-file-on-my-ticket": (
            await maria.get(f"{PORTAL}/tickets/{mine.id}/files/{their_file}")
        ).status_code,
        "other-workspace": (await maria.get(f"{PORTAL}/tickets/{far.id}/files/{far_file}")).status_code,
        "no-such-id": (await maria.get(f"{PORTAL}/tickets/{mine.id}/files/99999999999999999999")).status_code,
        "signed-out": (await visitor.get(f"{PORTAL}/tickets/{mine.id}/files/{my_file}")).status_code,
    }

    assert answers == {
        "their-ticket": 404,
        "their-file-on-my-ticket": 404,
        "other-workspace": 404,
        "no-such-id": 404,
        "signed-out": 303,
    }
