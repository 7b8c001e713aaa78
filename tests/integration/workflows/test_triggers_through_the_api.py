"""Triggers run on what the API does: creating, updating and commenting on tickets."""

from __future__ import annotations

from typing import Any

from supportdesk.core.permissions import Role
from tests.factories.people import UserFactory
from tests.fixtures.app import ApiClient

TICKETS = "/api/v1/tickets"


async def _trigger(client: ApiClient, event: str, conditions: list[Any], actions: list[Any]) -> None:
    body = {"name": f"on {event}", "event": event, "conditions": conditions, "actions": actions}
    response = await client.post("/api/v1/triggers", json=body)
    assert response.status_code == 201, response.text


async def test_a_created_trigger_files_a_refund_request_under_billing(admin_client: ApiClient) -> None:
    await _trigger(
        admin_client,
        "created",
        [{"field": "title", "operator": "contains", "value": "refund"}],
        [{"type": "set_category", "value": "billing"}, {"type": "add_tags", "tags": ["refund"]}],
    )

    refund = await admin_client.post(TICKETS, json={"title": "Please REFUND my order"})
    other = await admin_client.post(TICKETS, json={"title": "Cannot log in"})

    assert (refund.json()["category"], refund.json()["tags"]) == ("billing", ["refund"])
    assert (other.json()["category"], other.json()["tags"]) == ("general", [])


async def test_an_updated_trigger_tags_tickets_raised_to_critical(admin_client: ApiClient) -> None:
    await _trigger(
        admin_client,
        "updated",
        [{"field": "priority", "operator": "is", "value": "critical"}],
        [{"type": "add_tags", "tags": ["hot"]}],
    )
    ticket = (await admin_client.post(TICKETS, json={"title": "Outage"})).json()

    response = await admin_client.patch(f"{TICKETS}/{ticket['id']}", json={"priority": "critical"})

    assert response.status_code == 200, response.text
    assert response.json()["tags"] == ["hot"]
    again = await admin_client.get(f"{TICKETS}/{ticket['id']}")
    assert again.json()["tags"] == ["hot"]


async def test_a_commented_trigger_reacts_to_the_comment_text(
    admin_client: ApiClient, user_factory: UserFactory
) -> None:
    agent = await user_factory(role=Role.agent)
    await _trigger(
        admin_client,
        "commented",
        [{"field": "comment", "operator": "contains", "value": "lawyer"}],
        [{"type": "set_priority", "value": "high"}, {"type": "assign", "agent_id": agent.id}],
    )
    ticket = (await admin_client.post(TICKETS, json={"title": "Billing dispute"})).json()

    calm = await admin_client.post(f"{TICKETS}/{ticket['id']}/comments", json={"content": "We are looking."})
    after_calm = (await admin_client.get(f"{TICKETS}/{ticket['id']}")).json()
    angry = await admin_client.post(
        f"{TICKETS}/{ticket['id']}/comments", json={"content": "My LAWYER will call."}
    )
    after_angry = (await admin_client.get(f"{TICKETS}/{ticket['id']}")).json()

    assert (calm.status_code, angry.status_code) == (201, 201)
    assert (after_calm["priority"], after_calm["assigned_agent_id"]) == ("medium", None)
    assert (after_angry["priority"], after_angry["assigned_agent_id"], after_angry["status"]) == (
        "high",
        agent.id,
        "assigned",
    )


async def test_a_ticket_view_carries_its_sla(admin_client: ApiClient) -> None:
    created = (await admin_client.post(TICKETS, json={"title": "Slow", "priority": "high"})).json()

    sla = created["sla"]

    assert sla["first_response"]["state"] == "ok"
    assert sla["first_response"]["remaining_seconds"] == 4 * 3600
    assert sla["resolution"]["remaining_seconds"] == 24 * 3600
    listed = (await admin_client.get(TICKETS)).json()["items"][0]["sla"]
    assert listed == sla
