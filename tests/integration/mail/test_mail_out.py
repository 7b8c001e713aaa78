"""Which changes e-mail whom: the customer hears of their ticket's receipt, an agent's public replies,
a resolution and a wait for their answer, never an internal note; staff who want e-mail get their
assignments, breaches and escalations by mail too. Each e-mail is an outbox message written with the
change, composed in the workspace's own words when it has them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.automation import tasks
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs.models import DeliveryChannel, OutboxMessage
from supportdesk.notifications.mail.compose import Draft
from supportdesk.tickets.models import Priority
from supportdesk.workspaces.models import Workspace
from tests.factories.people import UserFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient, ClientFactory

pytestmark = pytest.mark.integration


async def mails(database: Database) -> list[dict[str, Any]]:
    """The payload of every e-mail in the outbox, oldest first, rendered as the worker renders it."""
    async with database.unit_of_work(readonly=True) as session:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.channel == DeliveryChannel.email)
            .order_by(OutboxMessage.id)
        )
        rows = (await session.execute(query)).scalars()
        return [Draft.from_payload(row.payload).render().to_payload() for row in rows]


def kinds(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(mail["kind"], mail["to"]) for mail in found]


async def open_ticket(client: ApiClient, **fields: Any) -> dict[str, Any]:
    body = {"title": "Printer on fire", "customer_email": "maria@example.com", "customer_name": "Maria"}
    response = await client.post("/api/v1/tickets", json=body | fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_new_ticket_is_acknowledged_to_its_customer(
    admin_client: ApiClient, database: Database
) -> None:
    ticket = await open_ticket(admin_client)

    (mail,) = await mails(database)
    assert (mail["kind"], mail["to"]) == ("ticket_received", "maria@example.com")
    assert mail["subject"] == f"[#{ticket['number']}] Printer on fire"
    assert mail["text"].startswith("Hello Maria,")
    assert mail["key"] == mail["thread"], "the acknowledgement starts the conversation"


async def test_a_ticket_without_a_customer_mails_nobody(admin_client: ApiClient, database: Database) -> None:
    await admin_client.post("/api/v1/tickets", json={"title": "Internal chore"})
    assert await mails(database) == []


async def test_the_customer_gets_an_agents_public_reply_and_never_an_internal_note(
    agent_client: ApiClient, database: Database
) -> None:
    ticket = await open_ticket(agent_client)
    comments = f"/api/v1/tickets/{ticket['id']}/comments"

    note = await agent_client.post(
        comments, json={"content": "Customer is on the old firmware", "is_public": False}
    )
    reply = await agent_client.post(
        comments, json={"content": "Please update the firmware.", "is_public": True}
    )
    assert note.status_code == reply.status_code == 201

    found = await mails(database)
    assert kinds(found) == [("ticket_received", "maria@example.com"), ("agent_reply", "maria@example.com")]
    assert "Please update the firmware." in found[1]["text"]
    assert agent_client.user is not None
    assert agent_client.user.name in found[1]["text"]
    assert all("old firmware" not in mail["text"] + (mail["html"] or "") for mail in found)


async def test_the_customers_own_words_are_not_mailed_back(
    agent_client: ApiClient, database: Database
) -> None:
    ticket = await open_ticket(agent_client)
    response = await agent_client.post(
        f"/api/v1/tickets/{ticket['id']}/comments", json={"content": "It smokes now", "author": "customer"}
    )
    assert response.status_code == 201
    assert kinds(await mails(database)) == [("ticket_received", "maria@example.com")]


async def test_a_resolution_asks_whether_the_customer_is_satisfied(
    agent_client: ApiClient, database: Database
) -> None:
    assert agent_client.user is not None
    ticket = await open_ticket(agent_client, assigned_agent_id=agent_client.user.id)
    path = f"/api/v1/tickets/{ticket['id']}"

    for status in ("in_progress", "pending", "resolved"):
        response = await agent_client.patch(path, json={"status": status})
        assert response.status_code == 200, response.text

    found = await mails(database)
    assert [mail["kind"] for mail in found] == ["ticket_received", "status_changed", "satisfaction_request"]
    assert "from in progress to pending" in found[1]["text"], "the desk's own steps are not mailed"
    assert found[2]["subject"].startswith(f"[#{ticket['number']}] How did we do?")


async def test_an_agent_gets_an_assignment_by_mail_unless_they_turned_it_off(
    admin_client: ApiClient,
    user_factory: UserFactory,
    client_factory: ClientFactory,
    database: Database,
) -> None:
    wants_mail = await user_factory(email="sam@acme.example.com")
    inbox_only = await user_factory(email="kim@acme.example.com")
    response = await (await client_factory(inbox_only)).patch(
        "/api/v1/me", json={"email_notifications": False}
    )
    assert response.status_code == 200
    assert response.json()["email_notifications"] is False

    first = await open_ticket(admin_client, customer_email=None, customer_name=None)
    second = await open_ticket(admin_client, customer_email=None, customer_name=None)
    await admin_client.patch(f"/api/v1/tickets/{first['id']}", json={"assigned_agent_id": wants_mail.id})
    await admin_client.patch(f"/api/v1/tickets/{second['id']}", json={"assigned_agent_id": inbox_only.id})

    (mail,) = await mails(database)
    assert (mail["kind"], mail["to"]) == ("ticket_assigned", "sam@acme.example.com")
    assert mail["subject"] == f"[#{first['number']}] Assigned to you: Printer on fire"
    assert mail["reply_to"] is None
    notified = await (await client_factory(inbox_only)).get("/api/v1/me/notifications")
    assert notified.status_code == 200, notified.text
    assert len(notified.json()["items"]) == 1, "the in-app inbox gets it either way"


async def test_a_workspace_that_sends_no_email_writes_none(
    admin_client: ApiClient, database: Database
) -> None:
    await open_ticket(admin_client)
    response = await admin_client.patch("/api/v1/workspace", json={"email_enabled": False})
    assert response.status_code == 200
    assert response.json()["email_enabled"] is False

    await open_ticket(admin_client, title="Second")
    assert len(await mails(database)) == 1, "the change is seen from the next unit of work on"


async def test_the_workspaces_sender_and_reply_address_are_used(
    admin_client: ApiClient, database: Database
) -> None:
    await open_ticket(admin_client)  # read (and kept) with the old settings first
    response = await admin_client.patch(
        "/api/v1/workspace",
        json={
            "email_from_address": "help@acme.example.com",
            "email_from_name": "Acme Help",
            "email_reply_address": "replies@acme.example.com",
        },
    )
    assert response.status_code == 200, response.text

    ticket = await open_ticket(admin_client, title="Second")
    mail = (await mails(database))[-1]
    assert (mail["from_address"], mail["from_name"]) == ("help@acme.example.com", "Acme Help")
    assert mail["reply_to"].startswith(f"replies+{ticket['id']}.")
    assert mail["reply_to"].endswith("@acme.example.com")


async def test_an_unknown_mail_provider_is_refused(admin_client: ApiClient) -> None:
    response = await admin_client.patch("/api/v1/workspace", json={"email_providers": ["local", "postmark"]})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert (error["field"], error["type"]) == ("email_providers", "unknown-mail-provider")
    assert "postmark" in error["message"]


async def test_the_workspaces_own_template_is_used_from_the_next_change_on(
    admin_client: ApiClient, database: Database
) -> None:
    await open_ticket(admin_client)
    wording = {
        "subject": "We got it: {{ ticket.title }}",
        "text_body": "Dear {{ customer.name | default('customer') }}, thanks.",
    }
    response = await admin_client.put("/api/v1/email-templates/ticket_received", json=wording)
    assert response.status_code == 200, response.text

    ticket = await open_ticket(admin_client, title="Second")
    first, mail = await mails(database)
    assert mail["subject"] == f"[#{ticket['number']}] We got it: Second", "the ticket token is always there"
    assert (mail["text"], mail["html"]) == ("Dear Maria, thanks.", None)
    assert first["text"].startswith("Hello Maria,"), "mail written before the change keeps its wording"


async def test_breaches_and_escalations_are_mailed_to_the_staff_they_concern(
    user_factory: UserFactory,
    ticket_factory: TicketFactory,
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
) -> None:
    agent = await user_factory(role=Role.agent, email="sam@acme.example.com")
    supervisor = await user_factory(role=Role.senior_agent, email="lee@acme.example.com")
    owned = await ticket_factory(priority=Priority.high, assignee=agent, title="Owned")
    await ticket_factory(priority=Priority.medium, title="Nobody's")
    clock.advance(timedelta(days=3))

    async def run(task: tasks.WorkspaceTask) -> None:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            act_as(session.sync_session, SYSTEM, clock)
            await task(session, clock, await session.get_one(Workspace, workspace.id))

    await run(tasks.escalate_overdue_tickets)
    await run(tasks.notify_sla_breaches)

    found = await mails(database)
    to_agent = [mail for mail in found if mail["to"] == agent.email]
    to_supervisor = [mail for mail in found if mail["to"] == supervisor.email]
    assert {mail["kind"] for mail in to_agent} == {"sla_breached"}
    assert all(f"[#{owned.number}]" in mail["subject"] for mail in to_agent)
    assert "ticket_escalated" in {mail["kind"] for mail in to_supervisor}
    escalated = next(mail for mail in to_supervisor if mail["kind"] == "ticket_escalated")
    assert escalated["subject"].endswith("Escalated: Nobody's")
    assert "Priority: high" in escalated["text"], "the escalation raised it"
