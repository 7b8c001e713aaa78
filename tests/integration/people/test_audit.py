"""Audit events for customers, staff users and tokens: who changed what, and never a secret."""

from __future__ import annotations

import json

from sqlalchemy import select

from supportdesk.audit.models import ActorType, AuditAction, AuditEvent
from supportdesk.db.session import Database
from supportdesk.workspaces.models import Workspace
from tests.fixtures.app import ApiClient, ClientFactory
from tests.fixtures.clock import FROZEN_AT

SECRET_COLUMNS = {"password_hash", "token_hash"}


async def _events(database: Database, object_type: str | None = None) -> list[AuditEvent]:
    """Audit events of every workspace, oldest first (read outside any request)."""
    query = select(AuditEvent).order_by(AuditEvent.id)
    if object_type is not None:
        query = query.where(AuditEvent.object_type == object_type)
    async with database.new_session() as session:
        return list((await session.execute(query)).scalars())


def _user_id(client: ApiClient) -> int:
    assert client.user is not None
    return client.user.id


async def test_creating_a_customer_records_who_created_it_and_the_values(
    agent_client: ApiClient, database: Database, workspace: Workspace
) -> None:
    created = await agent_client.post(
        "/api/v1/customers", json={"email": "maria@example.com", "name": "Maria", "tier": "premium"}
    )
    customer_id = created.json()["id"]

    events = [event for event in await _events(database, "customer") if event.object_id == customer_id]

    assert len(events) == 1
    event = events[0]
    assert (event.action, event.actor_type, event.actor_id) == (
        AuditAction.created,
        ActorType.user,
        _user_id(agent_client),
    )
    assert event.workspace_id == workspace.id
    assert event.created_at == FROZEN_AT
    assert event.changes["email"] == [None, "maria@example.com"]
    assert event.changes["name"] == [None, "Maria"]
    assert event.changes["tier"] == [None, "premium"]


async def test_updating_a_customer_records_only_the_changed_fields_before_and_after(
    agent_client: ApiClient, senior_client: ApiClient, database: Database
) -> None:
    created = await agent_client.post(
        "/api/v1/customers", json={"email": "maria@example.com", "name": "Maria", "tier": "basic"}
    )
    customer_id = created.json()["id"]

    updated = await senior_client.patch(
        f"/api/v1/customers/{customer_id}",
        json={"tier": "enterprise", "name": "Maria", "company": "Initech"},
        headers={"If-Match": '"v1"'},
    )

    assert updated.status_code == 200, updated.text
    events = [event for event in await _events(database, "customer") if event.object_id == customer_id]
    assert [event.action for event in events] == [AuditAction.created, AuditAction.updated]
    update = events[1]
    assert (update.actor_type, update.actor_id) == (ActorType.user, _user_id(senior_client))
    # The unchanged name and the bookkeeping columns (version, updated_at) are left out.
    assert update.changes == {"tier": ["basic", "enterprise"], "company": [None, "Initech"]}


async def test_refused_changes_leave_no_audit_event(agent_client: ApiClient, database: Database) -> None:
    created = await agent_client.post("/api/v1/customers", json={"email": "maria@example.com"})
    customer_id = created.json()["id"]

    stale = await agent_client.patch(
        f"/api/v1/customers/{customer_id}", json={"tier": "premium"}, headers={"If-Match": '"v9"'}
    )
    duplicate = await agent_client.post("/api/v1/customers", json={"email": "maria@example.com"})

    assert (stale.status_code, duplicate.status_code) == (412, 409)
    assert [event.action for event in await _events(database, "customer")] == [AuditAction.created]


async def test_staff_changes_are_attributed_to_the_admin(admin_client: ApiClient, database: Database) -> None:
    created = await admin_client.post(
        "/api/v1/admin/users", json={"email": "kim@example.com", "name": "Kim", "role": "agent"}
    )
    user_id = created.json()["id"]

    await admin_client.patch(f"/api/v1/admin/users/{user_id}", json={"role": "senior_agent"})
    await admin_client.post(f"/api/v1/admin/users/{user_id}/deactivate")

    events = [event for event in await _events(database, "user") if event.object_id == user_id]
    assert [event.action for event in events] == [
        AuditAction.created,
        AuditAction.updated,
        AuditAction.updated,
    ]
    assert {(event.actor_type, event.actor_id) for event in events} == {
        (ActorType.user, _user_id(admin_client))
    }
    assert events[1].changes == {"role": ["agent", "senior_agent"]}
    assert events[2].changes == {"is_active": [True, False]}


async def test_no_audit_event_ever_holds_a_password_hash_or_token_hash(
    admin_client: ApiClient, client_factory: ClientFactory, database: Database
) -> None:
    password = "a-long-password-for-kim"
    created = await admin_client.post(
        "/api/v1/admin/users",
        json={"email": "kim@example.com", "name": "Kim", "role": "agent", "password": password},
    )
    user_id = created.json()["id"]
    await admin_client.patch(f"/api/v1/admin/users/{user_id}", json={"role": "senior_agent"})
    browser = await client_factory(None)
    login = await browser.post("/api/v1/auth/login", json={"email": "kim@example.com", "password": password})
    assert login.status_code == 200, login.text
    personal = (await browser.post("/api/v1/me/tokens", json={"name": "script"})).json()
    await browser.delete(f"/api/v1/me/tokens/{personal['id']}")
    await browser.post("/api/v1/auth/logout")
    await admin_client.post(f"/api/v1/admin/users/{user_id}/deactivate")

    events = await _events(database)

    # Not vacuous: the user and both of their tokens were audited, revocations included.
    audited = {(event.object_type, event.action) for event in events}
    assert {("user", AuditAction.created), ("api_token", AuditAction.created)} <= audited
    assert ("api_token", AuditAction.updated) in audited
    for event in events:
        assert not SECRET_COLUMNS & set(event.changes), event.changes
        dumped = json.dumps(event.changes)
        assert password not in dumped
        assert "$argon2" not in dumped
        assert login.json()["token"] not in dumped
        assert personal["token"] not in dumped
