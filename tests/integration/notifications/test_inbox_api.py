"""/api/v1/me/notifications: each user reads and clears only their own inbox."""

from __future__ import annotations

from datetime import timedelta

import pytest

from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.notifications import service
from supportdesk.notifications.models import NotificationKind
from supportdesk.notifications.service import Note, NotificationService
from supportdesk.people.models import User
from supportdesk.workspaces.models import Workspace
from tests.factories.people import UserFactory
from tests.fixtures.app import ApiClient, ClientFactory

INBOX = "/api/v1/me/notifications"


async def _notify(
    database: Database, clock: FrozenClock, workspace: Workspace, user: User, *messages: str
) -> None:
    for message in messages:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            await NotificationService(session, clock, workspace.id).notify_agent(user.id, message, "high")
        clock.advance(timedelta(minutes=1))


@pytest.fixture
async def inbox(
    user_factory: UserFactory,
    client_factory: ClientFactory,
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
) -> ApiClient:
    """An agent's client, with three notifications for the agent: "one", "two", "three" (oldest first)."""
    agent = await user_factory(role=Role.agent)
    await _notify(database, clock, workspace, agent, "one", "two", "three")
    return await client_factory(agent)


async def test_the_inbox_lists_newest_first_and_pages(inbox: ApiClient) -> None:
    client = inbox

    page = (await client.get(INBOX, params={"limit": 2})).json()
    rest = (await client.get(INBOX, params={"limit": 2, "cursor": page["next_cursor"]})).json()

    assert [item["message"] for item in page["items"]] == ["three", "two"]
    assert [item["message"] for item in rest["items"]] == ["one"]
    assert rest["next_cursor"] is None
    assert page["items"][0]["kind"] == "trigger"
    assert page["items"][0]["priority"] == "high"


async def test_marking_read_once_and_all(inbox: ApiClient) -> None:
    client = inbox
    items = (await client.get(INBOX)).json()["items"]

    read = await client.post(f"{INBOX}/{items[0]['id']}/read")
    again = await client.post(f"{INBOX}/{items[0]['id']}/read")
    unread = (await client.get(INBOX, params={"unread": True})).json()["items"]

    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    assert again.json()["read_at"] == read.json()["read_at"]
    assert [item["message"] for item in unread] == ["two", "one"]

    cleared = await client.post(f"{INBOX}/read")

    assert cleared.json() == {"marked": 2}
    assert (await client.get(INBOX, params={"unread": True})).json()["items"] == []
    assert (await client.post(f"{INBOX}/read")).json() == {"marked": 0}


async def test_a_colleagues_notification_is_not_found(
    user_factory: UserFactory,
    client_factory: ClientFactory,
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
) -> None:
    mine, theirs = await user_factory(role=Role.agent), await user_factory(role=Role.agent)
    await _notify(database, clock, workspace, theirs, "private")
    their_items = (await (await client_factory(theirs)).get(INBOX)).json()["items"]
    client = await client_factory(mine)

    response = await client.post(f"{INBOX}/{their_items[0]['id']}/read")

    assert response.status_code == 404
    assert (await client.get(INBOX)).json()["items"] == []
    assert (await client.post(f"{INBOX}/read")).json() == {"marked": 0}


async def test_notify_roles_reaches_active_staff_with_those_roles(
    user_factory: UserFactory, database: Database, clock: FrozenClock, workspace: Workspace
) -> None:
    senior = await user_factory(role=Role.senior_agent)
    admin = await user_factory(role=Role.admin)
    await user_factory(role=Role.senior_agent, is_active=False)
    await user_factory(role=Role.agent)

    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        notifier = NotificationService(session, clock, workspace.id)
        count = await notifier.notify_roles(
            [Role.senior_agent, Role.admin], "Heads up", kind=NotificationKind.escalation
        )
        page = await service.list_for_user(session, senior.id, unread_only=True, limit=10, cursor=None)
        admin_page = await service.list_for_user(session, admin.id, unread_only=True, limit=10, cursor=None)

    assert count == 2
    assert [(note.kind, note.message) for note in page.items] == [(NotificationKind.escalation, "Heads up")]
    assert len(admin_page.items) == 1


async def test_recording_nothing_writes_nothing(
    database: Database, clock: FrozenClock, workspace: Workspace
) -> None:
    async with database.unit_of_work() as session:
        assert await service.record(session, clock, workspace.id, []) == 0
        assert (
            await service.record(
                session, clock, workspace.id, (Note(1, NotificationKind.trigger, "x") for _ in ())
            )
            == 0
        )


async def test_the_inbox_needs_credentials(anonymous_client: ApiClient) -> None:
    assert (await anonymous_client.get(INBOX)).status_code == 401
