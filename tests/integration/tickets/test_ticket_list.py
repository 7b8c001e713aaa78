"""Listing tickets: filters, sorting and cursor pagination."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people.models import Customer
from supportdesk.tickets.models import (
    FIRST_RESPONSE_RUNNING_STATUSES,
    RESOLUTION_RUNNING_STATUSES,
    Channel,
    Priority,
    Ticket,
    TicketStatus,
)
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory, UserFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient


async def _numbers(client: ApiClient, params: dict[str, Any] | list[tuple[str, Any]]) -> list[int]:
    response = await client.get("/api/v1/tickets", params=params)
    assert response.status_code == 200, response.text
    return [item["number"] for item in response.json()["items"]]


async def _walk(client: ApiClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = (
            await client.get("/api/v1/tickets", params={**params, **({"cursor": cursor} if cursor else {})})
        ).json()
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


@pytest.fixture
async def varied_tickets(
    ticket_factory: TicketFactory,
    user_factory: UserFactory,
    customer_factory: CustomerFactory,
    clock: FrozenClock,
) -> dict[str, Any]:
    agent = await user_factory(role=Role.agent)
    customer = await customer_factory()
    start = clock.now() - timedelta(days=10)
    specs: list[dict[str, Any]] = [
        {"priority": Priority.critical, "tags": ["vip"], "category": "billing"},
        {"priority": Priority.high, "assignee": agent, "status": TicketStatus.in_progress},
        {"priority": Priority.low, "customer": customer, "channel": Channel.email},
        {"priority": Priority.medium, "customer": customer, "tags": ["vip", "mobile"], "escalated": True},
        {"priority": Priority.high, "status": TicketStatus.resolved, "category": "technical"},
        {"priority": Priority.critical, "assignee": agent, "status": TicketStatus.assigned},
    ]
    tickets: list[Ticket] = []
    for offset, spec in enumerate(specs):
        tickets.append(await ticket_factory(created_at=start + timedelta(days=offset), **spec))
    return {"tickets": tickets, "agent": agent, "customer": customer, "start": start}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"status": "open"}, [1, 3, 4], id="by-status"),
        pytest.param([("status", "open"), ("status", "resolved")], [1, 3, 4, 5], id="by-several-statuses"),
        pytest.param({"priority": "critical"}, [1, 6], id="by-priority"),
        pytest.param({"assignee": "none"}, [1, 3, 4, 5], id="unassigned"),
        pytest.param({"category": "billing"}, [1], id="by-category"),
        pytest.param({"tag": "vip"}, [1, 4], id="by-tag"),
        pytest.param({"tag": "MOBILE"}, [4], id="by-tag-any-case"),
        pytest.param({"urgent": "true"}, [1], id="urgent-only"),
        pytest.param({"urgent": "false"}, [2, 3, 4, 5, 6], id="not-urgent"),
        pytest.param({"channel": "email"}, [3], id="by-channel"),
        pytest.param({"escalated": "true"}, [4], id="escalated"),
        pytest.param({"status": "closed"}, [], id="nothing-matches"),
    ],
)
async def test_filters(
    agent_client: ApiClient, varied_tickets: dict[str, Any], params: Any, expected: list[int]
) -> None:
    assert sorted(await _numbers(agent_client, params)) == expected


async def test_filter_by_assignee_and_me(client_factory: Any, varied_tickets: dict[str, Any]) -> None:
    agent = varied_tickets["agent"]
    client = await client_factory(agent)
    assert sorted(await _numbers(client, {"assignee": str(agent.id)})) == [2, 6]
    assert sorted(await _numbers(client, {"assignee": "me"})) == [2, 6]


async def test_filter_by_customer(agent_client: ApiClient, varied_tickets: dict[str, Any]) -> None:
    customer: Customer = varied_tickets["customer"]
    assert sorted(await _numbers(agent_client, {"customer_id": customer.id})) == [3, 4]


async def test_filter_by_created_range(agent_client: ApiClient, varied_tickets: dict[str, Any]) -> None:
    start = varied_tickets["start"]
    params = {
        "created_after": (start + timedelta(days=1)).isoformat(),
        "created_before": (start + timedelta(days=3)).isoformat(),
    }
    assert sorted(await _numbers(agent_client, params)) == [2, 3]


async def test_a_created_range_needs_a_time_zone(agent_client: ApiClient) -> None:
    response = await agent_client.get("/api/v1/tickets", params={"created_after": "2026-01-01T00:00:00"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "created_after"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"assignee": "bob"}, "assignee", id="assignee-not-an-id"),
        pytest.param({"status": "sleeping"}, "status", id="unknown-status"),
        pytest.param({"sort": "title"}, "sort", id="unknown-sort"),
        pytest.param({"limit": 0}, "limit", id="zero-limit"),
        pytest.param({"cursor": "not-a-cursor"}, "cursor", id="garbage-cursor"),
    ],
)
async def test_bad_list_parameters_name_the_parameter(
    agent_client: ApiClient, params: dict[str, Any], field: str
) -> None:
    response = await agent_client.get("/api/v1/tickets", params=params)
    assert response.status_code == 422
    # A repeated parameter is named with the position of the bad value, e.g. "status.0".
    assert response.json()["errors"][0]["field"].split(".")[0] == field


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        pytest.param("-created_at", [6, 5, 4, 3, 2, 1], id="newest-first"),
        pytest.param("created_at", [1, 2, 3, 4, 5, 6], id="oldest-first"),
        pytest.param("-number", [6, 5, 4, 3, 2, 1], id="highest-number-first"),
        pytest.param("number", [1, 2, 3, 4, 5, 6], id="lowest-number-first"),
        pytest.param("-priority", [6, 1, 5, 2, 4, 3], id="most-urgent-first-newest-first-within"),
        pytest.param("priority", [3, 4, 2, 5, 1, 6], id="least-urgent-first"),
    ],
)
async def test_sorting_and_paging_agree(
    agent_client: ApiClient, varied_tickets: dict[str, Any], sort: str, expected: list[int]
) -> None:
    whole = await _numbers(agent_client, {"sort": sort})
    paged = [item["number"] for item in await _walk(agent_client, {"sort": sort, "limit": 2})]
    assert whole == expected
    assert paged == expected


async def test_pages_cover_everything_once(agent_client: ApiClient, ticket_factory: TicketFactory) -> None:
    # Same creation instant for all: the id tie-breaker must keep pages apart.
    for _ in range(7):
        await ticket_factory()
    items = await _walk(agent_client, {"limit": 3})
    numbers = [item["number"] for item in items]
    assert sorted(numbers) == list(range(1, 8))
    assert len(set(numbers)) == 7


async def test_the_page_size_is_bounded(agent_client: ApiClient, ticket_factory: TicketFactory) -> None:
    response = await agent_client.get("/api/v1/tickets", params={"limit": 10_000})
    assert response.status_code == 200
    assert response.json()["limit"] == 100


async def test_a_cursor_from_another_sort_is_refused(
    agent_client: ApiClient, ticket_factory: TicketFactory
) -> None:
    for _ in range(3):
        await ticket_factory()
    page = (await agent_client.get("/api/v1/tickets", params={"limit": 1, "sort": "number"})).json()
    response = await agent_client.get(
        "/api/v1/tickets", params={"cursor": page["next_cursor"], "sort": "-created_at"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "invalid-cursor"


@pytest.mark.parametrize(
    ("sort", "value"),
    [
        pytest.param("-created_at", "yesterday", id="text-instead-of-a-time"),
        pytest.param("-created_at", {"dt": "2026-01-01T00:00:00"}, id="time-without-zone"),
        pytest.param("number", "seven", id="text-instead-of-a-number"),
        pytest.param("number", True, id="boolean-instead-of-a-number"),
    ],
)
async def test_a_forged_cursor_is_refused(agent_client: ApiClient, sort: str, value: Any) -> None:
    from supportdesk.core.pagination import encode_cursor

    forged = encode_cursor(sort, value, 1)
    response = await agent_client.get("/api/v1/tickets", params={"sort": sort, "cursor": forged})
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "invalid-cursor"


@pytest.mark.parametrize("value", ["0.5", "1700000000", "yesterday"], ids=["fraction", "unix-time", "word"])
async def test_created_range_takes_only_iso_times(agent_client: ApiClient, value: str) -> None:
    response = await agent_client.get("/api/v1/tickets", params={"created_before": value})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "created_before"


async def test_each_listed_ticket_shows_its_own_tags_sorted_and_no_other_workspaces(
    agent_client: ApiClient, ticket_factory: TicketFactory, other_workspace: Workspace
) -> None:
    tagged = await ticket_factory(tags=["vip", "billing", "mobile"])
    untagged = await ticket_factory()
    also_tagged = await ticket_factory(tags=["vip"])
    # Same tag name, another workspace, and quite possibly a neighbouring ticket id.
    await ticket_factory(workspace=other_workspace, tags=["vip", "secret"])

    items = (await agent_client.get("/api/v1/tickets", params={"sort": "number"})).json()["items"]

    assert {item["id"]: item["tags"] for item in items} == {
        tagged.id: ["billing", "mobile", "vip"],
        untagged.id: [],
        also_tagged.id: ["vip"],
    }
    # The list shows what the ticket itself shows.
    for ticket in (tagged, untagged, also_tagged):
        single = (await agent_client.get(f"/api/v1/tickets/{ticket.id}")).json()
        listed = next(item for item in items if item["id"] == ticket.id)
        assert listed == single


@pytest.fixture
async def due_tickets(
    ticket_factory: TicketFactory, user_factory: UserFactory, clock: FrozenClock
) -> dict[str, Ticket]:
    """Tickets whose next running SLA target falls at a known time (the default policy: first response
    1/4/24/72 h and resolution 8/24/72/168 h for critical/high/medium/low, counted around the clock)."""
    agent = await user_factory(role=Role.agent)
    now = clock.now()
    return {
        "low, first response in 72 h": await ticket_factory(priority=Priority.low, created_at=now),
        "critical, first response in 1 h": await ticket_factory(priority=Priority.critical, created_at=now),
        "high and worked on, resolution in 24 h": await ticket_factory(
            priority=Priority.high, assignee=agent, status=TicketStatus.in_progress, created_at=now
        ),
        "medium an hour later, first response in 25 h": await ticket_factory(
            priority=Priority.medium, created_at=now + timedelta(hours=1)
        ),
        "critical but resolved: no clock runs": await ticket_factory(
            priority=Priority.critical, assignee=agent, status=TicketStatus.resolved, created_at=now
        ),
    }


@pytest.mark.parametrize("limit", [2, 100], ids=["paged", "one-page"])
async def test_sla_due_order_puts_the_next_running_target_first_and_stopped_clocks_last(
    agent_client: ApiClient, due_tickets: dict[str, Ticket], limit: int
) -> None:
    names = {ticket.number: name for name, ticket in due_tickets.items()}
    soonest = [
        names[item["number"]] for item in await _walk(agent_client, {"sort": "sla_due", "limit": limit})
    ]
    latest = [
        names[item["number"]] for item in await _walk(agent_client, {"sort": "-sla_due", "limit": limit})
    ]

    assert soonest == [
        "critical, first response in 1 h",
        "high and worked on, resolution in 24 h",
        "medium an hour later, first response in 25 h",
        "low, first response in 72 h",
        "critical but resolved: no clock runs",
    ]
    assert latest == soonest[::-1]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("2", [2], id="number"),
        pytest.param("#3", [3], id="number-with-hash"),
        pytest.param("PRINTER", [1, 3], id="title-words-any-case"),
        pytest.param("maria@example.com", [2], id="customer-address"),
        pytest.param("MARIA@EXAMPLE.COM", [2], id="customer-address-any-case"),
        pytest.param("100%", [], id="a-percent-sign-is-no-wildcard"),
        pytest.param("fir_", [], id="an-underscore-is-no-wildcard"),
    ],
)
async def test_the_search_box_finds_by_number_address_or_title(
    agent_client: ApiClient,
    ticket_factory: TicketFactory,
    customer_factory: CustomerFactory,
    query: str,
    expected: list[int],
) -> None:
    maria = await customer_factory(email="maria@example.com")
    await ticket_factory(title="Printer on fire")
    await ticket_factory(title="Cannot log in", customer=maria)
    await ticket_factory(title="The printer jams, 100 pages")

    assert await _numbers(agent_client, {"q": query, "sort": "number"}) == expected


async def test_a_count_stops_at_its_cap(
    ticket_factory: TicketFactory, database: Any, workspace: Workspace
) -> None:
    from supportdesk.db.tenancy import scope_to_workspace
    from supportdesk.tickets import repository

    for _ in range(5):
        await ticket_factory()
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, workspace.id)
        everything = repository.TicketFilters()
        assert await repository.count_tickets(session, everything, cap=3) == 4, "cap + 1 means more"
        assert await repository.count_tickets(session, everything, cap=10) == 5
        urgent = repository.TicketFilters(urgent=True)
        assert await repository.count_tickets(session, urgent, cap=10) == 0
        # Several counts in one statement are the counts one by one, in the order asked.
        assert await repository.count_each(session, [urgent, everything, urgent], cap=3) == [0, 4, 0]


def _next_due_by_hand(ticket: Ticket) -> tuple[int, datetime | None]:
    """The order key the sla_due sort promises, worked out here without the repository: the earlier of
    the running targets (first response until answered, unless pending work is owed elsewhere), and
    tickets with no running target last."""
    running = []
    if ticket.first_responded_at is None and ticket.status in FIRST_RESPONSE_RUNNING_STATUSES:
        running.append(ticket.first_response_due_at)
    if ticket.status in RESOLUTION_RUNNING_STATUSES:
        running.append(ticket.resolution_due_at)
    due = [moment for moment in running if moment is not None]
    return (0, min(due)) if due else (1, None)


@pytest.mark.parametrize(
    ("status_filter", "limit"),
    [
        pytest.param(None, 3, id="all-in-pages-of-3"),
        pytest.param(None, 7, id="all-in-pages-of-7"),
        pytest.param("open", 2, id="open-in-pages-of-2"),
    ],
)
async def test_sla_due_pages_match_the_order_worked_out_by_hand_for_many_mixed_tickets(
    agent_client: ApiClient,
    ticket_factory: TicketFactory,
    database: Database,
    workspace: Workspace,
    clock: FrozenClock,
    status_filter: str | None,
    limit: int,
) -> None:
    rng = random.Random(20261206)
    now = clock.now()
    statuses = list(TicketStatus)
    tickets = [await ticket_factory(status=rng.choice(statuses)) for _ in range(30)]
    # Due times drawn from a few hours so that ties happen, with some targets missing and some first
    # responses given: the resolution is often the earlier target, and often the only one.
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        for ticket in tickets:
            fresh = await session.get_one(Ticket, ticket.id)
            fresh.first_response_due_at = rng.choice([None, *(now + timedelta(hours=h) for h in range(4))])
            fresh.resolution_due_at = rng.choice([None, *(now + timedelta(hours=h) for h in range(4))])
            fresh.first_responded_at = rng.choice([None, None, now])
        stored = [await session.get_one(Ticket, ticket.id) for ticket in tickets]
        expected = [
            ticket.number
            for ticket in sorted(stored, key=lambda ticket: (*_next_due_by_hand(ticket), ticket.id))
            if status_filter is None or ticket.status.value == status_filter
        ]

    params = {"sort": "sla_due", "limit": limit, **({"status": status_filter} if status_filter else {})}
    walked = [item["number"] for item in await _walk(agent_client, params)]

    assert walked == expected
