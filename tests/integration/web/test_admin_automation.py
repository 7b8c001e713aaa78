"""The triggers and macros admin pages: admins list, add, change, switch and delete them through the
automation services' rules, with conditions and actions as JSON; nobody else may, and another
workspace's triggers and macros are not found."""

from __future__ import annotations

import json
from typing import Any

import pytest

from supportdesk.core.permissions import Role
from supportdesk.workspaces.models import Workspace
from tests.factories.automation import MacroFactory, TriggerFactory
from tests.fixtures.app import ApiClient
from tests.integration.web.conftest import PageClient, PageClientFactory

pytestmark = pytest.mark.integration

CONDITIONS = [{"field": "priority", "operator": "is", "value": "critical"}]
ACTIONS = [{"type": "add_tags", "tags": ["urgent"]}]


@pytest.fixture
async def admin_browser(page_client_factory: PageClientFactory) -> PageClient:
    """An admin of the test's workspace, signed in."""
    return await page_client_factory(role=Role.admin)


async def _listed(client: ApiClient, path: str) -> list[dict[str, Any]]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return list(response.json())


def _trigger_form(**fields: str) -> dict[str, str]:
    return {
        "name": "Tag critical",
        "event": "created",
        "position": "0",
        "is_active": "on",
        "conditions": json.dumps(CONDITIONS),
        "any_conditions": "",
        "actions": json.dumps(ACTIONS),
        **fields,
    }


def _macro_form(**fields: str) -> dict[str, str]:
    return {
        "name": "Ask for logs",
        "reply": "Hello {{ customer.name }}, could you send us the logs?",
        "reply_public": "on",
        "actions": json.dumps([{"type": "set_status", "value": "pending"}]),
        **fields,
    }


async def test_an_admin_sees_the_triggers_in_the_order_they_run(
    admin_browser: PageClient, trigger_factory: TriggerFactory
) -> None:
    await trigger_factory(name="Second", position=2, conditions=CONDITIONS)
    await trigger_factory(name="First", position=1, is_active=False)

    page = await admin_browser.get("/app/admin/triggers")

    assert page.status_code == 200
    assert page.text.index("First") < page.text.index("Second")
    assert "priority is critical" in page.text
    assert "Add tags: tags triggered" in page.text
    assert "Switch on" in page.text
    assert 'href="/app/admin/triggers" aria-current="page"' in page.text


async def test_an_admin_adds_a_trigger_and_the_api_shows_it(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    response = await admin_browser.submit("/app/admin/triggers", _trigger_form())

    assert response.status_code == 303
    assert response.headers["location"] == "/app/admin/triggers?saved=added"
    [trigger] = await _listed(admin_client, "/api/v1/triggers")
    assert (trigger["name"], trigger["event"], trigger["is_active"]) == ("Tag critical", "created", True)
    assert trigger["conditions"] == CONDITIONS
    assert trigger["actions"] == ACTIONS


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        pytest.param({"name": ""}, "trigger-name", "Enter a name", id="no-name"),
        pytest.param({"event": "deleted"}, "trigger-event", "Choose one of the events", id="unknown-event"),
        pytest.param({"position": "first"}, "trigger-position", "whole number", id="bad-position"),
        pytest.param(
            {"conditions": '[{"field": "priority",'}, "trigger-conditions", "not valid JSON", id="bad-json"
        ),
        pytest.param(
            {"conditions": '{"field": "priority"}'}, "trigger-conditions", "JSON list", id="not-a-list"
        ),
        pytest.param(
            {"conditions": '[{"field": "mood", "operator": "is", "value": "sad"}]'},
            "trigger-conditions",
            "Entry 1, field: Unknown field",
            id="unknown-field",
        ),
        pytest.param({"actions": ""}, "trigger-actions", "at least one action", id="no-actions"),
        pytest.param(
            {"actions": '[{"type": "set_category", "value": "astrology"}]'},
            "trigger-actions",
            "Entry 1, value: Unknown category",
            id="unknown-category",
        ),
        pytest.param(
            {"conditions": '[{"field": "comment", "operator": "contains", "value": "refund"}]'},
            "trigger-conditions",
            "commented event",
            id="comment-without-comment",
        ),
    ],
)
async def test_a_refused_trigger_is_explained_beside_the_field_and_kept(
    admin_browser: PageClient, admin_client: ApiClient, fields: dict[str, str], field: str, message: str
) -> None:
    response = await admin_browser.submit("/app/admin/triggers", _trigger_form(**fields))

    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert message in response.text
    if "name" not in fields:
        assert 'value="Tag critical"' in response.text
    assert await _listed(admin_client, "/api/v1/triggers") == []


async def test_an_admin_changes_switches_and_deletes_a_trigger(
    admin_browser: PageClient, admin_client: ApiClient, trigger_factory: TriggerFactory
) -> None:
    trigger = await trigger_factory(name="Old name")

    page = await admin_browser.get(f"/app/admin/triggers/{trigger.id}")
    changed = await admin_browser.submit(
        f"/app/admin/triggers/{trigger.id}",
        _trigger_form(name="New name", event="updated", version=str(trigger.version)),
    )
    [stored] = await _listed(admin_client, "/api/v1/triggers")
    switched = await admin_browser.submit(
        f"/app/admin/triggers/{trigger.id}/active", {"version": str(stored["version"])}
    )
    [off] = await _listed(admin_client, "/api/v1/triggers")
    deleted = await admin_browser.submit(f"/app/admin/triggers/{trigger.id}/delete", {})

    assert page.status_code == 200
    assert "&#34;triggered&#34;" in page.text
    assert changed.headers["location"] == "/app/admin/triggers?saved=changed"
    assert (stored["name"], stored["event"], stored["conditions"]) == ("New name", "updated", CONDITIONS)
    assert switched.headers["location"] == "/app/admin/triggers?saved=off"
    assert off["is_active"] is False
    assert deleted.headers["location"] == "/app/admin/triggers?saved=deleted"
    assert await _listed(admin_client, "/api/v1/triggers") == []


async def test_a_stale_trigger_form_saves_nothing_and_keeps_what_was_typed(
    admin_browser: PageClient, admin_client: ApiClient, trigger_factory: TriggerFactory
) -> None:
    trigger = await trigger_factory(name="Theirs")
    await admin_client.patch(f"/api/v1/triggers/{trigger.id}", json={"position": 5})

    response = await admin_browser.submit(
        f"/app/admin/triggers/{trigger.id}", _trigger_form(name="Mine", version=str(trigger.version))
    )

    assert response.status_code == 412
    assert 'id="trigger-problem"' in response.text
    assert 'value="Mine"' in response.text
    assert [stored["name"] for stored in await _listed(admin_client, "/api/v1/triggers")] == ["Theirs"]


async def test_an_admin_adds_changes_and_deletes_a_macro(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    added = await admin_browser.submit("/app/admin/macros", _macro_form())
    [macro] = await _listed(admin_client, "/api/v1/macros")
    listed = await admin_browser.get("/app/admin/macros")
    changed = await admin_browser.submit(
        f"/app/admin/macros/{macro['id']}",
        _macro_form(reply="", actions=json.dumps(ACTIONS), version=str(macro["version"])),
    )
    [stored] = await _listed(admin_client, "/api/v1/macros")
    deleted = await admin_browser.submit(f"/app/admin/macros/{macro['id']}/delete", {})

    assert added.headers["location"] == "/app/admin/macros?saved=added"
    assert (macro["reply_public"], macro["actions"]) == (True, [{"type": "set_status", "value": "pending"}])
    assert "Set status: value pending" in listed.text
    assert changed.headers["location"] == "/app/admin/macros?saved=changed"
    assert (stored["reply"], stored["actions"]) == (None, ACTIONS)
    assert deleted.headers["location"] == "/app/admin/macros?saved=deleted"
    assert await _listed(admin_client, "/api/v1/macros") == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        pytest.param({"name": ""}, "macro-name", "Enter a name", id="no-name"),
        pytest.param(
            {"reply": "Hi {{ customer.password }}"},
            "macro-reply",
            "customer.password",
            id="unknown-placeholder",
        ),
        pytest.param({"actions": "[{"}, "macro-actions", "not valid JSON", id="bad-json"),
        pytest.param(
            {"actions": '[{"type": "explode"}]'},
            "macro-actions",
            "Entry 1, type: Unknown action",
            id="unknown-action",
        ),
        pytest.param(
            {"actions": "", "reply": ""}, "macro-actions", "actions, a reply or both", id="empty-macro"
        ),
    ],
)
async def test_a_refused_macro_is_explained_beside_the_field_and_kept(
    admin_browser: PageClient, admin_client: ApiClient, fields: dict[str, str], field: str, message: str
) -> None:
    response = await admin_browser.submit("/app/admin/macros", _macro_form(**fields))

    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert message in response.text
    if "name" not in fields:
        assert 'value="Ask for logs"' in response.text
    assert await _listed(admin_client, "/api/v1/macros") == []


@pytest.mark.parametrize("role", [Role.agent, Role.senior_agent, Role.viewer], ids=lambda role: role.value)
async def test_only_admins_may_use_the_automation_pages(
    page_client_factory: PageClientFactory,
    admin_client: ApiClient,
    trigger_factory: TriggerFactory,
    macro_factory: MacroFactory,
    role: Role,
) -> None:
    browser = await page_client_factory(role=role)
    trigger = await trigger_factory(name="Keep trigger")
    macro = await macro_factory(name="Keep macro")

    answers = [
        await browser.get("/app/admin/triggers"),
        await browser.submit("/app/admin/triggers", _trigger_form()),
        await browser.get(f"/app/admin/triggers/{trigger.id}"),
        await browser.submit(f"/app/admin/triggers/{trigger.id}", _trigger_form(version="1")),
        await browser.submit(f"/app/admin/triggers/{trigger.id}/active", {"version": "1"}),
        await browser.submit(f"/app/admin/triggers/{trigger.id}/delete", {}),
        await browser.get("/app/admin/macros"),
        await browser.submit("/app/admin/macros", _macro_form()),
        await browser.get(f"/app/admin/macros/{macro.id}"),
        await browser.submit(f"/app/admin/macros/{macro.id}", _macro_form(version="1")),
        await browser.submit(f"/app/admin/macros/{macro.id}/delete", {}),
    ]

    assert [answer.status_code for answer in answers] == [403] * 11
    assert [item["name"] for item in await _listed(admin_client, "/api/v1/triggers")] == ["Keep trigger"]
    assert [item["name"] for item in await _listed(admin_client, "/api/v1/macros")] == ["Keep macro"]


async def test_another_workspaces_triggers_and_macros_are_not_found(
    admin_browser: PageClient,
    other_admin_client: ApiClient,
    other_workspace: Workspace,
    trigger_factory: TriggerFactory,
    macro_factory: MacroFactory,
) -> None:
    trigger = await trigger_factory(name="Their trigger", workspace=other_workspace)
    macro = await macro_factory(name="Their macro", workspace=other_workspace)

    answers = [
        await admin_browser.get(f"/app/admin/triggers/{trigger.id}"),
        await admin_browser.submit(f"/app/admin/triggers/{trigger.id}", _trigger_form(version="1")),
        await admin_browser.submit(f"/app/admin/triggers/{trigger.id}/active", {"version": "1"}),
        await admin_browser.submit(f"/app/admin/triggers/{trigger.id}/delete", {}),
        await admin_browser.get(f"/app/admin/macros/{macro.id}"),
        await admin_browser.submit(f"/app/admin/macros/{macro.id}", _macro_form(version="1")),
        await admin_browser.submit(f"/app/admin/macros/{macro.id}/delete", {}),
        await admin_browser.submit("/app/admin/macros/9007199254740993/delete", {}),
    ]
    pages = [await admin_browser.get("/app/admin/triggers"), await admin_browser.get("/app/admin/macros")]

    assert [answer.status_code for answer in answers] == [404] * 8
    assert all("Their" not in page.text for page in pages)
    assert [item["name"] for item in await _listed(other_admin_client, "/api/v1/triggers")] == [
        "Their trigger"
    ]
    assert [item["name"] for item in await _listed(other_admin_client, "/api/v1/macros")] == ["Their macro"]


async def test_automation_forms_without_their_token_change_nothing(
    admin_browser: PageClient, admin_client: ApiClient, trigger_factory: TriggerFactory
) -> None:
    trigger = await trigger_factory(name="Keep me")

    answers = [
        await admin_browser.post("/app/admin/triggers", data={"csrf_token": "forged", **_trigger_form()}),
        await admin_browser.post(f"/app/admin/triggers/{trigger.id}/delete", data={"csrf_token": "forged"}),
        await admin_browser.post("/app/admin/macros", data={"csrf_token": "forged", **_macro_form()}),
    ]

    assert [answer.status_code for answer in answers] == [403, 403, 403]
    assert [item["name"] for item in await _listed(admin_client, "/api/v1/triggers")] == ["Keep me"]
    assert await _listed(admin_client, "/api/v1/macros") == []
