"""Participants, on SQLite and PostgreSQL: an agent copies someone on a ticket's public replies; each
participant gets an agent's public reply by e-mail of their own, never an internal note; only agents
add or remove them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.jobs.models import DeliveryChannel, OutboxMessage
from tests.factories.people import UserFactory
from tests.fixtures.app import ApiClient

pytestmark = pytest.mark.integration


async def recipients(database: Database) -> list[str]:
    """Who the outbox's e-mails are to, oldest first."""
    async with database.unit_of_work(readonly=True) as session:
        query = select(OutboxMessage.target).where(OutboxMessage.channel == DeliveryChannel.email)
        return list((await session.execute(query.order_by(OutboxMessage.id))).scalars())


@pytest.fixture
async def ticket(agent_client: ApiClient) -> dict[str, Any]:
    body = {"title": "Printer on fire", "customer_email": "maria@example.com", "customer_name": "Maria"}
    response = await agent_client.post("/api/v1/tickets", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_an_agent_copies_a_colleague_of_the_customer_and_removes_them_again(
    agent_client: ApiClient, ticket: dict[str, Any]
) -> None:
    path = f"/api/v1/tickets/{ticket['id']}/participants"
    added = await agent_client.post(path, json={"email": "Boss@Example.com", "name": "The Boss"})
    assert added.status_code == 201, added.text
    assert (added.json()["email"], added.json()["name"]) == ("boss@example.com", "The Boss")
    assert added.json()["added_by_user_id"] == agent_client.user.id  # type: ignore[union-attr]

    again = await agent_client.post(path, json={"email": "boss@example.com"})
    customer = await agent_client.post(path, json={"email": "maria@example.com"})
    assert (again.status_code, again.json()["code"]) == (409, "participant-exists")
    assert (customer.status_code, customer.json()["errors"][0]["type"]) == (422, "is-the-customer")
    assert [item["email"] for item in (await agent_client.get(path)).json()] == ["boss@example.com"]

    removed = await agent_client.delete(f"{path}/{added.json()['id']}")
    assert removed.status_code == 204
    assert (await agent_client.get(path)).json() == []
    gone = await agent_client.delete(f"{path}/{added.json()['id']}")
    assert gone.status_code == 404


async def test_a_viewer_may_see_participants_but_not_add_them(
    agent_client: ApiClient, viewer_client: ApiClient, ticket: dict[str, Any]
) -> None:
    path = f"/api/v1/tickets/{ticket['id']}/participants"
    await agent_client.post(path, json={"email": "boss@example.com"})
    assert (await viewer_client.post(path, json={"email": "x@example.com"})).status_code == 403
    assert [item["email"] for item in (await viewer_client.get(path)).json()] == ["boss@example.com"]


async def test_participants_get_public_replies_of_their_own_and_never_a_note(
    agent_client: ApiClient, ticket: dict[str, Any], database: Database, user_factory: UserFactory
) -> None:
    path = f"/api/v1/tickets/{ticket['id']}"
    boss = (await agent_client.post(f"{path}/participants", json={"email": "boss@example.com"})).json()
    await agent_client.post(f"{path}/participants", json={"email": "it@example.com"})
    before = len(await recipients(database))

    await agent_client.post(
        f"{path}/comments", json={"content": "Internal: vendor is slow", "is_public": False}
    )
    await agent_client.post(f"{path}/comments", json={"content": "We are sending a technician."})
    after_reply = (await recipients(database))[before:]
    await agent_client.delete(f"{path}/participants/{boss['id']}")
    await agent_client.post(f"{path}/comments", json={"content": "The technician is on the way."})
    after_removal = (await recipients(database))[before + len(after_reply) :]

    assert after_reply == ["maria@example.com", "boss@example.com", "it@example.com"]
    assert after_removal == ["maria@example.com", "it@example.com"]


async def test_a_closed_ticket_takes_no_participants(
    agent_client: ApiClient, ticket: dict[str, Any], user_factory: UserFactory
) -> None:
    agent = await user_factory(role=Role.agent)
    path = f"/api/v1/tickets/{ticket['id']}"
    await agent_client.patch(path, json={"assigned_agent_id": agent.id, "status": "resolved"})
    await agent_client.patch(path, json={"status": "closed"})
    refused = await agent_client.post(f"{path}/participants", json={"email": "late@example.com"})
    assert refused.status_code == 409
