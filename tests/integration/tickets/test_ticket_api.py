"""The ticket API: create, read, list, update, delete."""

from __future__ import annotations

from tests.fixtures.app import ApiClient


async def test_agent_creates_a_ticket_and_reads_it_back(agent_client: ApiClient) -> None:
    created = await agent_client.post(
        "/api/v1/tickets",
        json={"title": "Cannot export", "priority": "high", "customer_email": "maria@example.com"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "open"
    assert body["number"] == 1
    fetched = await agent_client.get(f"/api/v1/tickets/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["customer_email"] == "maria@example.com"
    assert fetched.headers["etag"] == '"v1"'
