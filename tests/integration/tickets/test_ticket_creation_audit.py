"""Opening a ticket writes the ticket and its audit event in one statement each, and nothing else.

Creation inserts the ticket with one statement rather than through the unit of work, so these tests pin
what the flush hooks used to guarantee: the "created" event with who and what, tags filed under the
ticket after it, nothing written when the request is refused, and no row written into another workspace.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.models import ActorType, AuditAction, AuditEvent
from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import CrossWorkspaceWrite, scope_to_workspace
from supportdesk.tickets import flows as ticket_flows
from supportdesk.tickets.models import Ticket
from supportdesk.workspaces.models import Workspace
from tests.fixtures.app import ApiClient
from tests.fixtures.clock import FROZEN_AT


async def _ticket_events(database: Database, ticket_id: int) -> list[AuditEvent]:
    async with database.new_session() as session:
        query = (
            select(AuditEvent)
            .where(AuditEvent.object_type == "ticket", AuditEvent.object_id == ticket_id)
            .order_by(AuditEvent.id)
        )
        return list((await session.execute(query)).scalars())


async def test_a_new_ticket_has_one_created_event_with_who_and_the_values(
    agent_client: ApiClient, database: Database, workspace: Workspace
) -> None:
    assert agent_client.user is not None
    response = await agent_client.post(
        "/api/v1/tickets",
        json={"title": "Printer on fire", "priority": "high", "customer_email": "maria@example.com"},
    )
    assert response.status_code == 201
    body = response.json()

    events = await _ticket_events(database, body["id"])

    assert [event.action for event in events] == [AuditAction.created]
    event = events[0]
    assert (event.actor_type, event.actor_id, event.workspace_id) == (
        ActorType.user,
        agent_client.user.id,
        workspace.id,
    )
    assert event.created_at == FROZEN_AT
    assert event.changes["title"] == [None, "Printer on fire"]
    assert event.changes["priority"] == [None, "high"]
    assert event.changes["status"] == [None, "open"]
    assert event.changes["customer_email"] == [None, "maria@example.com"]
    assert event.changes["number"] == [None, body["number"]]
    due = datetime.fromisoformat(body["sla"]["resolution"]["due_at"])
    assert event.changes["resolution_due_at"] == [None, due.isoformat()]
    # Bookkeeping columns stay out of the trail, as they do for updates.
    assert {"version", "updated_at", "id", "sla_paused_seconds"}.isdisjoint(event.changes)


async def test_tags_given_at_creation_are_filed_under_the_ticket_after_its_created_event(
    agent_client: ApiClient, database: Database
) -> None:
    response = await agent_client.post(
        "/api/v1/tickets", json={"title": "Login loop", "tags": ["vip", "sso", "vip"]}
    )
    assert response.status_code == 201
    assert response.json()["tags"] == ["sso", "vip"]

    events = await _ticket_events(database, response.json()["id"])

    assert events[0].action is AuditAction.created
    assert "tags" not in events[0].changes
    tag_changes = sorted(event.changes["tag"][1] for event in events[1:])
    assert [event.action for event in events[1:]] == [AuditAction.updated, AuditAction.updated]
    assert tag_changes == ["sso", "vip"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"title": "x", "category": "no-such-category"}, id="unknown-category"),
        pytest.param({"title": "x", "assigned_agent_id": 999_999}, id="unknown-assignee"),
    ],
)
async def test_a_refused_ticket_writes_nothing(
    admin_client: ApiClient, database: Database, body: dict[str, object]
) -> None:
    async with database.new_session() as session:
        before = await session.scalar(select(func.count()).select_from(AuditEvent))

    response = await admin_client.post("/api/v1/tickets", json=body)

    assert response.status_code == 422
    async with database.new_session() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == before
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 0


async def test_a_ticket_is_never_written_into_another_workspace(
    session: AsyncSession, workspace: Workspace, other_workspace: Workspace, clock: FrozenClock
) -> None:
    scope_to_workspace(session.sync_session, workspace.id)

    with pytest.raises(CrossWorkspaceWrite):
        await ticket_flows.open_ticket(
            session, clock, workspace_id=other_workspace.id, title="Smuggled", auto_assign=False
        )

    await session.rollback()
    assert await session.scalar(select(func.count()).select_from(Ticket)) == 0
