"""What each change announces to webhook subscriptions: one outbox message per event and listening
subscription, written in the change's own transaction, carrying the ticket as it was committed; and,
end to end, a ticket opened through the API reaches a receiver that verifies its signature."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from taskiq import InMemoryBroker

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.automation import tasks
from supportdesk.core.clock import FrozenClock, SystemClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs.models import DeliveryAttempt, DeliveryChannel, DeliveryState, OutboxMessage
from supportdesk.runtime import build_background
from supportdesk.tickets.models import Priority
from supportdesk.webhooks import service as webhooks
from supportdesk.webhooks.models import WebhookEvent, WebhookSubscription
from supportdesk.workspaces.models import Workspace
from tests.factories.automation import MacroFactory
from tests.factories.people import UserFactory
from tests.factories.tickets import TicketFactory
from tests.factories.webhooks import SubscriptionFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.database import make_settings
from tests.fixtures.receiver import Receiver

pytestmark = pytest.mark.integration


async def announced(database: Database) -> list[tuple[str, str, dict[str, Any]]]:
    """(event type, dedupe key, data) of every webhook message, oldest first."""
    async with database.unit_of_work(readonly=True) as session:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.channel == DeliveryChannel.webhook)
            .order_by(OutboxMessage.id)
        )
        rows = (await session.execute(query)).scalars()
        return [(row.payload["type"], row.dedupe_key, row.payload["data"]) for row in rows]


def types(found: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    return [event for event, _key, _data in found]


async def test_a_new_ticket_is_announced_to_the_subscriptions_that_listen(
    admin_client: ApiClient, subscription_factory: SubscriptionFactory, database: Database, clock: FrozenClock
) -> None:
    everything = await subscription_factory()
    only_comments = await subscription_factory(events=[WebhookEvent.comment_created])
    await subscription_factory(is_active=False)
    assert admin_client.user is not None

    response = await admin_client.post(
        "/api/v1/tickets",
        json={"title": "Printer on fire", "priority": "high", "assigned_agent_id": admin_client.user.id},
    )
    ticket = response.json()

    found = await announced(database)
    assert types(found) == ["ticket.created", "ticket.assigned"]
    assert [key for _type, key, _data in found] == [
        f"ticket:{ticket['id']}:created:ticket.created:wh{everything.id}",
        f"ticket:{ticket['id']}:created:ticket.assigned:wh{everything.id}",
    ]
    data = found[0][2]["ticket"]
    assert (data["id"], data["title"], data["priority"], data["status"]) == (
        ticket["id"],
        "Printer on fire",
        "high",
        "assigned",
    )
    assert data["sla"] == ticket["sla"], "the event shows the ticket as the API does"
    async with database.unit_of_work(readonly=True) as session:
        rows = (await session.execute(select(OutboxMessage.target, OutboxMessage.ticket_id))).all()
    assert {(target, ticket_id) for target, ticket_id in rows} == {(str(everything.id), ticket["id"])}
    assert str(only_comments.id) not in {target for target, _ticket_id in rows}


async def test_nothing_is_written_where_nobody_listens(admin_client: ApiClient, database: Database) -> None:
    await admin_client.post("/api/v1/tickets", json={"title": "Quiet"})
    assert await announced(database) == []


async def test_a_subscription_added_later_is_heard_at_once(
    admin_client: ApiClient, subscription_factory: SubscriptionFactory, database: Database
) -> None:
    await admin_client.post("/api/v1/tickets", json={"title": "Before"})
    await subscription_factory(events=[WebhookEvent.ticket_created])
    await admin_client.post("/api/v1/tickets", json={"title": "After"})
    assert [data["ticket"]["title"] for _type, _key, data in await announced(database)] == ["After"]


async def test_a_failed_request_announces_nothing(
    admin_client: ApiClient, subscription_factory: SubscriptionFactory, database: Database
) -> None:
    await subscription_factory()
    response = await admin_client.post(
        "/api/v1/tickets", json={"title": "Bad", "category": "no-such-category"}
    )
    assert response.status_code == 422
    assert await announced(database) == []


@pytest.mark.parametrize(
    ("change", "expected", "previous"),
    [
        pytest.param(
            {"status": "resolved"},
            ["ticket.updated", "ticket.status_changed"],
            {"status": "open"},
            id="status",
        ),
        pytest.param({"priority": "low"}, ["ticket.updated"], {}, id="priority-only"),
    ],
)
async def test_an_update_announces_what_changed(
    admin_client: ApiClient,
    subscription_factory: SubscriptionFactory,
    ticket_factory: TicketFactory,
    database: Database,
    change: dict[str, str],
    expected: list[str],
    previous: dict[str, str],
) -> None:
    ticket = await ticket_factory()
    await subscription_factory()
    response = await admin_client.patch(f"/api/v1/tickets/{ticket.id}", json=change)
    assert response.status_code == 200, response.text

    found = await announced(database)
    assert types(found) == expected
    assert {key.rsplit(":", 2)[0] for _type, key, _data in found} == {
        f"ticket:{ticket.id}:v{response.json()['version']}"
    }
    assert found[0][2]["previous"] == previous
    assert found[0][2]["ticket"]["version"] == response.json()["version"]


async def test_an_assignment_is_announced_and_an_unchanged_update_is_not(
    admin_client: ApiClient,
    subscription_factory: SubscriptionFactory,
    ticket_factory: TicketFactory,
    user_factory: UserFactory,
    database: Database,
) -> None:
    ticket = await ticket_factory()
    agent = await user_factory(role=Role.agent)
    await subscription_factory(events=[WebhookEvent.ticket_assigned])
    await admin_client.patch(f"/api/v1/tickets/{ticket.id}", json={"title": ticket.title})
    assert await announced(database) == []

    await admin_client.patch(f"/api/v1/tickets/{ticket.id}", json={"assigned_agent_id": agent.id})
    [(event, _key, data)] = await announced(database)
    assert event == "ticket.assigned"
    assert data["ticket"]["assigned_agent_id"] == agent.id
    assert data["previous"] == {"status": "open", "assigned_agent_id": None}


async def test_a_comment_is_announced_with_its_ticket(
    admin_client: ApiClient,
    subscription_factory: SubscriptionFactory,
    ticket_factory: TicketFactory,
    database: Database,
) -> None:
    ticket = await ticket_factory()
    subscription = await subscription_factory(events=[WebhookEvent.comment_created])
    response = await admin_client.post(
        f"/api/v1/tickets/{ticket.id}/comments", json={"content": "Looking into it", "is_public": False}
    )
    [(event, key, data)] = await announced(database)
    assert event == "comment.created"
    assert key == f"comment:{response.json()['id']}:comment.created:wh{subscription.id}"
    assert data["comment"]["content"] == "Looking into it"
    assert data["comment"]["is_public"] is False
    assert data["ticket"]["id"] == ticket.id


async def test_a_macro_announces_its_reply_and_its_changes(
    admin_client: ApiClient,
    subscription_factory: SubscriptionFactory,
    ticket_factory: TicketFactory,
    macro_factory: MacroFactory,
    database: Database,
) -> None:
    ticket = await ticket_factory()
    macro = await macro_factory(
        actions=[{"type": "set_status", "value": "resolved"}], reply="Fixed on our side."
    )
    await subscription_factory()
    response = await admin_client.post(f"/api/v1/tickets/{ticket.id}/macros/{macro.id}")
    assert response.status_code == 200, response.text
    assert types(await announced(database)) == ["comment.created", "ticket.updated", "ticket.status_changed"]


async def test_escalation_and_breaches_are_announced_once(
    subscription_factory: SubscriptionFactory,
    ticket_factory: TicketFactory,
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
) -> None:
    await subscription_factory(events=[WebhookEvent.ticket_escalated, WebhookEvent.sla_breached])
    ticket = await ticket_factory(priority=Priority.medium)
    clock.advance(timedelta(days=3))

    async def run(task: tasks.WorkspaceTask) -> int:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            act_as(session.sync_session, SYSTEM, clock)
            return await task(session, clock, await session.get_one(Workspace, workspace.id))

    assert await run(tasks.notify_sla_breaches) >= 1
    assert await run(tasks.escalate_overdue_tickets) == 1
    await run(tasks.notify_sla_breaches)
    await run(tasks.escalate_overdue_tickets)

    found = await announced(database)
    assert sorted(types(found)) == ["sla.breached", "sla.breached", "ticket.escalated"]
    breaches = sorted(data["target"] for event, _key, data in found if event == "sla.breached")
    assert breaches == ["first_response", "resolution"]
    [escalation] = [data for event, _key, data in found if event == "ticket.escalated"]
    assert escalation["ticket"]["id"] == ticket.id
    assert (escalation["ticket"]["priority"], escalation["previous"]["priority"]) == ("high", "medium")


async def test_a_ticket_opened_through_the_api_reaches_a_receiver_that_verifies_it(
    admin_client: ApiClient,
    app: FastAPI,
    subscription_factory: SubscriptionFactory,
    database: Database,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    subscription = await subscription_factory(
        url=receiver.url("/accept"), events=[WebhookEvent.ticket_created], allow=["127.0.0.1"]
    )
    receiver.known_secrets.append(subscription.secret)
    # The receiver refuses a message signed more than five minutes from its own (real) time.
    clock.set(SystemClock().now())
    settings = make_settings(str(database.engine.url), webhook_allowed_targets="127.0.0.1")
    background = build_background(database, clock, settings, broker=InMemoryBroker(await_inplace=True))
    await background.broker.startup()
    try:
        ticket = (await admin_client.post("/api/v1/tickets", json={"title": "Signed and sealed"})).json()
        assert await background.relay_once() == 1
    finally:
        await background.stop()

    [verified] = receiver.verified
    assert verified["type"] == "ticket.created"
    assert verified["data"]["ticket"]["title"] == "Signed and sealed"
    [request] = receiver.requests
    assert request.headers["webhook-id"].startswith("msg_")
    async with database.unit_of_work(readonly=True) as session:
        message = (await session.execute(select(OutboxMessage))).scalar_one()
        attempt = (await session.execute(select(DeliveryAttempt))).scalar_one()
        assert (message.state, message.ticket_id, message.provider_message_id) == (
            DeliveryState.delivered,
            ticket["id"],
            request.headers["webhook-id"],
        )
        assert (attempt.succeeded, attempt.status_code) == (True, 204)
    log = (await admin_client.get(f"/api/v1/webhooks/{subscription.id}/deliveries")).json()
    [entry] = log["items"]
    assert (entry["state"], entry["last_status_code"]) == ("delivered", 204)
    assert entry["last_duration_ms"] >= 0


async def test_an_endpoint_that_is_gone_switches_its_subscription_off(
    subscription_factory: SubscriptionFactory,
    database: Database,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    subscription = await subscription_factory(url=receiver.url("/gone"), allow=["127.0.0.1"])
    settings = make_settings(str(database.engine.url), webhook_allowed_targets="127.0.0.1")
    background = build_background(database, clock, settings, broker=InMemoryBroker(await_inplace=True))
    await background.broker.startup()
    try:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, subscription.workspace_id)

            async def data() -> dict[str, Any]:
                return {"ticket": {"id": 1}}

            await webhooks.announce(
                session,
                clock,
                subscription.workspace_id,
                [WebhookEvent.ticket_updated],
                cause="ticket:1:v2",
                data=data,
            )
        await background.relay_once()
    finally:
        await background.stop()
    async with database.unit_of_work(readonly=True) as session:
        stored = await session.get_one(WebhookSubscription, subscription.id)
        assert (stored.is_active, stored.disabled_reason) == (False, "the endpoint answered HTTP 410 Gone")
        message = (await session.execute(select(OutboxMessage))).scalar_one()
        assert message.state == DeliveryState.dead
