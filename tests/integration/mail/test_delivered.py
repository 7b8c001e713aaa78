"""End to end: a ticket opened through the API reaches its customer through the workspace's chain of
providers, and its agent too, on a real local SMTP server; the agent's reply threads under the
acknowledgement; a message the server refuses as bad is dead-lettered, not passed to the next provider;
every attempt shows in the delivery log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from taskiq import InMemoryBroker

from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.jobs.background import Background
from supportdesk.jobs.models import DeliveryAttempt, DeliveryChannel, DeliveryState, OutboxMessage
from supportdesk.runtime import build_background
from supportdesk.workspaces.models import Workspace
from tests.factories.people import UserFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.database import make_settings
from tests.fixtures.smtp import SmtpSink, closed_port

pytestmark = pytest.mark.integration


def smtp(name: str, port: int) -> dict[str, Any]:
    return {"kind": "smtp", "name": name, "host": "127.0.0.1", "port": port, "security": "none"}


@pytest.fixture
def settings(engine: AsyncEngine, smtp_sink: SmtpSink) -> Settings:
    """A server whose first mail provider is down and whose second is the sink; the API (which checks
    the names workspaces choose) and the worker share them."""
    return make_settings(
        engine.url.render_as_string(hide_password=False),
        mail_providers=[smtp("primary", closed_port()), smtp("backup", smtp_sink.port)],
        mail_from="desk@acme.example.com",
        mail_timeout_seconds=2,
    )


@pytest.fixture
async def worker(database: Database, clock: FrozenClock, settings: Settings) -> AsyncIterator[Background]:
    """The background work of that server, delivering in place when the relay hands a message over."""
    background = build_background(database, clock, settings, broker=InMemoryBroker(await_inplace=True))
    await background.broker.startup()
    try:
        yield background
    finally:
        await background.stop()


async def email_rows(database: Database) -> list[OutboxMessage]:
    async with database.unit_of_work(readonly=True) as session:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.channel == DeliveryChannel.email)
            .order_by(OutboxMessage.id)
        )
        rows = list((await session.execute(query)).scalars())
        session.expunge_all()  # read after the session ends
        return rows


async def test_a_new_ticket_reaches_its_customer_and_its_agent_through_the_fallback(
    admin_client: ApiClient,
    user_factory: UserFactory,
    worker: Background,
    smtp_sink: SmtpSink,
    database: Database,
    workspace: Workspace,
) -> None:
    agent = await user_factory(role=Role.agent, email="sam@acme.example.com", name="Sam Carter")
    await admin_client.patch("/api/v1/workspace", json={"auto_assign": True})
    ticket = (
        await admin_client.post(
            "/api/v1/tickets",
            json={
                "title": "Printer on fire",
                "customer_email": "maria@example.com",
                "customer_name": "Maria",
            },
        )
    ).json()
    assert ticket["assigned_agent_id"] == agent.id

    assert await worker.relay_once() == 2

    received = {mail.recipients[0]: mail for mail in smtp_sink.received}
    assert set(received) == {"maria@example.com", "sam@acme.example.com"}
    acknowledgement = received["maria@example.com"].message()
    assert acknowledgement["Subject"] == f"[#{ticket['number']}] Printer on fire"
    assert acknowledgement["From"] == "Acme Support <desk@acme.example.com>"
    assert acknowledgement["Message-ID"] == f"<ticket-{ticket['id']}.w{workspace.id}@acme.example.com>"
    assert acknowledgement["Auto-Submitted"] == "auto-generated"
    assert acknowledgement["Thread-Topic"] == "Printer on fire"
    assert "Hello Maria," in acknowledgement.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assignment = received["sam@acme.example.com"].message()
    assert assignment["Subject"] == f"[#{ticket['number']}] Assigned to you: Printer on fire"
    assert assignment["In-Reply-To"] == acknowledgement["Message-ID"]

    rows = await email_rows(database)
    assert {(row.state, row.provider, row.attempts) for row in rows} == {
        (DeliveryState.delivered, "backup", 1)
    }
    assert {row.provider_message_id for row in rows} == {
        acknowledgement["Message-ID"],
        assignment["Message-ID"],
    }
    log = (await admin_client.get("/api/v1/admin/deliveries", params={"channel": "email"})).json()["items"]
    assert {(item["target"], item["state"]) for item in log} == {
        ("maria@example.com", "delivered"),
        ("sam@acme.example.com", "delivered"),
    }

    # The agent answers; the customer's mail client files the answer under the acknowledgement.
    reply = await admin_client.post(
        f"/api/v1/tickets/{ticket['id']}/comments", json={"content": "We sent a technician."}
    )
    assert reply.status_code == 201
    assert await worker.relay_once() == 1
    answer = smtp_sink.received[-1].message()
    assert answer["In-Reply-To"] == acknowledgement["Message-ID"]
    assert answer["References"] == acknowledgement["Message-ID"]
    assert answer["Auto-Submitted"] is None, "a person's reply may be answered"
    assert answer["Thread-Index"][:28] == acknowledgement["Thread-Index"][:28]
    assert "We sent a technician." in answer.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_a_message_the_server_refuses_as_bad_is_dead_at_once_and_not_passed_on(
    admin_client: ApiClient, worker: Background, smtp_sink: SmtpSink, database: Database
) -> None:
    smtp_sink.recipient_replies["nobody@example.com"] = "550 5.1.1 <nobody@example.com>: no such user"
    chosen = await admin_client.patch("/api/v1/workspace", json={"email_providers": ["backup", "primary"]})
    assert chosen.status_code == 200, chosen.text
    await admin_client.post(
        "/api/v1/tickets", json={"title": "Bounce", "customer_email": "nobody@example.com"}
    )

    assert await worker.relay_once() == 1

    [row] = await email_rows(database)
    assert (row.state, row.attempts) == (DeliveryState.dead, 1)
    assert row.last_error is not None
    assert "no such user" in row.last_error
    assert smtp_sink.received == []
    async with database.unit_of_work(readonly=True) as session:
        attempts = (await session.execute(select(DeliveryAttempt.succeeded, DeliveryAttempt.provider))).all()
    assert [tuple(attempt) for attempt in attempts] == [(False, "backup")], "the chain stopped at the refusal"
