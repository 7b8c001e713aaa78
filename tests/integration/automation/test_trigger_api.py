"""The trigger API: admins keep triggers; invalid rules are refused naming the key that is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from supportdesk.automation.models import TriggerEvent
from supportdesk.core.permissions import Role
from supportdesk.workspaces.models import Workspace
from tests.factories.automation import TriggerFactory
from tests.factories.people import UserFactory
from tests.fixtures.app import ApiClient, ClientFactory

REFUNDS: dict[str, Any] = {
    "name": "Refunds to billing",
    "event": "created",
    "conditions": [{"field": "title", "operator": "contains", "value": "refund"}],
    "any_conditions": [
        {"field": "tier", "operator": "in", "value": ["premium", "enterprise"]},
        {"field": "tags", "operator": "includes", "value": "vip"},
    ],
    "actions": [
        {"type": "set_category", "value": "billing"},
        {"type": "add_tags", "tags": ["refund"]},
        {"type": "notify", "roles": ["senior_agent"]},
    ],
}


def _with(**changes: Any) -> dict[str, Any]:
    return {**REFUNDS, **changes}


def _errors(response: Any) -> list[tuple[str, str]]:
    return [(error["field"], error["type"]) for error in response.json()["errors"]]


async def test_an_admin_adds_a_trigger_and_reads_it_back(admin_client: ApiClient) -> None:
    created = await admin_client.post("/api/v1/triggers", json=REFUNDS)
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == f"/api/v1/triggers/{body['id']}"
    assert created.headers["etag"] == '"v1"'
    assert (body["is_active"], body["position"], body["version"]) == (True, 0, 1)
    fetched = await admin_client.get(f"/api/v1/triggers/{body['id']}")
    assert fetched.headers["etag"] == '"v1"'
    got = fetched.json()
    assert got["conditions"] == REFUNDS["conditions"]
    assert got["any_conditions"] == REFUNDS["any_conditions"]
    assert got["actions"] == [
        {"type": "set_category", "value": "billing"},
        {"type": "add_tags", "tags": ["refund"]},
        {"type": "notify", "assignee": False, "roles": ["senior_agent"], "user_ids": [], "message": None},
    ]


async def test_triggers_are_listed_in_the_order_they_run(
    admin_client: ApiClient, trigger_factory: TriggerFactory
) -> None:
    later = await trigger_factory(event=TriggerEvent.created, position=9)
    earlier = await trigger_factory(event=TriggerEvent.created, position=1)
    commented = await trigger_factory(event=TriggerEvent.commented)
    listed = (await admin_client.get("/api/v1/triggers")).json()
    assert [item["id"] for item in listed] == [earlier.id, later.id, commented.id]
    only = (await admin_client.get("/api/v1/triggers", params={"event": "commented"})).json()
    assert [item["id"] for item in only] == [commented.id]


@pytest.mark.parametrize(
    ("payload", "field", "error_type"),
    [
        pytest.param(
            _with(conditions=[{"field": "colour", "operator": "is", "value": "red"}]),
            "conditions.0.field",
            "unknown-field",
            id="unknown-condition-field",
        ),
        pytest.param(
            _with(conditions=[{"field": "tags", "operator": "contains", "value": "vip"}]),
            "conditions.0.operator",
            "unknown-operator",
            id="unknown-operator-for-the-field",
        ),
        pytest.param(
            _with(conditions=[{"field": "priority", "operator": "is", "value": "urgent"}]),
            "conditions.0.value",
            "enum",
            id="unknown-priority",
        ),
        pytest.param(
            _with(any_conditions=[{"field": "tier", "operator": "in", "value": ["gold"]}]),
            "any_conditions.0.value.0",
            "enum",
            id="unknown-tier-in-any-conditions",
        ),
        pytest.param(
            _with(actions=[{"type": "escalate"}]), "actions.0.type", "unknown-action", id="unknown-action"
        ),
        pytest.param(
            _with(actions=[{"type": "set_status", "value": "done"}]),
            "actions.0.value",
            "enum",
            id="unknown-status-in-an-action",
        ),
        pytest.param(_with(actions=[]), "actions", "too_short", id="no-actions"),
        pytest.param(_with(event="deleted"), "event", "enum", id="unknown-event"),
        pytest.param(_with(name=" "), "name", "string_too_short", id="blank-name"),
        pytest.param(_with(position=-1), "position", "greater_than_equal", id="negative-position"),
        pytest.param(_with(is_active="yes"), "is_active", "bool_type", id="active-as-text"),
        pytest.param(_with(owner="me"), "owner", "extra_forbidden", id="unknown-key"),
    ],
)
async def test_an_invalid_trigger_is_refused_naming_the_key(
    admin_client: ApiClient, payload: dict[str, Any], field: str, error_type: str
) -> None:
    response = await admin_client.post("/api/v1/triggers", json=payload)
    assert response.status_code == 422
    assert response.json()["code"] == "validation-error"
    assert (field, error_type) in _errors(response)
    assert (await admin_client.get("/api/v1/triggers")).json() == []


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        pytest.param(
            _with(conditions=[{"field": "category", "operator": "is", "value": "refunds"}]),
            "conditions.0.value",
            "unknown-category",
            id="unknown-category-in-a-condition",
        ),
        pytest.param(
            _with(
                any_conditions=[{"field": "category", "operator": "not_in", "value": ["billing", "sales"]}]
            ),
            "any_conditions.0.value.1",
            "unknown-category",
            id="unknown-category-in-a-list",
        ),
        pytest.param(
            _with(actions=[{"type": "set_category", "value": "refunds"}]),
            "actions.0.value",
            "unknown-category",
            id="unknown-category-in-an-action",
        ),
        pytest.param(
            _with(conditions=[{"field": "comment", "operator": "contains", "value": "refund"}]),
            "conditions.0.field",
            "no-comment",
            id="comment-condition-on-a-created-trigger",
        ),
        pytest.param(
            _with(actions=[{"type": "assign", "agent_id": 987_654}]),
            "actions.0.agent_id",
            "unknown-agent",
            id="unknown-agent",
        ),
        pytest.param(
            _with(actions=[{"type": "notify", "user_ids": [987_654]}]),
            "actions.0.user_ids.0",
            "unknown-user",
            id="unknown-user-to-notify",
        ),
    ],
)
async def test_a_trigger_must_fit_the_workspace(
    admin_client: ApiClient, payload: dict[str, Any], field: str, reason: str
) -> None:
    response = await admin_client.post("/api/v1/triggers", json=payload)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid-input"
    assert _errors(response) == [(field, reason)]


async def test_a_new_workspace_category_can_be_used(admin_client: ApiClient) -> None:
    await admin_client.patch("/api/v1/workspace", json={"categories": ["general", "refunds"]})
    response = await admin_client.post(
        "/api/v1/triggers", json=_with(actions=[{"type": "set_category", "value": "refunds"}])
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("role", "where", "reason"),
    [
        pytest.param(Role.viewer, "own", "not-an-agent", id="a-viewer"),
        pytest.param(Role.agent, "other", "unknown-agent", id="another-workspaces-agent"),
    ],
)
async def test_tickets_are_only_assigned_to_agents_of_the_workspace(
    admin_client: ApiClient,
    user_factory: UserFactory,
    other_workspace: Workspace,
    role: Role,
    where: str,
    reason: str,
) -> None:
    user = await user_factory(role=role, **({"workspace": other_workspace} if where == "other" else {}))
    response = await admin_client.post(
        "/api/v1/triggers", json=_with(actions=[{"type": "assign", "agent_id": user.id}])
    )
    assert response.status_code == 422
    assert _errors(response) == [("actions.0.agent_id", reason)]


async def test_names_are_unique_in_a_workspace(
    admin_client: ApiClient, other_admin_client: ApiClient
) -> None:
    assert (await admin_client.post("/api/v1/triggers", json=REFUNDS)).status_code == 201
    again = await admin_client.post("/api/v1/triggers", json=REFUNDS)
    assert again.status_code == 409
    assert again.json()["code"] == "trigger-exists"
    elsewhere = await other_admin_client.post(
        "/api/v1/triggers", json=_with(actions=[{"type": "add_tags", "tags": ["x"]}])
    )
    assert elsewhere.status_code == 201


class TestChanging:
    async def test_a_patch_changes_only_what_it_names(
        self, admin_client: ApiClient, trigger_factory: TriggerFactory
    ) -> None:
        trigger = await trigger_factory(conditions=[{"field": "priority", "operator": "is", "value": "high"}])
        response = await admin_client.patch(
            f"/api/v1/triggers/{trigger.id}",
            json={"is_active": False, "position": 3},
            headers={"If-Match": '"v1"'},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["is_active"], body["position"], body["name"]) == (False, 3, trigger.name)
        assert body["conditions"] == [{"field": "priority", "operator": "is", "value": "high"}]
        assert response.headers["etag"] == '"v2"'

    async def test_new_conditions_replace_the_old(
        self, admin_client: ApiClient, trigger_factory: TriggerFactory
    ) -> None:
        trigger = await trigger_factory(conditions=[{"field": "priority", "operator": "is", "value": "high"}])
        conditions = [{"field": "channel", "operator": "is_not", "value": "email"}]
        body = (
            await admin_client.patch(f"/api/v1/triggers/{trigger.id}", json={"conditions": conditions})
        ).json()
        assert body["conditions"] == conditions

    async def test_a_stale_if_match_is_refused(
        self, admin_client: ApiClient, trigger_factory: TriggerFactory
    ) -> None:
        trigger = await trigger_factory()
        first = await admin_client.patch(f"/api/v1/triggers/{trigger.id}", json={"name": "First"})
        assert first.headers["etag"] == '"v2"'
        stale = await admin_client.patch(
            f"/api/v1/triggers/{trigger.id}", json={"name": "Second"}, headers={"If-Match": '"v1"'}
        )
        assert stale.status_code == 412
        assert stale.json()["current_version"] == 2
        assert (await admin_client.get(f"/api/v1/triggers/{trigger.id}")).json()["name"] == "First"

    async def test_an_invalid_condition_in_a_patch_names_it(
        self, admin_client: ApiClient, trigger_factory: TriggerFactory
    ) -> None:
        trigger = await trigger_factory()
        response = await admin_client.patch(
            f"/api/v1/triggers/{trigger.id}",
            json={"conditions": [{"field": "status", "operator": "is", "value": "open"}, {"field": "mood"}]},
        )
        assert response.status_code == 422
        assert ("conditions.1.field", "unknown-field") in _errors(response)

    async def test_moving_a_comment_condition_to_another_event_is_refused(
        self, admin_client: ApiClient, trigger_factory: TriggerFactory
    ) -> None:
        trigger = await trigger_factory(
            event=TriggerEvent.commented,
            any_conditions=[{"field": "comment", "operator": "contains", "value": "thanks"}],
        )
        response = await admin_client.patch(f"/api/v1/triggers/{trigger.id}", json={"event": "updated"})
        assert response.status_code == 422
        assert _errors(response) == [("any_conditions.0.field", "no-comment")]

    async def test_renaming_onto_another_trigger_is_refused(
        self, admin_client: ApiClient, trigger_factory: TriggerFactory
    ) -> None:
        await trigger_factory(name="Taken")
        trigger = await trigger_factory(name="Mine")
        response = await admin_client.patch(f"/api/v1/triggers/{trigger.id}", json={"name": "Taken"})
        assert response.status_code == 409
        assert response.json()["code"] == "trigger-exists"

    async def test_null_is_refused(self, admin_client: ApiClient, trigger_factory: TriggerFactory) -> None:
        trigger = await trigger_factory()
        response = await admin_client.patch(f"/api/v1/triggers/{trigger.id}", json={"actions": None})
        assert response.status_code == 422
        assert ("actions", "null") in _errors(response)

    async def test_a_deleted_trigger_is_gone(
        self, admin_client: ApiClient, trigger_factory: TriggerFactory
    ) -> None:
        trigger = await trigger_factory()
        assert (await admin_client.delete(f"/api/v1/triggers/{trigger.id}")).status_code == 204
        assert (await admin_client.get(f"/api/v1/triggers/{trigger.id}")).status_code == 404
        assert (await admin_client.delete(f"/api/v1/triggers/{trigger.id}")).status_code == 404


@pytest.mark.parametrize("role", [Role.viewer, Role.agent, Role.senior_agent], ids=lambda role: role.value)
async def test_only_admins_keep_triggers(
    user_factory: UserFactory, client_factory: ClientFactory, trigger_factory: TriggerFactory, role: Role
) -> None:
    trigger = await trigger_factory()
    client = await client_factory(await user_factory(role=role))
    url = f"/api/v1/triggers/{trigger.id}"
    responses = [
        await client.get("/api/v1/triggers"),
        await client.post("/api/v1/triggers", json=REFUNDS),
        await client.get(url),
        await client.patch(url, json={"name": "Mine now"}),
        await client.delete(url),
    ]
    assert [response.status_code for response in responses] == [403] * 5
    assert {response.json()["code"] for response in responses} == {"permission-denied"}
