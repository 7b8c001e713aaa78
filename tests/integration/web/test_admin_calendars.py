"""The business-hours calendars admin page: admins see every calendar with its hours and holidays, add
one, change one and delete one no policy counts in, through the SLA configuration service's rules;
nobody else may, and another workspace's calendars are not found."""

from __future__ import annotations

from typing import Any

import pytest

from supportdesk.core.permissions import Role
from tests.fixtures.app import ApiClient
from tests.integration.web.conftest import PageClient, PageClientFactory

pytestmark = pytest.mark.integration

WEEK = {"monday": [{"start": "09:00", "end": "17:00"}]}


@pytest.fixture
async def admin_browser(page_client_factory: PageClientFactory) -> PageClient:
    """An admin of the test's workspace, signed in."""
    return await page_client_factory(role=Role.admin)


async def _calendars(client: ApiClient) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/sla/calendars")
    assert response.status_code == 200, response.text
    return list(response.json())


async def _calendar(client: ApiClient, name: str = "Berlin office") -> dict[str, Any]:
    created = await client.post(
        "/api/v1/sla/calendars", json={"name": name, "timezone": "Europe/Berlin", "weekly_hours": WEEK}
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


def _form(**fields: str) -> dict[str, str]:
    return {
        "name": "Berlin office",
        "timezone": "Europe/Berlin",
        "hours.monday": "09:00-12:00, 13:00-17:00",
        "hours.friday": "09:00-15:00",
        "holiday_country": "de",
        "holiday_subdivision": "BY",
        "custom_holidays": "2026-12-24\n2026-12-31",
        **fields,
    }


async def test_an_admin_sees_each_calendar_and_the_policies_counting_in_it(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    calendar = await _calendar(admin_client)
    policy = await admin_client.post(
        "/api/v1/sla/policies", json={"name": "Office", "calendar_id": calendar["id"]}
    )
    assert policy.status_code == 201, policy.text

    page = await admin_browser.get("/app/admin/sla/calendars")

    assert page.status_code == 200
    assert "Berlin office" in page.text
    assert "Europe/Berlin" in page.text
    assert "<dd>09:00-17:00</dd>" in page.text
    assert "<td>Office</td>" in page.text
    # A calendar a policy counts in offers no delete button.
    assert f"/app/admin/sla/calendars/{calendar['id']}/delete" not in page.text
    assert 'href="/app/admin/sla/calendars" aria-current="page"' in page.text


async def test_an_admin_adds_a_calendar_and_it_is_stored_as_the_api_shows_it(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    response = await admin_browser.submit("/app/admin/sla/calendars", _form())

    assert response.status_code == 303
    assert response.headers["location"] == "/app/admin/sla/calendars?saved=added"
    [calendar] = await _calendars(admin_client)
    assert calendar["weekly_hours"] == {
        "monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}],
        "friday": [{"start": "09:00", "end": "15:00"}],
    }
    assert (calendar["holiday_country"], calendar["holiday_subdivision"]) == ("DE", "BY")
    assert calendar["custom_holidays"] == ["2026-12-24", "2026-12-31"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        pytest.param({"name": ""}, "calendar-name", "Enter a name", id="no-name"),
        pytest.param(
            {"timezone": "Mars/Olympus"}, "calendar-timezone", "Unknown time zone", id="unknown-zone"
        ),
        pytest.param(
            {"hours.friday": "nine to five"}, "calendar-hours-friday", "09:00-17:00", id="unreadable-hours"
        ),
        pytest.param(
            {"hours.friday": "15:00-09:00"}, "calendar-hours", "Friday must end after", id="backwards-hours"
        ),
        pytest.param(
            {"hours.monday": "", "hours.friday": ""},
            "calendar-hours",
            "open at some time",
            id="closed-all-week",
        ),
        pytest.param(
            {"holiday_country": "XX"}, "calendar-holiday_country", "No public holidays", id="unknown-country"
        ),
        pytest.param(
            {"custom_holidays": "24.12.2026"}, "calendar-custom_holidays", "24.12.2026", id="bad-date"
        ),
    ],
)
async def test_a_refused_calendar_is_explained_beside_the_field_and_kept(
    admin_browser: PageClient, admin_client: ApiClient, fields: dict[str, str], field: str, message: str
) -> None:
    response = await admin_browser.submit("/app/admin/sla/calendars", _form(**fields))

    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert message in response.text
    assert 'value="Europe/Berlin"' in response.text or "Mars/Olympus" in response.text
    assert await _calendars(admin_client) == []


async def test_a_second_calendar_of_the_same_name_is_refused(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    await _calendar(admin_client)

    response = await admin_browser.submit("/app/admin/sla/calendars", _form())

    assert response.status_code == 409
    assert 'id="calendar-name-error"' in response.text
    assert len(await _calendars(admin_client)) == 1


async def test_an_admin_changes_a_calendar(admin_browser: PageClient, admin_client: ApiClient) -> None:
    calendar = await _calendar(admin_client)

    page = await admin_browser.get(f"/app/admin/sla/calendars/{calendar['id']}")
    response = await admin_browser.submit(
        f"/app/admin/sla/calendars/{calendar['id']}",
        _form(
            name="Munich office", holiday_country="", holiday_subdivision="", version=str(calendar["version"])
        ),
    )

    assert page.status_code == 200
    assert 'value="09:00-17:00"' in page.text
    assert response.headers["location"] == "/app/admin/sla/calendars?saved=changed"
    [stored] = await _calendars(admin_client)
    assert (stored["name"], stored["holiday_country"]) == ("Munich office", None)
    assert stored["weekly_hours"]["friday"] == [{"start": "09:00", "end": "15:00"}]


async def test_a_stale_calendar_form_saves_nothing_and_keeps_what_was_typed(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    calendar = await _calendar(admin_client)
    changed = await admin_client.patch(f"/api/v1/sla/calendars/{calendar['id']}", json={"name": "Theirs"})
    assert changed.status_code == 200, changed.text

    response = await admin_browser.submit(
        f"/app/admin/sla/calendars/{calendar['id']}", _form(name="Mine", version=str(calendar["version"]))
    )

    assert response.status_code == 412
    assert 'id="calendar-problem"' in response.text
    assert 'value="Mine"' in response.text
    assert [stored["name"] for stored in await _calendars(admin_client)] == ["Theirs"]


async def test_a_calendar_in_use_is_not_deleted_and_an_unused_one_is(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    used = await _calendar(admin_client)
    unused = await _calendar(admin_client, "Spare")
    await admin_client.post("/api/v1/sla/policies", json={"name": "Office", "calendar_id": used["id"]})

    refused = await admin_browser.submit(f"/app/admin/sla/calendars/{used['id']}/delete", {})
    deleted = await admin_browser.submit(f"/app/admin/sla/calendars/{unused['id']}/delete", {})

    assert refused.status_code == 409
    assert 'id="calendars-problem"' in refused.text
    assert deleted.headers["location"] == "/app/admin/sla/calendars?saved=deleted"
    assert [calendar["name"] for calendar in await _calendars(admin_client)] == ["Berlin office"]


@pytest.mark.parametrize("role", [Role.agent, Role.senior_agent, Role.viewer], ids=lambda role: role.value)
async def test_only_admins_may_use_the_calendars_page(
    page_client_factory: PageClientFactory, admin_client: ApiClient, role: Role
) -> None:
    browser = await page_client_factory(role=role)
    calendar = await _calendar(admin_client)

    answers = [
        await browser.get("/app/admin/sla/calendars"),
        await browser.submit("/app/admin/sla/calendars", _form(name="Mine")),
        await browser.get(f"/app/admin/sla/calendars/{calendar['id']}"),
        await browser.submit(f"/app/admin/sla/calendars/{calendar['id']}", _form(name="Mine", version="1")),
        await browser.submit(f"/app/admin/sla/calendars/{calendar['id']}/delete", {}),
    ]

    assert [answer.status_code for answer in answers] == [403] * 5
    assert [stored["name"] for stored in await _calendars(admin_client)] == ["Berlin office"]


async def test_another_workspaces_calendar_is_not_found(
    admin_browser: PageClient, other_admin_client: ApiClient
) -> None:
    theirs = await _calendar(other_admin_client, "Theirs")

    answers = [
        await admin_browser.get(f"/app/admin/sla/calendars/{theirs['id']}"),
        await admin_browser.submit(
            f"/app/admin/sla/calendars/{theirs['id']}", _form(name="Mine", version="1")
        ),
        await admin_browser.submit(f"/app/admin/sla/calendars/{theirs['id']}/delete", {}),
        await admin_browser.submit("/app/admin/sla/calendars/9007199254740993/delete", {}),
    ]
    page = await admin_browser.get("/app/admin/sla/calendars")

    assert [answer.status_code for answer in answers] == [404] * 4
    assert "Theirs" not in page.text
    assert [calendar["name"] for calendar in await _calendars(other_admin_client)] == ["Theirs"]


async def test_calendar_forms_without_their_token_change_nothing(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    calendar = await _calendar(admin_client, "Spare")

    answers = [
        await admin_browser.post("/app/admin/sla/calendars", data={"csrf_token": "forged", **_form()}),
        await admin_browser.post(
            f"/app/admin/sla/calendars/{calendar['id']}/delete", data={"csrf_token": "forged"}
        ),
    ]

    assert [answer.status_code for answer in answers] == [403, 403]
    assert [stored["name"] for stored in await _calendars(admin_client)] == ["Spare"]
