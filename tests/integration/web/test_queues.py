"""The queues page: what each queue holds and counts, the API's filters, the search box, and nothing of
another workspace."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from markupsafe import escape

from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.tickets.models import Channel, Priority, Ticket, TicketStatus
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory, UserFactory
from tests.factories.tickets import TicketFactory
from tests.integration.web.conftest import PageClient, PageClientFactory

_LISTED = re.compile(r'<td class="subject">\s*<a href="/app/tickets/(\d+)">')
_COUNT = re.compile(r'aria-label="(\d+\+?) tickets"')


def listed(page: str) -> list[int]:
    """The ids of the tickets a queue page lists, in its order."""
    return [int(found) for found in _LISTED.findall(page)]


@pytest.fixture
async def desk(
    agent_browser: PageClient, user_factory: UserFactory, ticket_factory: TicketFactory, clock: FrozenClock
) -> dict[str, Ticket]:
    """Tickets in every queue: the agent's, a colleague's, unassigned ones, urgent ones, one about to
    miss its first response and one that missed it long ago, and a closed one."""
    me = agent_browser.user
    colleague = await user_factory(role=Role.agent)
    return {
        "mine": await ticket_factory(title="Mine", assignee=me),
        "urgent": await ticket_factory(title="Urgent, nobody's", priority=Priority.high),
        "low": await ticket_factory(title="Low, nobody's", priority=Priority.low, tags=["billing"]),
        "colleagues": await ticket_factory(title="A colleague's", assignee=colleague, channel=Channel.email),
        "closed": await ticket_factory(title="Closed", assignee=me, status=TicketStatus.closed),
        "breached": await ticket_factory(
            title="Breached", priority=Priority.critical, created_at=clock.now() - timedelta(days=2)
        ),
        "at_risk": await ticket_factory(
            title="At risk", priority=Priority.critical, created_at=clock.now() - timedelta(minutes=50)
        ),
    }


async def test_each_queue_is_counted(agent_browser: PageClient, desk: dict[str, Ticket]) -> None:
    page = await agent_browser.get("/app")

    assert page.status_code == 200
    counts = _COUNT.findall(page.text)
    # My tickets, Unassigned, Urgent, SLA at risk, SLA breached, All.
    assert counts == ["1", "4", "3", "1", "1", "7"]


# What each queue lists, of the desk above.
QUEUE_CONTENTS = {
    "mine": {"mine"},  # the agent's tickets still in play
    "unassigned": {"urgent", "low", "breached", "at_risk"},  # open and nobody's
    "urgent": {"urgent", "breached", "at_risk"},
    "at_risk": {"at_risk"},
    "breached": {"breached"},
    "all": {"mine", "urgent", "low", "colleagues", "closed", "breached", "at_risk"},
}


async def test_each_queue_lists_its_tickets(agent_browser: PageClient, desk: dict[str, Ticket]) -> None:
    # One walk over every queue with one desk: a test per queue built the desk again for each.
    names = {ticket.id: name for name, ticket in desk.items()}
    shown = {}
    for queue in QUEUE_CONTENTS:
        page = await agent_browser.get("/app", params={"queue": queue})
        shown[queue] = {names[ticket_id] for ticket_id in listed(page.text)}

    assert shown == QUEUE_CONTENTS


async def test_my_tickets_is_the_first_queue_shown(
    agent_browser: PageClient, desk: dict[str, Ticket]
) -> None:
    page = await agent_browser.get("/app")

    assert listed(page.text) == [desk["mine"].id]
    assert '<a href="/app?queue=mine" aria-current="page">' in page.text


# Filters of the All queue and what they leave of the desk above, by what each case shows.
FILTERED = {
    "priority": ({"priority": "critical"}, {"breached", "at_risk"}),
    "status": ({"status": "closed"}, {"closed"}),
    "nobody-and-low": ({"assignee": "none", "priority": "low"}, {"low"}),
    "me": ({"assignee": "me"}, {"mine", "closed"}),
    "tag": ({"tag": "billing"}, {"low"}),
    "channel": ({"channel": "email"}, {"colleagues"}),
    "category": ({"category": "general", "priority": "high"}, {"urgent"}),
    "sorted": ({"sort": "-priority", "status": "open", "priority": "critical"}, {"at_risk", "breached"}),
}


async def test_the_apis_filters_narrow_a_queue(agent_browser: PageClient, desk: dict[str, Ticket]) -> None:
    names = {ticket.id: name for name, ticket in desk.items()}
    shown = {}
    for case, (params, _) in FILTERED.items():
        page = await agent_browser.get("/app", params={"queue": "all", **params})
        shown[case] = {names[ticket_id] for ticket_id in listed(page.text)}

    assert shown == {case: expected for case, (_, expected) in FILTERED.items()}


async def test_oldest_tickets_come_first_and_the_order_can_change(
    agent_browser: PageClient, desk: dict[str, Ticket]
) -> None:
    oldest_first = listed((await agent_browser.get("/app", params={"queue": "unassigned"})).text)
    newest_first = listed(
        (await agent_browser.get("/app", params={"queue": "unassigned", "sort": "-created_at"})).text
    )

    assert oldest_first[:2] == [desk["breached"].id, desk["at_risk"].id]
    assert newest_first == oldest_first[::-1]


async def test_values_that_make_no_sense_are_left_out_and_named(
    agent_browser: PageClient, desk: dict[str, Ticket]
) -> None:
    page = await agent_browser.get(
        "/app", params={"queue": "nonsense", "status": "asleep", "assignee": "anyone", "tag": "<b>"}
    )

    assert page.status_code == 200
    assert "Ignored what was not understood in: queue, assignee, status, tag." in page.text
    assert listed(page.text) == [desk["mine"].id]


async def test_a_number_opens_its_ticket(agent_browser: PageClient, desk: dict[str, Ticket]) -> None:
    ticket = desk["low"]
    for search in (str(ticket.number), f"#{ticket.number}", f" # {ticket.number} "):
        found = await agent_browser.get("/app", params={"q": search})
        assert (found.status_code, found.headers["location"]) == (303, f"/app/tickets/{ticket.id}")

    missing = await agent_browser.get("/app", params={"q": "#9999"})
    assert missing.status_code == 200
    assert "No ticket has number 9999." in missing.text
    assert listed(missing.text) == []


async def test_an_address_lists_that_customers_tickets_and_words_search_titles(
    agent_browser: PageClient, ticket_factory: TicketFactory, customer_factory: CustomerFactory
) -> None:
    maria = await customer_factory(email="maria@example.com")
    hers = [await ticket_factory(customer=maria) for _ in range(2)]
    printer = await ticket_factory(customer_email="someone.else@example.com", title="The Printer jams")

    page = await agent_browser.get("/app", params={"queue": "all", "q": " maria@example.com "})
    stranger = await agent_browser.get("/app", params={"queue": "all", "q": "nobody@example.com"})
    words = await agent_browser.get("/app", params={"queue": "all", "q": "printer"})

    assert sorted(listed(page.text)) == sorted(ticket.id for ticket in hers)
    assert "Tickets of maria@example.com" in page.text
    assert listed(stranger.text) == []
    assert "No customer has the address nobody@example.com." in stranger.text
    assert "Tickets whose title has \u201cprinter\u201d" in words.text
    assert listed(words.text) == [printer.id], "titles are searched whatever their case"


async def test_another_workspaces_tickets_are_never_listed_nor_found(
    agent_browser: PageClient, ticket_factory: TicketFactory, other_workspace: Workspace
) -> None:
    own = await ticket_factory(title="Ours")
    theirs = [await ticket_factory(workspace=other_workspace, title="Theirs") for _ in range(2)]
    assert theirs[1].number > own.number

    page = await agent_browser.get("/app", params={"queue": "all"})
    search = await agent_browser.get("/app", params={"q": f"#{theirs[1].number}"})

    assert listed(page.text) == [own.id]
    assert "Theirs" not in page.text
    assert search.status_code == 200
    assert f"No ticket has number {theirs[1].number}." in search.text


async def test_titles_and_addresses_are_printed_as_text(
    agent_browser: PageClient, ticket_factory: TicketFactory
) -> None:
    title = '<script>alert("queue")</script><img src=x onerror=alert(1)>'
    await ticket_factory(title=title, customer_email="x@example.com", assignee=agent_browser.user)

    page = await agent_browser.get("/app")

    assert str(escape(title)) in page.text
    assert "<script>alert" not in page.text
    assert "<img src=x" not in page.text


async def test_a_viewer_sees_the_queues(
    page_client_factory: PageClientFactory, desk: dict[str, Ticket]
) -> None:
    viewer = await page_client_factory(role=Role.viewer)

    page = await viewer.get("/app", params={"queue": "all"})

    assert len(listed(page.text)) == 7
