"""The policy API: keeping SLA policies, their effective targets, validation, conflicts, permissions."""

from __future__ import annotations

from typing import Any

import pytest

from supportdesk.core.permissions import Role
from tests.factories.people import UserFactory
from tests.fixtures.app import ApiClient, ClientFactory
from tests.integration.sla.helpers import CalendarFactory, PolicyFactory, errors_of

POLICIES = "/api/v1/sla/policies"

# The built-in targets in minutes: (first response, resolution).
DEFAULT_TARGETS = {
    "critical": (60, 480),
    "high": (240, 1440),
    "medium": (1440, 4320),
    "low": (4320, 10080),
}


def targets_of(body: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {
        priority: (target["first_response_minutes"], target["resolution_minutes"])
        for priority, target in body["targets"].items()
    }


async def test_admin_adds_a_policy_and_reads_it_back(
    admin_client: ApiClient, calendar_factory: CalendarFactory
) -> None:
    calendar = await calendar_factory()
    created = await admin_client.post(
        POLICIES,
        json={
            "name": "Enterprise billing",
            "tier": "enterprise",
            "category": "Billing",
            "calendar_id": calendar.id,
            "first_response_minutes": {"critical": 15, "high": 60},
            "resolution_minutes": {"critical": 240},
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == f"{POLICIES}/{body['id']}"
    assert created.headers["etag"] == '"v1"'
    assert (body["name"], body["tier"], body["category"], body["calendar_id"]) == (
        "Enterprise billing",
        "enterprise",
        "billing",
        calendar.id,
    )
    # What is stored is only what was given ...
    assert body["first_response_minutes"] == {"critical": 15, "high": 60}
    assert body["resolution_minutes"] == {"critical": 240}
    # ... while the targets in force fill in the built-in defaults.
    assert targets_of(body) == {
        "critical": (15, 240),
        "high": (60, 1440),
        "medium": (1440, 4320),
        "low": (4320, 10080),
    }
    fetched = await admin_client.get(f"{POLICIES}/{body['id']}")
    assert fetched.json() == body
    assert fetched.headers["etag"] == '"v1"'
    assert [policy["id"] for policy in (await admin_client.get(POLICIES)).json()] == [body["id"]]


async def test_a_policy_without_overrides_shows_the_defaults(admin_client: ApiClient) -> None:
    body = (await admin_client.post(POLICIES, json={"name": "Everything"})).json()
    assert (body["tier"], body["category"], body["calendar_id"]) == (None, None, None)
    assert body["first_response_minutes"] == {}
    assert targets_of(body) == DEFAULT_TARGETS


async def test_everyone_may_read_policies(
    viewer_client: ApiClient, agent_client: ApiClient, policy_factory: PolicyFactory
) -> None:
    policy = await policy_factory(name="Standard", first_response_minutes={"low": 600})
    for client in (viewer_client, agent_client):
        assert [item["name"] for item in (await client.get(POLICIES)).json()] == ["Standard"]
        single = (await client.get(f"{POLICIES}/{policy.id}")).json()
        assert single["targets"]["low"]["first_response_minutes"] == 600


@pytest.mark.parametrize("role", [Role.viewer, Role.agent, Role.senior_agent], ids=str)
async def test_only_admins_change_policies(
    user_factory: UserFactory, client_factory: ClientFactory, policy_factory: PolicyFactory, role: Role
) -> None:
    client = await client_factory(await user_factory(role=role))
    policy = await policy_factory(name="Kept")
    url = f"{POLICIES}/{policy.id}"
    responses = [
        await client.post(POLICIES, json={"name": "Mine", "category": "billing"}),
        await client.patch(url, json={"name": "Renamed"}),
        await client.delete(url),
    ]
    assert [response.status_code for response in responses] == [403, 403, 403]
    assert {response.json()["code"] for response in responses} == {"permission-denied"}
    assert [item["name"] for item in (await client.get(POLICIES)).json()] == ["Kept"]


@pytest.mark.parametrize(
    ("payload", "field", "error_type"),
    [
        pytest.param(
            {"first_response_minutes": {"urgent": 30}},
            "first_response_minutes.urgent",
            "extra_forbidden",
            id="unknown-priority",
        ),
        pytest.param(
            {"resolution_minutes": {"high": 0}},
            "resolution_minutes.high",
            "greater_than_equal",
            id="zero-minutes",
        ),
        pytest.param(
            {"first_response_minutes": {"low": -5}},
            "first_response_minutes.low",
            "greater_than_equal",
            id="negative-minutes",
        ),
        pytest.param(
            {"first_response_minutes": {"low": 525_601}},
            "first_response_minutes.low",
            "less_than_equal",
            id="over-a-year",
        ),
        pytest.param(
            {"first_response_minutes": {"low": "30"}}, "first_response_minutes.low", "int_type", id="a-string"
        ),
        pytest.param(
            {"first_response_minutes": {"low": 1.5}},
            "first_response_minutes.low",
            "int_type",
            id="a-fraction",
        ),
        pytest.param({"tier": "gold"}, "tier", "enum", id="unknown-tier"),
        pytest.param({"calendar_id": "3"}, "calendar_id", "int_type", id="calendar-id-as-string"),
        pytest.param({"name": ""}, "name", "string_too_short", id="empty-name"),
        pytest.param({"colour": "red"}, "colour", "extra_forbidden", id="unknown-field"),
    ],
)
async def test_malformed_policies_are_refused_naming_the_field(
    admin_client: ApiClient, payload: dict[str, Any], field: str, error_type: str
) -> None:
    response = await admin_client.post(POLICIES, json={"name": "Bad", **payload})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation-error"
    assert (field, error_type) in errors_of(response.json())
    assert (await admin_client.get(POLICIES)).json() == []


async def test_a_category_the_workspace_does_not_have_is_refused(admin_client: ApiClient) -> None:
    response = await admin_client.post(POLICIES, json={"name": "Hardware", "category": "hardware"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid-input"
    assert errors_of(response.json()) == [("category", "unknown-category")]


async def test_an_unknown_calendar_is_refused(admin_client: ApiClient, other_admin_client: ApiClient) -> None:
    theirs = (
        await other_admin_client.post(
            "/api/v1/sla/calendars",
            json={
                "name": "Theirs",
                "timezone": "UTC",
                "weekly_hours": {"monday": [{"start": "09:00", "end": "17:00"}]},
            },
        )
    ).json()
    for calendar_id in (999_999, theirs["id"]):
        response = await admin_client.post(POLICIES, json={"name": "Office", "calendar_id": calendar_id})
        assert response.status_code == 422
        assert errors_of(response.json()) == [("calendar_id", "unknown-calendar")]
    policy = (await admin_client.post(POLICIES, json={"name": "Office"})).json()
    patched = await admin_client.patch(f"{POLICIES}/{policy['id']}", json={"calendar_id": theirs["id"]})
    assert errors_of(patched.json()) == [("calendar_id", "unknown-calendar")]


class TestConflicts:
    async def test_two_policies_cannot_share_a_name(self, admin_client: ApiClient) -> None:
        first = await admin_client.post(POLICIES, json={"name": "Standard", "category": "billing"})
        second = await admin_client.post(POLICIES, json={"name": "Standard", "category": "technical"})
        assert first.status_code == 201
        assert second.status_code == 409
        assert second.json()["code"] == "duplicate-name"

    @pytest.mark.parametrize(
        "scope",
        [
            pytest.param({}, id="everything"),
            pytest.param({"tier": "premium"}, id="tier"),
            pytest.param({"category": "billing"}, id="category"),
            pytest.param({"tier": "premium", "category": "billing"}, id="tier-and-category"),
        ],
    )
    async def test_two_policies_cannot_cover_the_same_scope(
        self, admin_client: ApiClient, scope: dict[str, str]
    ) -> None:
        first = await admin_client.post(POLICIES, json={"name": "First", **scope})
        second = await admin_client.post(POLICIES, json={"name": "Second", **scope})
        assert first.status_code == 201
        assert second.status_code == 409, second.text
        assert second.json()["code"] == "duplicate-scope"
        assert [policy["name"] for policy in (await admin_client.get(POLICIES)).json()] == ["First"]

    async def test_overlapping_but_different_scopes_are_fine(self, admin_client: ApiClient) -> None:
        scopes: list[dict[str, str]] = [
            {},
            {"tier": "premium"},
            {"category": "billing"},
            {"tier": "premium", "category": "billing"},
            {"tier": "enterprise", "category": "billing"},
        ]
        for number, scope in enumerate(scopes):
            response = await admin_client.post(POLICIES, json={"name": f"Policy {number}", **scope})
            assert response.status_code == 201, response.text

    async def test_moving_a_policy_onto_anothers_scope_is_a_conflict(
        self, admin_client: ApiClient, policy_factory: PolicyFactory
    ) -> None:
        await policy_factory(category="billing")
        other = await policy_factory(category="technical")
        response = await admin_client.patch(f"{POLICIES}/{other.id}", json={"category": "billing"})
        assert response.status_code == 409
        assert response.json()["code"] == "duplicate-scope"
        unscoped = await admin_client.patch(f"{POLICIES}/{other.id}", json={"category": None})
        assert unscoped.status_code == 200
        assert unscoped.json()["category"] is None

    async def test_renaming_onto_another_policys_name_is_a_conflict(
        self, admin_client: ApiClient, policy_factory: PolicyFactory
    ) -> None:
        await policy_factory(name="Standard", category="billing")
        other = await policy_factory(name="Gold", tier=None, category="technical")
        response = await admin_client.patch(f"{POLICIES}/{other.id}", json={"name": "Standard"})
        assert response.status_code == 409
        assert response.json()["code"] == "duplicate-name"


class TestUpdates:
    async def test_new_targets_replace_the_stored_ones_whole(
        self, admin_client: ApiClient, policy_factory: PolicyFactory
    ) -> None:
        policy = await policy_factory(first_response_minutes={"critical": 15, "low": 600})
        url = f"{POLICIES}/{policy.id}"
        etag = (await admin_client.get(url)).headers["etag"]
        response = await admin_client.patch(
            url, json={"first_response_minutes": {"high": 120}}, headers={"If-Match": etag}
        )
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == '"v2"'
        body = response.json()
        assert body["first_response_minutes"] == {"high": 120}
        assert targets_of(body)["critical"] == DEFAULT_TARGETS["critical"]
        assert targets_of(body)["high"] == (120, 1440)
        cleared = await admin_client.patch(url, json={"first_response_minutes": {}})
        assert targets_of(cleared.json()) == DEFAULT_TARGETS

    async def test_a_stale_if_match_is_refused_and_changes_nothing(
        self, admin_client: ApiClient, policy_factory: PolicyFactory
    ) -> None:
        policy = await policy_factory(name="Standard")
        url = f"{POLICIES}/{policy.id}"
        stale = (await admin_client.get(url)).headers["etag"]
        assert (await admin_client.patch(url, json={"resolution_minutes": {"low": 100}})).status_code == 200
        response = await admin_client.patch(
            url, json={"resolution_minutes": {"low": 200}}, headers={"If-Match": stale}
        )
        assert response.status_code == 412
        assert response.json()["code"] == "precondition-failed"
        current = (await admin_client.get(url)).json()
        assert (current["resolution_minutes"], current["version"]) == ({"low": 100}, 2)

    async def test_an_unknown_category_is_refused_on_update(
        self, admin_client: ApiClient, policy_factory: PolicyFactory
    ) -> None:
        policy = await policy_factory(category="billing")
        response = await admin_client.patch(f"{POLICIES}/{policy.id}", json={"category": "hardware"})
        assert errors_of(response.json()) == [("category", "unknown-category")]
        assert (await admin_client.get(f"{POLICIES}/{policy.id}")).json()["category"] == "billing"

    @pytest.mark.parametrize("field", ["name", "first_response_minutes", "resolution_minutes"])
    async def test_required_fields_cannot_be_nulled(
        self, admin_client: ApiClient, policy_factory: PolicyFactory, field: str
    ) -> None:
        policy = await policy_factory()
        response = await admin_client.patch(f"{POLICIES}/{policy.id}", json={field: None})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == field


async def test_a_deleted_policy_is_gone(admin_client: ApiClient, policy_factory: PolicyFactory) -> None:
    policy = await policy_factory()
    response = await admin_client.delete(f"{POLICIES}/{policy.id}")
    assert response.status_code == 204
    assert (await admin_client.get(f"{POLICIES}/{policy.id}")).status_code == 404
    assert (await admin_client.get(POLICIES)).json() == []


async def test_another_workspaces_policies_are_invisible(
    admin_client: ApiClient, other_admin_client: ApiClient
) -> None:
    theirs = (await other_admin_client.post(POLICIES, json={"name": "Theirs"})).json()
    assert (await admin_client.get(POLICIES)).json() == []
    for response in (
        await admin_client.get(f"{POLICIES}/{theirs['id']}"),
        await admin_client.patch(f"{POLICIES}/{theirs['id']}", json={"name": "Mine now"}),
        await admin_client.delete(f"{POLICIES}/{theirs['id']}"),
    ):
        assert response.status_code == 404
    # Their policy does not take this workspace's unscoped slot either.
    assert (await admin_client.post(POLICIES, json={"name": "Theirs"})).status_code == 201
    assert (await other_admin_client.get(f"{POLICIES}/{theirs['id']}")).json()["name"] == "Theirs"
