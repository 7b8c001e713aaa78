"""What announces a new ticket (its webhook event) is the ticket as the triggers on new tickets left it,
not as it was first written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from supportdesk.db.session import Database
from supportdesk.jobs.models import DeliveryChannel, OutboxMessage
from supportdesk.webhooks.models import WebhookEvent
from tests.factories.webhooks import SubscriptionFactory
from tests.fixtures.app import ApiClient

pytestmark = pytest.mark.integration


async def outbox_rows(database: Database) -> list[OutboxMessage]:
    async with database.unit_of_work(readonly=True) as session:
        rows = list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())
        session.expunge_all()
        return rows


async def open_ticket(client: ApiClient, title: str) -> dict[str, Any]:
    body = {"title": title, "customer_email": "maria@example.com", "customer_name": "Maria", "tags": ["vip"]}
    response = await client.post("/api/v1/tickets", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


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
