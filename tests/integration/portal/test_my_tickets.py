"""A signed-in customer's tickets: only their own, in their workspace; the public conversation and never
an internal note or a staff address; replies, "solved" and the rating through the flows, recorded as
the customer's; another customer's or another workspace's ticket is not found; forms need the
session's token."""

from __future__ import annotations

import pytest

from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people.models import Customer, User
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Comment, Ticket, TicketStatus
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory, UserFactory
from tests.factories.tickets import CommentFactory, TicketFactory
from tests.fixtures.app import ApiClient
from tests.integration.portal.conftest import PORTAL, PortalBrowser, SignIn, token_for

NOTE = "Internal: customer is on the legacy plan, do not refund"


@pytest.fixture
async def customer(customer_factory: CustomerFactory) -> Customer:
    return await customer_factory(email="maria@example.com", name="Maria Lopez")


@pytest.fixture
async def agent(user_factory: UserFactory) -> User:
    return await user_factory(role=Role.agent, name="Sam Carter", email="sam.carter@staff.example.com")


@pytest.fixture
async def maria(sign_in: SignIn, customer: Customer) -> PortalBrowser:
    return await sign_in(customer)


async def _ticket(database: Database, ticket: Ticket) -> tuple[Ticket, list[Comment]]:
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, ticket.workspace_id)
        fresh = await ticket_service.get_ticket(session, ticket.id)
        comments = await ticket_service.list_comments(session, fresh)
        session.expunge_all()
    return fresh, comments


async def test_my_requests_are_mine_only(
    maria: PortalBrowser,
    customer: Customer,
    customer_factory: CustomerFactory,
    ticket_factory: TicketFactory,
    other_workspace: Workspace,
) -> None:
    mine = await ticket_factory(customer=customer, title="Export is slow", status=TicketStatus.pending)
    someone_else = await customer_factory(email="other@example.com")
    await ticket_factory(customer=someone_else, title="Someone else's request")
    # The same address in another workspace is another customer.
    elsewhere = await customer_factory(workspace=other_workspace, email="maria@example.com")
    await ticket_factory(workspace=other_workspace, customer=elsewhere, title="Request elsewhere")

    page = await maria.get(f"{PORTAL}/tickets")

    assert page.status_code == 200
    assert f'href="{PORTAL}/tickets/{mine.id}"' in page.text
    assert "Export is slow" in page.text
    assert "Waiting for your reply" in page.text
    assert "Someone else" not in page.text
    assert "Request elsewhere" not in page.text


async def test_the_ticket_shows_the_public_conversation_only(
    maria: PortalBrowser,
    customer: Customer,
    agent: User,
    ticket_factory: TicketFactory,
    comment_factory: CommentFactory,
) -> None:
    ticket = await ticket_factory(customer=customer, title="Export is slow", description="It takes an hour.")
    await comment_factory(ticket, author=agent, content="We are looking into it.")
    await comment_factory(ticket, author=agent, content=NOTE, is_public=False)

    page = await maria.get(f"{PORTAL}/tickets/{ticket.id}")

    assert page.status_code == 200
    assert "It takes an hour." in page.text
    assert "We are looking into it." in page.text
    assert "Sam Carter" in page.text
    assert "legacy plan" not in page.text
    assert "sam.carter@staff.example.com" not in page.text
    assert "staff.example.com" not in page.text


async def test_what_people_wrote_is_printed_as_text(
    maria: PortalBrowser,
    customer: Customer,
    user_factory: UserFactory,
    ticket_factory: TicketFactory,
    comment_factory: CommentFactory,
) -> None:
    payload = "<script>alert(1)</script>"
    agent = await user_factory(role=Role.agent, name=f"Eve {payload}")
    ticket = await ticket_factory(customer=customer, title=f"Title {payload}", description=payload)
    await comment_factory(ticket, author=agent, content=payload)

    page = await maria.get(f"{PORTAL}/tickets/{ticket.id}")

    assert payload not in page.text
    assert page.text.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4


async def test_another_customers_and_another_workspaces_tickets_are_not_found(
    maria: PortalBrowser,
    customer_factory: CustomerFactory,
    ticket_factory: TicketFactory,
    other_workspace: Workspace,
) -> None:
    someone_else = await ticket_factory(customer=await customer_factory(email="other@example.com"))
    elsewhere = await ticket_factory(
        workspace=other_workspace,
        customer=await customer_factory(workspace=other_workspace, email="maria@example.com"),
    )
    nobodys = await ticket_factory()

    for ticket in (someone_else, elsewhere, nobodys):
        page = await maria.get(f"{PORTAL}/tickets/{ticket.id}")
        assert page.status_code == 404, ticket
        assert ticket.title not in page.text
        token = token_for((await maria.get(f"{PORTAL}/tickets")).text, f"{PORTAL}/sign-out")
        for action, fields in (("reply", {"message": "Hi"}), ("solve", {}), ("rating", {"rating": "good"})):
            answer = await maria.post(
                f"{PORTAL}/tickets/{ticket.id}/{action}", data={"csrf_token": token, **fields}
            )
            assert answer.status_code == 404, (ticket, action)
    assert (await maria.get(f"/portal/globex/tickets/{elsewhere.id}")).status_code == 303


async def test_without_signing_in_the_pages_lead_to_the_sign_in_page(
    visitor: PortalBrowser, customer: Customer, ticket_factory: TicketFactory
) -> None:
    ticket = await ticket_factory(customer=customer)
    for path in (f"{PORTAL}/tickets", f"{PORTAL}/tickets/{ticket.id}"):
        answer = await visitor.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"{PORTAL}/sign-in"
    posted = await visitor.post(f"{PORTAL}/tickets/{ticket.id}/reply", data={"message": "Hi"})
    assert posted.status_code == 303


async def test_a_reply_is_the_customers_and_reopens_a_solved_request(
    maria: PortalBrowser,
    customer: Customer,
    ticket_factory: TicketFactory,
    database: Database,
    admin_client: ApiClient,
) -> None:
    ticket = await ticket_factory(customer=customer, status=TicketStatus.resolved)
    path = f"{PORTAL}/tickets/{ticket.id}"

    sent = await maria.fill(path, f"{path}/reply", {"message": "It is broken again."})

    assert sent.status_code == 303
    assert sent.headers["location"] == f"{path}?saved=reply"
    fresh, [comment] = await _ticket(database, ticket)
    assert (comment.content, comment.is_public, comment.author_customer_id, comment.author_user_id) == (
        "It is broken again.",
        True,
        customer.id,
        None,
    )
    assert fresh.status == TicketStatus.open
    shown = await maria.get(sent.headers["location"])
    assert "Your reply has been sent." in shown.text
    assert "It is broken again." in shown.text
    trail = (await admin_client.get(f"/api/v1/tickets/{ticket.id}/audit")).json()
    assert trail[-1]["actor_type"] == "customer"
    assert trail[-1]["actor_id"] == customer.id


async def test_an_empty_reply_is_refused_and_a_closed_request_takes_none(
    maria: PortalBrowser, customer: Customer, ticket_factory: TicketFactory, database: Database
) -> None:
    ticket = await ticket_factory(customer=customer)
    path = f"{PORTAL}/tickets/{ticket.id}"

    empty = await maria.fill(path, f"{path}/reply", {"message": "   "})
    assert empty.status_code == 422
    assert "Write your reply first." in empty.text

    closed = await ticket_factory(customer=customer, status=TicketStatus.closed)
    page = await maria.get(f"{PORTAL}/tickets/{closed.id}")
    assert "This request is closed" in page.text
    assert f"{PORTAL}/tickets/{closed.id}/reply" not in page.text
    token = token_for(page.text, f"{PORTAL}/sign-out")
    refused = await maria.post(
        f"{PORTAL}/tickets/{closed.id}/reply", data={"csrf_token": token, "message": "Hello?"}
    )
    assert refused.status_code == 409
    assert "closed ticket takes no more comments" in refused.text
    assert (await _ticket(database, closed))[1] == []


async def test_marking_a_request_solved_resolves_it(
    maria: PortalBrowser, customer: Customer, ticket_factory: TicketFactory, database: Database
) -> None:
    ticket = await ticket_factory(customer=customer)
    path = f"{PORTAL}/tickets/{ticket.id}"

    solved = await maria.fill(path, f"{path}/solve", {})

    assert solved.status_code == 303
    assert (await _ticket(database, ticket))[0].status == TicketStatus.resolved
    page = await maria.get(solved.headers["location"])
    assert "marked as solved" in page.text
    assert "How did we do?" in page.text
    assert f"{path}/solve" not in page.text


async def test_a_rating_is_stored_shown_in_the_api_changeable_and_audited(
    maria: PortalBrowser,
    customer: Customer,
    ticket_factory: TicketFactory,
    admin_client: ApiClient,
) -> None:
    ticket = await ticket_factory(customer=customer, status=TicketStatus.resolved)
    path = f"{PORTAL}/tickets/{ticket.id}"
    before = (await admin_client.get(f"/api/v1/tickets/{ticket.id}/satisfaction")).json()
    assert before["rating"] is None
    assert before["ticket_id"] == ticket.id

    rated = await maria.fill(path, f"{path}/rating", {"rating": "bad", "comment": "Took a week."})
    assert rated.status_code == 303
    changed = await maria.fill(path, f"{path}/rating", {"rating": "good", "comment": ""})
    assert changed.status_code == 303

    answer = (await admin_client.get(f"/api/v1/tickets/{ticket.id}/satisfaction")).json()
    assert (answer["rating"], answer["comment"], answer["customer_id"]) == ("good", None, customer.id)
    trail = (await admin_client.get(f"/api/v1/tickets/{ticket.id}/audit")).json()
    answers = [event["changes"] for event in trail if "satisfaction" in event["changes"]]
    assert [change["satisfaction"] for change in answers] == [[None, "bad"], ["bad", "good"]]
    assert answers[0]["satisfaction_comment"] == [None, "Took a week."]
    assert all(event["actor_type"] == "customer" for event in trail if "satisfaction" in event["changes"])
    page = await maria.get(path)
    assert "You rated this good" in page.text


@pytest.mark.parametrize(
    ("status", "fields", "message"),
    [
        pytest.param(TicketStatus.open, {"rating": "good"}, "once it is resolved", id="not-resolved-yet"),
        pytest.param(TicketStatus.resolved, {"rating": "great"}, "Choose whether", id="unknown-rating"),
        pytest.param(
            TicketStatus.resolved, {"rating": "bad", "comment": "x" * 2001}, "under 2,000", id="long-comment"
        ),
    ],
)
async def test_a_rating_that_breaks_a_rule_is_refused(
    maria: PortalBrowser,
    customer: Customer,
    ticket_factory: TicketFactory,
    admin_client: ApiClient,
    status: TicketStatus,
    fields: dict[str, str],
    message: str,
) -> None:
    ticket = await ticket_factory(customer=customer, status=status)
    token = token_for((await maria.get(f"{PORTAL}/tickets")).text, f"{PORTAL}/sign-out")

    refused = await maria.post(f"{PORTAL}/tickets/{ticket.id}/rating", data={"csrf_token": token, **fields})

    assert refused.status_code == 422
    assert message in refused.text
    assert (await admin_client.get(f"/api/v1/tickets/{ticket.id}/satisfaction")).json()["rating"] is None


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        pytest.param("reply", {"message": "Hi"}, id="reply"),
        pytest.param("solve", {}, id="solve"),
        pytest.param("rating", {"rating": "good"}, id="rating"),
    ],
)
async def test_a_signed_in_form_needs_the_sessions_token(
    maria: PortalBrowser,
    customer: Customer,
    ticket_factory: TicketFactory,
    database: Database,
    action: str,
    fields: dict[str, str],
) -> None:
    ticket = await ticket_factory(customer=customer, status=TicketStatus.resolved)
    # The visit token of the forms shown before signing in does not pass for a signed-in form.
    visit_token = token_for((await maria.get(PORTAL)).text, f"{PORTAL}/requests")

    for token in (None, visit_token):
        data = fields | ({"csrf_token": token} if token else {})
        refused = await maria.post(f"{PORTAL}/tickets/{ticket.id}/{action}", data=data)
        assert refused.status_code == 403

    fresh, comments = await _ticket(database, ticket)
    assert (fresh.status, comments) == (TicketStatus.resolved, [])


async def test_the_satisfaction_api_answers_not_found_for_another_workspace(
    other_admin_client: ApiClient, ticket_factory: TicketFactory
) -> None:
    ticket = await ticket_factory()

    answer = await other_admin_client.get(f"/api/v1/tickets/{ticket.id}/satisfaction")

    assert answer.status_code == 404
