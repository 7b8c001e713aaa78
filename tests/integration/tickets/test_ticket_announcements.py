"""What announces a new ticket (its webhook events and the customer's acknowledgement) is the same
whichever way it is written: on PostgreSQL, in the statement that writes the ticket when nothing can
change the ticket after it (no trigger on new tickets), and otherwise after the triggers have run."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk.db.session import Database
from supportdesk.jobs.models import DeliveryChannel, OutboxMessage
from supportdesk.webhooks.models import WebhookEvent
from tests.factories.webhooks import SubscriptionFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.statements import statements_run

pytestmark = pytest.mark.integration

# What differs between any two tickets, and is left out when their announcements are compared.
_OWN = {"id", "number", "created_at", "updated_at", "version", "title"}


async def outbox_rows(database: Database) -> list[OutboxMessage]:
    async with database.unit_of_work(readonly=True) as session:
        rows = list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())
        session.expunge_all()
        return rows


def comparable(row: OutboxMessage, ticket: dict[str, Any]) -> dict[str, Any]:
    """An announcement of ``ticket`` with what is the ticket's own (its id, number, title, times) put
    in general terms."""
    if row.channel == DeliveryChannel.webhook:
        seen = row.payload["data"]["ticket"]
        return {
            "type": row.payload["type"],
            "ticket": {key: value for key, value in seen.items() if key not in _OWN | {"sla"}},
            "sla": {target: (value or {}).get("state") for target, value in (seen["sla"] or {}).items()},
        }
    number = ticket["number"]
    own = {f"[#{number}]": "[#N]", f"number {number}": "number N", ticket["title"]: "T"}
    return {
        name: _general(row.payload[name], own)
        for name in ("kind", "to", "subject", "text", "html", "from_name")
    }


def _general(text: str | None, own: dict[str, str]) -> str | None:
    for value, placeholder in own.items():
        text = text.replace(value, placeholder) if text else text
    return text


async def open_ticket(client: ApiClient, title: str) -> dict[str, Any]:
    body = {"title": title, "customer_email": "maria@example.com", "customer_name": "Maria", "tags": ["vip"]}
    response = await client.post("/api/v1/tickets", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_new_ticket_is_announced_the_same_with_or_without_triggers(
    admin_client: ApiClient,
    subscription_factory: SubscriptionFactory,
    database: Database,
    connection: AsyncConnection,
    db_backend: str,
) -> None:
    await subscription_factory(events=[WebhookEvent.ticket_created])
    with statements_run(connection, full=True) as quiet:
        first = await open_ticket(admin_client, "First")
    # A trigger on new tickets whose conditions never hold: announcing now waits for the triggers.
    trigger = {
        "name": "Never",
        "event": "created",
        "conditions": [{"field": "priority", "operator": "is", "value": "critical"}],
        "actions": [{"type": "add_tags", "tags": ["never"]}],
    }
    assert (await admin_client.post("/api/v1/triggers", json=trigger)).status_code == 201
    with statements_run(connection, full=True) as triggered:
        second = await open_ticket(admin_client, "Second")

    rows = await outbox_rows(database)
    by_ticket = {
        ticket["id"]: [comparable(row, ticket) for row in rows if row.ticket_id == ticket["id"]]
        for ticket in (first, second)
    }
    assert len(by_ticket[first["id"]]) == 2, "the webhook event and the acknowledgement"
    assert by_ticket[first["id"]] == by_ticket[second["id"]]
    if db_backend == "postgresql":
        assert not any(map(_writes_outbox, quiet)), "written by the ticket's own statement"
        assert any(map(_writes_outbox, triggered)), "written after the triggers ran"


def _writes_outbox(statement: str) -> bool:
    return statement.startswith("INSERT INTO outbox_message")


async def test_what_a_trigger_changes_on_a_new_ticket_is_what_is_announced(
    admin_client: ApiClient, subscription_factory: SubscriptionFactory, database: Database
) -> None:
    await subscription_factory(events=[WebhookEvent.ticket_created])
    trigger = {
        "name": "VIP first",
        "event": "created",
        "conditions": [{"field": "tags", "operator": "includes", "value": "vip"}],
        "actions": [{"type": "set_priority", "value": "high"}],
    }
    assert (await admin_client.post("/api/v1/triggers", json=trigger)).status_code == 201

    ticket = await open_ticket(admin_client, "Printer on fire")

    (event,) = [row for row in await outbox_rows(database) if row.channel == DeliveryChannel.webhook]
    assert event.payload["data"]["ticket"]["priority"] == "high"
    assert ticket["priority"] == "high"
