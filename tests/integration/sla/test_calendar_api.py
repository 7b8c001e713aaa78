"""The calendar API: keeping business-hours calendars, validation naming the field, permissions."""

from __future__ import annotations

from typing import Any

import pytest

from supportdesk.core.permissions import Role
from tests.factories.people import UserFactory
from tests.fixtures.app import ApiClient, ClientFactory
from tests.integration.sla.helpers import CalendarFactory, PolicyFactory, errors_of

CALENDARS = "/api/v1/sla/calendars"


def calendar_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Berlin office",
        "timezone": "Europe/Berlin",
        "weekly_hours": {
            "monday": [{"start": "9:00", "end": "12:30"}, {"start": "13:30", "end": "17:00"}],
            "friday": [{"start": "09:00", "end": "15:00"}],
        },
    }
    return {**body, **overrides}


async def test_admin_adds_a_calendar_and_reads_it_back(admin_client: ApiClient) -> None:
    created = await admin_client.post(
        CALENDARS,
        json=calendar_body(
            holiday_country="de",
            holiday_subdivision="BY",
            custom_holidays=["2026-12-31", "2026-12-24", "2026-12-31"],
        ),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == f"{CALENDARS}/{body['id']}"
    assert created.headers["etag"] == '"v1"'
    assert body["name"] == "Berlin office"
    assert body["timezone"] == "Europe/Berlin"
    # Times are written one way, closed days are left out, the country code is upper-cased, and the
    # custom holidays are sorted without repeats.
    assert body["weekly_hours"] == {
        "monday": [{"start": "09:00", "end": "12:30"}, {"start": "13:30", "end": "17:00"}],
        "friday": [{"start": "09:00", "end": "15:00"}],
    }
    assert body["holiday_country"] == "DE"
    assert body["holiday_subdivision"] == "BY"
    assert body["custom_holidays"] == ["2026-12-24", "2026-12-31"]
    fetched = await admin_client.get(f"{CALENDARS}/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == body
    assert fetched.headers["etag"] == '"v1"'
    listing = await admin_client.get(CALENDARS)
    assert [calendar["id"] for calendar in listing.json()] == [body["id"]]


async def test_everyone_may_read_calendars(
    viewer_client: ApiClient, agent_client: ApiClient, calendar_factory: CalendarFactory
) -> None:
    calendar = await calendar_factory(name="Support hours")
    for client in (viewer_client, agent_client):
        listing = await client.get(CALENDARS)
        assert listing.status_code == 200
        assert [item["name"] for item in listing.json()] == ["Support hours"]
        single = await client.get(f"{CALENDARS}/{calendar.id}")
        assert single.status_code == 200
        assert single.json()["weekly_hours"]["monday"] == [{"start": "09:00", "end": "17:00"}]


@pytest.mark.parametrize("role", [Role.viewer, Role.agent, Role.senior_agent], ids=str)
async def test_only_admins_change_calendars(
    user_factory: UserFactory, client_factory: ClientFactory, calendar_factory: CalendarFactory, role: Role
) -> None:
    client = await client_factory(await user_factory(role=role))
    calendar = await calendar_factory(name="Kept")
    url = f"{CALENDARS}/{calendar.id}"
    responses = [
        await client.post(CALENDARS, json=calendar_body()),
        await client.patch(url, json={"name": "Renamed"}),
        await client.delete(url),
    ]
    assert [response.status_code for response in responses] == [403, 403, 403]
    assert {response.json()["code"] for response in responses} == {"permission-denied"}
    assert [item["name"] for item in (await client.get(CALENDARS)).json()] == ["Kept"]


@pytest.mark.parametrize(
    ("overrides", "field", "error_type"),
    [
        pytest.param(
            {"timezone": "Mars/Olympus_Mons"}, "timezone", "unknown-timezone", id="unknown-timezone"
        ),
        pytest.param({"timezone": "localtime"}, "timezone", "unknown-timezone", id="host-timezone"),
        pytest.param(
            {
                "weekly_hours": {
                    "monday": [{"start": "09:00", "end": "13:00"}, {"start": "12:00", "end": "17:00"}]
                }
            },
            "weekly_hours",
            "overlapping-hours",
            id="overlapping-hours",
        ),
        pytest.param(
            {"weekly_hours": {"tuesday": [{"start": "17:00", "end": "09:00"}]}},
            "weekly_hours",
            "bad-interval",
            id="ends-before-it-starts",
        ),
        pytest.param({"weekly_hours": {}}, "weekly_hours", "empty-week", id="never-open"),
        pytest.param({"holiday_country": "XX"}, "holiday_country", "unknown-country", id="unknown-country"),
        pytest.param(
            {"holiday_country": "DE", "holiday_subdivision": "XX"},
            "holiday_subdivision",
            "unknown-subdivision",
            id="unknown-subdivision",
        ),
        pytest.param(
            {"holiday_subdivision": "BY"},
            "holiday_subdivision",
            "subdivision-without-country",
            id="subdivision-without-country",
        ),
    ],
)
async def test_a_calendar_that_cannot_work_is_refused_naming_the_field(
    admin_client: ApiClient, overrides: dict[str, Any], field: str, error_type: str
) -> None:
    response = await admin_client.post(CALENDARS, json=calendar_body(**overrides))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert errors_of(response.json()) == [(field, error_type)]
    assert (await admin_client.get(CALENDARS)).json() == []


async def test_the_error_names_the_weekday_as_the_request_did(admin_client: ApiClient) -> None:
    hours = {"wednesday": [{"start": "10:00", "end": "12:00"}, {"start": "11:00", "end": "14:00"}]}
    response = await admin_client.post(CALENDARS, json=calendar_body(weekly_hours=hours))
    assert response.status_code == 422
    assert "Wednesday" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("overrides", "field", "error_type"),
    [
        pytest.param(
            {"weekly_hours": {"monday": [{"start": "9am", "end": "17:00"}]}},
            "weekly_hours.monday.0.start",
            "clock_time",
            id="not-a-time",
        ),
        pytest.param(
            {"weekly_hours": {"monday": [{"start": "09:00", "end": "24:30"}]}},
            "weekly_hours.monday.0.end",
            "clock_time",
            id="past-midnight",
        ),
        pytest.param(
            {"weekly_hours": {"funday": [{"start": "09:00", "end": "17:00"}]}},
            "weekly_hours.funday",
            "extra_forbidden",
            id="unknown-weekday",
        ),
        pytest.param(
            {"custom_holidays": ["24.12.2026"]},
            "custom_holidays.0",
            "date_format",
            id="not-iso",
        ),
        pytest.param({"custom_holidays": [1767225600]}, "custom_holidays.0", "date_format", id="a-number"),
        pytest.param({"name": " "}, "name", "string_too_short", id="blank-name"),
    ],
)
async def test_malformed_calendars_are_refused_naming_the_field(
    admin_client: ApiClient, overrides: dict[str, Any], field: str, error_type: str
) -> None:
    response = await admin_client.post(CALENDARS, json=calendar_body(**overrides))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation-error"
    assert (field, error_type) in errors_of(response.json())


async def test_a_24_hour_day_is_accepted(admin_client: ApiClient) -> None:
    hours = {"saturday": [{"start": "00:00", "end": "24:00"}]}
    response = await admin_client.post(CALENDARS, json=calendar_body(weekly_hours=hours))
    assert response.status_code == 201, response.text
    assert response.json()["weekly_hours"] == {"saturday": [{"start": "00:00", "end": "24:00"}]}


class TestNames:
    async def test_two_calendars_cannot_share_a_name(self, admin_client: ApiClient) -> None:
        first = await admin_client.post(CALENDARS, json=calendar_body(name="Office"))
        second = await admin_client.post(CALENDARS, json=calendar_body(name="Office"))
        assert first.status_code == 201
        assert second.status_code == 409
        assert second.json()["code"] == "duplicate-name"
        assert len((await admin_client.get(CALENDARS)).json()) == 1

    async def test_renaming_onto_another_calendars_name_is_a_conflict(
        self, admin_client: ApiClient, calendar_factory: CalendarFactory
    ) -> None:
        await calendar_factory(name="Office")
        other = await calendar_factory(name="Night shift")
        response = await admin_client.patch(f"{CALENDARS}/{other.id}", json={"name": "Office"})
        assert response.status_code == 409
        assert response.json()["code"] == "duplicate-name"
        assert (await admin_client.get(f"{CALENDARS}/{other.id}")).json()["name"] == "Night shift"

    async def test_another_workspace_may_use_the_same_name(
        self, admin_client: ApiClient, other_admin_client: ApiClient
    ) -> None:
        mine = await admin_client.post(CALENDARS, json=calendar_body(name="Office"))
        theirs = await other_admin_client.post(CALENDARS, json=calendar_body(name="Office"))
        assert (mine.status_code, theirs.status_code) == (201, 201)


class TestUpdates:
    async def test_a_change_with_a_matching_if_match_bumps_the_etag(
        self, admin_client: ApiClient, calendar_factory: CalendarFactory
    ) -> None:
        calendar = await calendar_factory(name="Office")
        url = f"{CALENDARS}/{calendar.id}"
        etag = (await admin_client.get(url)).headers["etag"]
        response = await admin_client.patch(
            url,
            json={"timezone": "America/New_York", "holiday_country": "US", "custom_holidays": ["2026-07-03"]},
            headers={"If-Match": etag},
        )
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == '"v2"'
        body = response.json()
        assert (body["timezone"], body["holiday_country"], body["custom_holidays"]) == (
            "America/New_York",
            "US",
            ["2026-07-03"],
        )
        assert body["name"] == "Office"  # left out, so kept
        assert body["weekly_hours"]["friday"] == [{"start": "09:00", "end": "17:00"}]

    async def test_new_weekly_hours_replace_the_old_ones(
        self, admin_client: ApiClient, calendar_factory: CalendarFactory
    ) -> None:
        calendar = await calendar_factory()
        hours = {"saturday": [{"start": "10:00", "end": "14:00"}]}
        response = await admin_client.patch(f"{CALENDARS}/{calendar.id}", json={"weekly_hours": hours})
        assert response.status_code == 200
        assert response.json()["weekly_hours"] == hours

    async def test_a_stale_if_match_is_refused_and_changes_nothing(
        self, admin_client: ApiClient, calendar_factory: CalendarFactory
    ) -> None:
        calendar = await calendar_factory(name="Office")
        url = f"{CALENDARS}/{calendar.id}"
        stale = (await admin_client.get(url)).headers["etag"]
        assert (await admin_client.patch(url, json={"name": "First"})).status_code == 200
        response = await admin_client.patch(url, json={"name": "Second"}, headers={"If-Match": stale})
        assert response.status_code == 412
        assert response.json()["code"] == "precondition-failed"
        current = (await admin_client.get(url)).json()
        assert (current["name"], current["version"]) == ("First", 2)

    async def test_the_calendar_as_changed_is_checked_whole(
        self, admin_client: ApiClient, calendar_factory: CalendarFactory
    ) -> None:
        calendar = await calendar_factory()
        url = f"{CALENDARS}/{calendar.id}"
        # A subdivision alone means nothing: the stored calendar has no holiday country.
        response = await admin_client.patch(url, json={"holiday_subdivision": "BY"})
        assert response.status_code == 422
        assert errors_of(response.json()) == [("holiday_subdivision", "subdivision-without-country")]
        bad_zone = await admin_client.patch(url, json={"timezone": "Nowhere/City"})
        assert errors_of(bad_zone.json()) == [("timezone", "unknown-timezone")]
        current = (await admin_client.get(url)).json()
        assert (current["timezone"], current["holiday_subdivision"], current["version"]) == ("UTC", None, 1)

    async def test_holidays_can_be_switched_off_with_null(self, admin_client: ApiClient) -> None:
        created = (
            await admin_client.post(
                CALENDARS, json=calendar_body(holiday_country="DE", holiday_subdivision="BY")
            )
        ).json()
        response = await admin_client.patch(
            f"{CALENDARS}/{created['id']}", json={"holiday_country": None, "holiday_subdivision": None}
        )
        assert response.status_code == 200
        assert (response.json()["holiday_country"], response.json()["holiday_subdivision"]) == (None, None)

    @pytest.mark.parametrize("field", ["name", "timezone", "weekly_hours", "custom_holidays"])
    async def test_required_fields_cannot_be_nulled(
        self, admin_client: ApiClient, calendar_factory: CalendarFactory, field: str
    ) -> None:
        calendar = await calendar_factory()
        response = await admin_client.patch(f"{CALENDARS}/{calendar.id}", json={field: None})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == field


class TestDeleting:
    async def test_an_unused_calendar_is_deleted(
        self, admin_client: ApiClient, calendar_factory: CalendarFactory
    ) -> None:
        calendar = await calendar_factory()
        response = await admin_client.delete(f"{CALENDARS}/{calendar.id}")
        assert response.status_code == 204
        assert (await admin_client.get(f"{CALENDARS}/{calendar.id}")).status_code == 404
        assert (await admin_client.get(CALENDARS)).json() == []

    async def test_a_calendar_a_policy_counts_in_is_kept(
        self, admin_client: ApiClient, calendar_factory: CalendarFactory, policy_factory: PolicyFactory
    ) -> None:
        calendar = await calendar_factory()
        await policy_factory(name="Office SLA", calendar=calendar)
        response = await admin_client.delete(f"{CALENDARS}/{calendar.id}")
        assert response.status_code == 409
        assert response.json()["code"] == "calendar-in-use"
        assert response.json()["policies"] == ["Office SLA"]
        assert (await admin_client.get(f"{CALENDARS}/{calendar.id}")).status_code == 200

    async def test_once_the_policy_lets_go_the_calendar_can_be_deleted(
        self, admin_client: ApiClient, calendar_factory: CalendarFactory, policy_factory: PolicyFactory
    ) -> None:
        calendar = await calendar_factory()
        policy = await policy_factory(calendar=calendar)
        released = await admin_client.patch(f"/api/v1/sla/policies/{policy.id}", json={"calendar_id": None})
        assert released.status_code == 200
        assert (await admin_client.delete(f"{CALENDARS}/{calendar.id}")).status_code == 204


async def test_another_workspaces_calendars_are_invisible(
    admin_client: ApiClient, other_admin_client: ApiClient
) -> None:
    theirs = (await other_admin_client.post(CALENDARS, json=calendar_body(name="Theirs"))).json()
    assert (await admin_client.get(CALENDARS)).json() == []
    for response in (
        await admin_client.get(f"{CALENDARS}/{theirs['id']}"),
        await admin_client.patch(f"{CALENDARS}/{theirs['id']}", json={"name": "Mine now"}),
        await admin_client.delete(f"{CALENDARS}/{theirs['id']}"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not-found"
    assert (await other_admin_client.get(f"{CALENDARS}/{theirs['id']}")).json()["name"] == "Theirs"
