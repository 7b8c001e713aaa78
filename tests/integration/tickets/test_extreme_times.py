"""Times at the edges of the calendar: refused with 422 when they have no UTC equivalent, and otherwise
answered, never a server error, on both databases."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.clock import FROZEN_AT

OVERFLOWING = [
    pytest.param("0001-01-01T00:00:00+14:00", id="year-1-east-of-utc"),
    pytest.param("9999-12-31T23:59:59-14:00", id="year-9999-west-of-utc"),
]


@pytest.mark.parametrize("parameter", ["created_after", "created_before"])
@pytest.mark.parametrize("moment", OVERFLOWING)
async def test_a_list_filter_without_a_utc_equivalent_is_refused_with_422(
    agent_client: ApiClient, parameter: str, moment: str
) -> None:
    response = await agent_client.get("/api/v1/tickets", params={parameter: moment})

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation-error"
    assert [(error["field"], error["location"], error["type"]) for error in body["errors"]] == [
        (parameter, "query", "datetime-out-of-range")
    ]


@pytest.mark.parametrize(
    ("params", "listed"),
    [
        pytest.param({"created_after": "0001-01-01T14:00:00+14:00"}, True, id="after-the-first-moment"),
        pytest.param({"created_after": "0001-01-01T00:00:00-14:00"}, True, id="after-year-1-west"),
        pytest.param({"created_before": "9999-12-31T09:59:59-14:00"}, True, id="before-the-last-second"),
        pytest.param({"created_before": "9999-12-31T23:59:59+14:00"}, True, id="before-year-9999-east"),
        pytest.param({"created_after": "9999-12-31T23:59:59.999999Z"}, False, id="after-the-last-moment"),
        pytest.param({"created_before": "0001-01-01T00:00:00Z"}, False, id="before-the-first-moment"),
        pytest.param(
            {"created_after": "0001-01-01T00:00:00Z", "created_before": "9999-12-31T23:59:59Z"},
            True,
            id="between-the-edges",
        ),
    ],
)
async def test_list_filters_at_the_edges_of_the_calendar_are_answered(
    agent_client: ApiClient, ticket_factory: TicketFactory, params: dict[str, str], listed: bool
) -> None:
    ticket = await ticket_factory()

    response = await agent_client.get("/api/v1/tickets", params=params)

    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()["items"]] == ([ticket.id] if listed else [])


async def test_an_offset_filter_means_the_same_instant_as_in_utc(
    agent_client: ApiClient, ticket_factory: TicketFactory
) -> None:
    earlier = await ticket_factory(created_at=FROZEN_AT - timedelta(hours=2))
    later = await ticket_factory(created_at=FROZEN_AT)
    # One hour before FROZEN_AT, written in a zone 14 hours east of UTC.
    between = (FROZEN_AT - timedelta(hours=1)).astimezone(timezone(timedelta(hours=14)))

    after = await agent_client.get("/api/v1/tickets", params={"created_after": between.isoformat()})
    before = await agent_client.get("/api/v1/tickets", params={"created_before": between.isoformat()})

    assert [item["id"] for item in after.json()["items"]] == [later.id]
    assert [item["id"] for item in before.json()["items"]] == [earlier.id]


async def test_a_calendar_with_holidays_at_the_edges_of_the_calendar_still_times_tickets(
    admin_client: ApiClient,
) -> None:
    calendar = await admin_client.post(
        "/api/v1/sla/calendars",
        json={
            "name": "Edges",
            "timezone": "Pacific/Kiritimati",
            "weekly_hours": {"monday": [{"start": "00:00", "end": "24:00"}]},
            "custom_holidays": ["0001-01-01", "9999-12-31"],
        },
    )
    assert calendar.status_code == 201, calendar.text
    policy = await admin_client.post(
        "/api/v1/sla/policies", json={"name": "Edges", "calendar_id": calendar.json()["id"]}
    )
    assert policy.status_code == 201, policy.text

    ticket = await admin_client.post("/api/v1/tickets", json={"title": "Timed by the edge calendar"})

    assert ticket.status_code == 201, ticket.text
    assert ticket.json()["sla"]["policy_id"] == policy.json()["id"]
    listed = await admin_client.get("/api/v1/tickets", params={"sla": "at_risk"})
    assert listed.status_code == 200, listed.text
