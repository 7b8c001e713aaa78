"""Bulk changes from a queue: one change to the chosen tickets through the bulk flow, the tickets the
rules refuse left as they were and named, other workspaces' tickets never touched, and the queue
saying what happened."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Priority, Ticket, TicketStatus
from supportdesk.workspaces.models import Workspace
from tests.factories.people import UserFactory
from tests.factories.tickets import TicketFactory
from tests.integration.web.conftest import PageClient, PageClientFactory

pytestmark = pytest.mark.integration

BACK = "/app?queue=all&sort=-created_at"


async def _stored(
    database: Database, ticket: Ticket
) -> tuple[TicketStatus, Priority, int | None, list[str], int]:
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, ticket.workspace_id)
        fresh = await ticket_service.get_ticket(session, ticket.id)
        return fresh.status, fresh.priority, fresh.assigned_agent_id, fresh.tags, fresh.version


def _outcome(location: str) -> dict[str, list[str]]:
    parts = urlsplit(location)
    assert parts.path == "/app"
    return parse_qs(parts.query)


async def test_one_change_reaches_every_chosen_ticket_and_the_queue_says_so(
    agent_browser: PageClient, ticket_factory: TicketFactory, user_factory: UserFactory, database: Database
) -> None:
    colleague = await user_factory(role=Role.agent, name="Sam Colleague")
    chosen = [await ticket_factory(tags=["billing"]) for _ in range(3)]
    untouched = await ticket_factory()

    response = await agent_browser.submit(
        "/app/bulk",
        {
            "back": BACK,
            "ticket": [str(ticket.id) for ticket in chosen],  # type: ignore[dict-item]
            "bulk_priority": "high",
            "bulk_assignee": str(colleague.id),
            "bulk_tag": "refund",
        },
    )

    assert response.status_code == 303
    outcome = _outcome(response.headers["location"])
    assert outcome["queue"] == ["all"]
    assert outcome["sort"] == ["-created_at"]
    assert outcome["changed"] == ["3"]
    for ticket in chosen:
        status, priority, assignee, tags, _ = await _stored(database, ticket)
        assert (status, priority, assignee, tags) == (
            TicketStatus.assigned,
            Priority.high,
            colleague.id,
            ["billing", "refund"],
        )
    assert await _stored(database, untouched) == (
        untouched.status,
        untouched.priority,
        None,
        [],
        untouched.version,
    )
    page = await agent_browser.get(response.headers["location"])
    assert "3 tickets changed." in page.text


async def test_a_ticket_the_rules_refuse_is_left_as_it_was_and_named(
    agent_browser: PageClient, ticket_factory: TicketFactory, database: Database
) -> None:
    open_one = await ticket_factory()
    closed = await ticket_factory(status=TicketStatus.closed)
    already = await ticket_factory(priority=Priority.low)

    response = await agent_browser.submit(
        "/app/bulk",
        {
            "back": BACK,
            "ticket": [str(open_one.id), str(closed.id), str(already.id)],  # type: ignore[dict-item]
            "bulk_priority": "low",
        },
    )

    outcome = _outcome(response.headers["location"])
    assert (outcome["changed"], outcome["same"]) == (["1"], ["1"])
    [refused] = outcome["refused"]
    assert refused.startswith(f"{closed.number}.")
    assert (await _stored(database, open_one))[1] == Priority.low
    assert await _stored(database, closed) == (
        TicketStatus.closed,
        closed.priority,
        closed.assigned_agent_id,
        [],
        closed.version,
    )
    page = await agent_browser.get(response.headers["location"])
    assert "1 ticket changed." in page.text
    assert "1 ticket was already so." in page.text
    assert f"Not changed, refused by the ticket&#39;s rules: #{closed.number} (" in page.text


async def test_another_workspaces_tickets_are_not_found_and_not_touched(
    agent_browser: PageClient,
    ticket_factory: TicketFactory,
    other_workspace: Workspace,
    database: Database,
) -> None:
    mine = await ticket_factory()
    theirs = await ticket_factory(workspace=other_workspace)

    response = await agent_browser.submit(
        "/app/bulk",
        {"back": BACK, "ticket": [str(mine.id), str(theirs.id)], "bulk_priority": "high"},  # type: ignore[dict-item]
    )

    outcome = _outcome(response.headers["location"])
    assert (outcome["changed"], outcome["missing"]) == (["1"], ["1"])
    assert (await _stored(database, theirs))[1] == theirs.priority
    assert (await _stored(database, theirs))[4] == theirs.version


@pytest.mark.parametrize(
    ("fields", "problem", "message"),
    [
        pytest.param(
            {"bulk_status": "pending"},
            "none-chosen",
            "Choose the tickets to change first.",
            id="nothing-chosen",
        ),
        pytest.param({"ticket": "1"}, "no-change", "Choose what to change", id="no-change-chosen"),
        pytest.param(
            {"ticket": "1", "bulk_status": "sleeping"},
            "invalid",
            "That change is not possible",
            id="unknown-status",
        ),
        pytest.param(
            {"ticket": "1", "bulk_tag": "no spaces please"},
            "invalid",
            "That change is not possible",
            id="bad-tag",
        ),
    ],
)
async def test_a_bulk_form_that_asks_for_nothing_possible_changes_nothing_and_says_why(
    agent_browser: PageClient,
    ticket_factory: TicketFactory,
    database: Database,
    fields: dict[str, str],
    problem: str,
    message: str,
) -> None:
    ticket = await ticket_factory()
    if "ticket" in fields:
        fields = {**fields, "ticket": str(ticket.id)}

    response = await agent_browser.submit("/app/bulk", {"back": BACK, **fields})

    assert _outcome(response.headers["location"])["bulk"] == [problem]
    assert (await _stored(database, ticket))[4] == ticket.version
    page = await agent_browser.get(response.headers["location"])
    assert message in page.text


async def test_a_viewer_cannot_change_tickets_in_bulk_nor_forge_the_form(
    page_client_factory: PageClientFactory,
    agent_browser: PageClient,
    ticket_factory: TicketFactory,
    database: Database,
) -> None:
    viewer = await page_client_factory(role=Role.viewer)
    ticket = await ticket_factory()

    as_viewer = await viewer.submit("/app/bulk", {"ticket": str(ticket.id), "bulk_status": "pending"})
    forged = await agent_browser.post(
        "/app/bulk", data={"csrf_token": "forged", "ticket": str(ticket.id), "bulk_status": "pending"}
    )

    assert (as_viewer.status_code, forged.status_code) == (403, 403)
    assert (await _stored(database, ticket))[4] == ticket.version
    queue = await viewer.get("/app?queue=all")
    assert 'id="bulk"' not in queue.text


async def test_the_way_back_never_leaves_the_workspace(agent_browser: PageClient) -> None:
    response = await agent_browser.submit("/app/bulk", {"back": "https://evil.example/app"})

    assert response.headers["location"] == "/app?bulk=none-chosen"
