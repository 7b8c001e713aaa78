"""The breach list: tickets past a running SLA target, how late they are, in order, page by page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.tickets.models import Priority, TicketStatus
from supportdesk.workspaces.models import Workspace
from tests.factories.people import UserFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.clock import FROZEN_AT
from tests.integration.sla.helpers import errors_of

BREACHES = "/api/v1/sla/breaches"
HOUR = timedelta(hours=1)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def breached_ids(client: ApiClient, **params: Any) -> list[int]:
    response = await client.get(BREACHES, params=params)
    assert response.status_code == 200, response.text
    return [item["ticket"]["id"] for item in response.json()["items"]]


async def test_a_ticket_past_its_first_response_target_is_listed_with_how_late_it_is(
    viewer_client: ApiClient, ticket_factory: TicketFactory, clock: FrozenClock
) -> None:
    late = await ticket_factory(priority=Priority.critical, tags=["vip"])  # first response due in 1 h
    await ticket_factory(priority=Priority.medium)  # due in 24 h
    clock.advance(2 * HOUR)
    response = await viewer_client.get(BREACHES)
    assert response.status_code == 200
    body = response.json()
    assert [item["ticket"]["id"] for item in body["items"]] == [late.id]
    item = body["items"][0]
    assert item["ticket"]["number"] == late.number
    assert item["ticket"]["tags"] == ["vip"]
    assert item["sla"] == {
        "policy_id": None,
        "first_response": {
            "due_at": iso(FROZEN_AT + HOUR),
            "remaining_seconds": -3600,
            "state": "breached",
        },
        "resolution": {
            "due_at": iso(FROZEN_AT + 8 * HOUR),
            "remaining_seconds": 6 * 3600,
            "state": "ok",
        },
    }
    assert body["next_cursor"] is None


async def test_nothing_is_listed_before_a_target_passes(
    admin_client: ApiClient, ticket_factory: TicketFactory, clock: FrozenClock
) -> None:
    await ticket_factory(priority=Priority.critical)
    clock.advance(HOUR - timedelta(seconds=1))
    assert await breached_ids(admin_client) == []
    clock.advance(timedelta(seconds=2))
    assert len(await breached_ids(admin_client)) == 1


class TestOrder:
    @pytest.fixture
    async def three_late_tickets(self, ticket_factory: TicketFactory) -> dict[str, int]:
        """Critical tickets (first response 1 h, resolution 8 h) opened at 08:00, 07:00 and 08:30,
        created in that order."""
        tickets = {}
        for name, opened in (("middle", 1 * HOUR), ("earliest", 2 * HOUR), ("latest", HOUR / 2)):
            ticket = await ticket_factory(priority=Priority.critical, created_at=FROZEN_AT - opened)
            tickets[name] = ticket.id
        return tickets

    async def test_the_most_overdue_first_response_comes_first(
        self, admin_client: ApiClient, three_late_tickets: dict[str, int], clock: FrozenClock
    ) -> None:
        clock.set(FROZEN_AT + 3 * HOUR)
        response = await admin_client.get(BREACHES, params={"target": "first_response"})
        items = response.json()["items"]
        assert [item["ticket"]["id"] for item in items] == [
            three_late_tickets["earliest"],
            three_late_tickets["middle"],
            three_late_tickets["latest"],
        ]
        assert [item["sla"]["first_response"]["remaining_seconds"] for item in items] == [
            -4 * 3600,
            -3 * 3600,
            -int(2.5 * 3600),
        ]
        # Their resolution targets (8 h) still run: nothing is listed for them yet.
        assert await breached_ids(admin_client, target="resolution") == []

    async def test_the_most_overdue_resolution_comes_first(
        self, admin_client: ApiClient, three_late_tickets: dict[str, int], clock: FrozenClock
    ) -> None:
        clock.set(FROZEN_AT + 8 * HOUR)
        response = await admin_client.get(BREACHES, params={"target": "resolution"})
        items = response.json()["items"]
        assert [item["ticket"]["id"] for item in items] == [
            three_late_tickets["earliest"],
            three_late_tickets["middle"],
            three_late_tickets["latest"],
        ]
        assert [item["sla"]["resolution"]["state"] for item in items] == ["breached"] * 3
        assert [item["sla"]["resolution"]["remaining_seconds"] for item in items] == [
            -2 * 3600,
            -1 * 3600,
            -1800,
        ]

    async def test_any_target_lists_the_newest_ticket_first(
        self, admin_client: ApiClient, three_late_tickets: dict[str, int], clock: FrozenClock
    ) -> None:
        clock.set(FROZEN_AT + 3 * HOUR)
        assert await breached_ids(admin_client, target="any") == [
            three_late_tickets["latest"],
            three_late_tickets["earliest"],
            three_late_tickets["middle"],
        ]
        assert await breached_ids(admin_client) == await breached_ids(admin_client, target="any")


@pytest.mark.parametrize("target", ["first_response", "resolution", "any"])
async def test_pages_follow_each_other_without_gaps_or_repeats(
    admin_client: ApiClient, ticket_factory: TicketFactory, clock: FrozenClock, target: str
) -> None:
    # Two pairs share an opening time, so the order within a due time rests on the id.
    offsets = [HOUR, 3 * HOUR, 2 * HOUR, 3 * HOUR, HOUR]
    for offset in offsets:
        await ticket_factory(priority=Priority.critical, created_at=FROZEN_AT - offset)
    clock.set(FROZEN_AT + 10 * HOUR)
    everything = await breached_ids(admin_client, target=target, limit=50)
    assert len(everything) == 5
    seen: list[int] = []
    sizes: list[int] = []
    cursor: str | None = None
    for _ in range(5):
        params: dict[str, Any] = {"target": target, "limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        body = (await admin_client.get(BREACHES, params=params)).json()
        assert body["limit"] == 2
        seen += [item["ticket"]["id"] for item in body["items"]]
        sizes.append(len(body["items"]))
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sizes == [2, 2, 1]
    assert seen == everything


async def test_waiting_and_finished_tickets_are_not_listed(
    agent_client: ApiClient,
    ticket_factory: TicketFactory,
    user_factory: UserFactory,
    clock: FrozenClock,
) -> None:
    agent = await user_factory(role=Role.agent)
    running = await ticket_factory(priority=Priority.critical)
    resolved = await ticket_factory(priority=Priority.critical, status=TicketStatus.resolved)
    closed = await ticket_factory(priority=Priority.critical, status=TicketStatus.closed)
    waiting = await ticket_factory(priority=Priority.critical, assignee=agent)
    # Taken into progress (the first response), then waiting on the customer: the resolution clock stops.
    for status in ("in_progress", "pending"):
        response = await agent_client.patch(f"/api/v1/tickets/{waiting.id}", json={"status": status})
        assert response.status_code == 200, response.text
    clock.advance(timedelta(days=2))
    for target in ("any", "first_response", "resolution"):
        ids = await breached_ids(agent_client, target=target)
        assert running.id in ids
        assert not {resolved.id, closed.id, waiting.id} & set(ids)


async def test_another_workspaces_tickets_never_appear(
    admin_client: ApiClient,
    other_admin_client: ApiClient,
    ticket_factory: TicketFactory,
    other_workspace: Workspace,
    clock: FrozenClock,
) -> None:
    mine = await ticket_factory(priority=Priority.critical)
    theirs = await ticket_factory(priority=Priority.critical, workspace=other_workspace)
    clock.advance(timedelta(days=1))
    for target in ("any", "first_response", "resolution"):
        assert await breached_ids(admin_client, target=target) == [mine.id]
        assert await breached_ids(other_admin_client, target=target) == [theirs.id]


async def test_the_page_size_is_capped(admin_client: ApiClient) -> None:
    body = (await admin_client.get(BREACHES, params={"limit": 10_000})).json()
    assert body["limit"] == 100
    assert (await admin_client.get(BREACHES)).json()["limit"] == 50


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"target": "everything"}, "target", id="unknown-target"),
        pytest.param({"limit": 0}, "limit", id="zero-limit"),
        pytest.param({"cursor": "not-a-cursor"}, "cursor", id="garbage-cursor"),
    ],
)
async def test_bad_parameters_are_refused_naming_them(
    admin_client: ApiClient, params: dict[str, Any], field: str
) -> None:
    response = await admin_client.get(BREACHES, params=params)
    assert response.status_code == 422
    assert field in [name for name, _ in errors_of(response.json())]


async def test_a_cursor_of_one_target_is_refused_for_another(
    admin_client: ApiClient, ticket_factory: TicketFactory, clock: FrozenClock
) -> None:
    for _ in range(2):
        await ticket_factory(priority=Priority.critical)
    clock.advance(timedelta(days=1))
    cursor = (await admin_client.get(BREACHES, params={"target": "any", "limit": 1})).json()["next_cursor"]
    assert cursor is not None
    response = await admin_client.get(BREACHES, params={"target": "resolution", "cursor": cursor})
    assert response.status_code == 422
    assert errors_of(response.json()) == [("cursor", "invalid-cursor")]
