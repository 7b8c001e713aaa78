"""``supportdesk deliveries`` and ``supportdesk worker --once`` with deliveries: an operator sees what the
outbox holds, retries what died, and a one-off worker run delivers what is due."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from supportdesk.core.clock import SystemClock
from supportdesk.db import migrate
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs import outbox
from supportdesk.jobs.models import DeliveryChannel, DeliveryState, OutboxMessage
from supportdesk.webhooks import service as webhooks
from supportdesk.webhooks.models import WebhookEvent
from supportdesk.webhooks.targets import TargetPolicy
from supportdesk.workspaces import service as workspace_service
from tests.fixtures.database import make_settings
from tests.fixtures.receiver import Receiver

from .conftest import Cli, single_error_line

pytestmark = pytest.mark.integration


async def seed(cli: Cli, url: str, *, slug: str = "acme", messages: int = 2) -> tuple[int, str]:
    """A workspace with a subscription to ``url`` and ``messages`` events waiting for it; returns the
    subscription's id and secret."""
    database = Database(create_engine(make_settings(cli.database_url)))
    clock = SystemClock()
    try:
        await migrate.upgrade(database.engine)
        async with database.unit_of_work() as session:
            workspace = await workspace_service.create_workspace(session, clock, slug=slug, name=slug.title())
            scope_to_workspace(session.sync_session, workspace.id)
            subscription = await webhooks.create_subscription(
                session,
                clock,
                TargetPolicy(["127.0.0.1"]),
                workspace_id=workspace.id,
                url=url,
                event_types=[WebhookEvent.ticket_created],
            )
            found = [
                outbox.Outgoing(
                    DeliveryChannel.webhook, str(subscription.id), f"ticket:{n}:created", {"n": n}
                )
                for n in range(1, messages + 1)
            ]
            await outbox.enqueue(session, clock, workspace.id, found)
            return subscription.id, subscription.secret
    finally:
        await database.dispose()


async def set_state(cli: Cli, state: DeliveryState) -> None:
    database = Database(create_engine(make_settings(cli.database_url)))
    try:
        async with database.unit_of_work() as session:
            await session.execute(update(OutboxMessage).values(state=state, last_error="HTTP 500"))
    finally:
        await database.dispose()


async def states(cli: Cli) -> list[str]:
    database = Database(create_engine(make_settings(cli.database_url)))
    try:
        async with database.unit_of_work(readonly=True) as session:
            query = select(OutboxMessage.state).order_by(OutboxMessage.id)
            return [str(state) for state in (await session.execute(query)).scalars()]
    finally:
        await database.dispose()


async def test_list_and_show(cli: Cli) -> None:
    subscription_id, _secret = await seed(cli, "https://hooks.example.com/a")
    listed = await cli.run("deliveries", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(row["channel"], row["target"], row["state"]) for row in rows] == [
        ("webhook", str(subscription_id), "pending")
    ] * 2
    assert rows[0]["id"] > rows[1]["id"], "newest first"

    shown = await cli.run("deliveries", "show", str(rows[1]["id"]))
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.output)
    assert (detail["dedupe_key"], detail["payload"], detail["attempt_log"]) == (
        "ticket:1:created",
        {"n": 1},
        [],
    )

    missing = await cli.run("deliveries", "show", "999")
    assert missing.exit_code == 1
    assert single_error_line(missing) == "error: no delivery 999: see `supportdesk deliveries list`"


async def test_retry_all_dead(cli: Cli) -> None:
    await seed(cli, "https://hooks.example.com/a")
    await set_state(cli, DeliveryState.dead)
    none_named = await cli.run("deliveries", "retry")
    assert none_named.exit_code == 1

    retried = await cli.run("deliveries", "retry", "--all-dead")
    assert retried.exit_code == 0, retried.output
    assert retried.output.count("is due again") == 2
    assert await states(cli) == ["pending", "pending"]
    again = await cli.run("deliveries", "retry", "--all-dead")
    assert again.output.strip() == "no dead deliveries"


async def test_a_delivery_being_sent_is_not_retried(cli: Cli) -> None:
    await seed(cli, "https://hooks.example.com/a", messages=1)
    await set_state(cli, DeliveryState.sending)
    refused = await cli.run("deliveries", "retry", "1")
    assert refused.exit_code == 1
    assert "is being attempted" in single_error_line(refused)
    assert await states(cli) == ["sending"]


async def test_a_list_for_an_unknown_workspace_is_refused(cli: Cli) -> None:
    await seed(cli, "https://hooks.example.com/a")
    refused = await cli.run("deliveries", "list", "--workspace", "nope")
    assert refused.exit_code == 1
    assert "no workspace 'nope'" in single_error_line(refused)


async def test_worker_once_delivers_what_is_due(
    cli: Cli, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    _subscription_id, secret = await seed(cli, receiver.url("/accept"))
    receiver.known_secrets.append(secret)
    monkeypatch.setenv("SUPPORTDESK_WEBHOOK_ALLOWED_TARGETS", "127.0.0.1")

    result = await cli.run("worker", "--once")

    assert result.exit_code == 0, result.output
    assert "outbox: 2 delivery attempt(s) made" in result.output
    assert sorted(event["n"] for event in receiver.verified) == [1, 2]
    assert await states(cli) == ["delivered", "delivered"]
