"""Pushes: a staff member's open screens hear of each notification as soon as the change that made it
commits, never of one that rolled back, and, over Redis, whichever server process made it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.core.pushes import Push
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.notifications.service import NotificationService
from supportdesk.realtime.pubsub import MemoryPubSub, PubSub, RedisPubSub, agent_channel
from supportdesk.workspaces.models import Workspace
from tests.factories.people import UserFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"
WAIT = 2.0


async def test_an_agent_given_a_ticket_hears_of_it_at_once(
    app: FastAPI,
    admin_client: ApiClient,
    user_factory: UserFactory,
    ticket_factory: TicketFactory,
    database: Database,
    workspace: Workspace,
) -> None:
    agent = await user_factory(role=Role.agent)
    ticket = await ticket_factory(title="Printer on fire")
    pubsub: PubSub = app.state.pubsub

    async with pubsub.subscribe(agent_channel(workspace.id, agent.id)) as screen:
        response = await admin_client.patch(
            f"/api/v1/tickets/{ticket.id}", json={"assigned_agent_id": agent.id}
        )
        assert response.status_code == 200, response.text
        async with asyncio.timeout(WAIT):
            pushed = await screen.next()

    assert pushed["type"] == "notification"
    assert (pushed["kind"], pushed["ticket_id"], pushed["priority"]) == ("assignment", ticket.id, "medium")
    assert pushed["message"] == f"Ticket #{ticket.number} was assigned to you: Printer on fire"


async def test_nobody_hears_of_a_change_that_rolled_back(
    app: FastAPI, user_factory: UserFactory, database: Database, clock: FrozenClock, workspace: Workspace
) -> None:
    agent = await user_factory(role=Role.agent)
    pubsub: PubSub = app.state.pubsub

    async def notify_then_fail() -> None:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            await NotificationService(session, clock, workspace.id).notify_agent(agent.id, "Never sent")
            raise RuntimeError("the change failed")

    async with pubsub.subscribe(agent_channel(workspace.id, agent.id)) as screen:
        with pytest.raises(RuntimeError):
            await notify_then_fail()
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            await NotificationService(session, clock, workspace.id).notify_agent(agent.id, "Sent", "high")
        async with asyncio.timeout(WAIT):
            pushed = await screen.next()

    assert (pushed["message"], pushed["priority"]) == ("Sent", "high"), "the rolled-back one never came"


async def test_a_savepoint_inside_a_change_neither_sends_nor_drops_its_pushes(
    app: FastAPI, user_factory: UserFactory, database: Database, clock: FrozenClock, workspace: Workspace
) -> None:
    """A savepoint's end is not the transaction's: pushes recorded before one is released wait for the
    commit (and vanish with a rollback), and one rolled back takes none of the pushes around it."""
    agent = await user_factory(role=Role.agent)
    pubsub: PubSub = app.state.pubsub

    async def notify_release_savepoint_then_fail() -> None:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            await NotificationService(session, clock, workspace.id).notify_agent(agent.id, "Never sent")
            async with session.begin_nested():
                pass
            raise RuntimeError("the change failed after its savepoint")

    async with pubsub.subscribe(agent_channel(workspace.id, agent.id)) as screen:
        with pytest.raises(RuntimeError):
            await notify_release_savepoint_then_fail()
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            await NotificationService(session, clock, workspace.id).notify_agent(agent.id, "Kept", "high")
            with pytest.raises(ValueError, match="race lost"):
                async with session.begin_nested():
                    raise ValueError("a race lost inside the change")
        async with asyncio.timeout(WAIT):
            pushed = await screen.next()

    assert (pushed["message"], pushed["priority"]) == ("Kept", "high")


async def test_a_screen_hears_only_its_own_channel() -> None:
    pubsub = MemoryPubSub()
    async with pubsub.subscribe(agent_channel(1, 7)) as mine, pubsub.subscribe(agent_channel(2, 7)) as other:
        await pubsub.publish_many([Push(agent_channel(1, 7), {"n": 1}), Push(agent_channel(1, 8), {"n": 2})])
        async with asyncio.timeout(WAIT):
            assert await mine.next() == {"n": 1}
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await other.next()


@pytest.fixture
async def redis_pair() -> AsyncIterator[tuple[RedisPubSub, RedisPubSub]]:
    """Two processes' pub/sub on one Redis, under a prefix of this test's own."""
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    one, two = RedisPubSub(REDIS_URL, prefix=prefix), RedisPubSub(REDIS_URL, prefix=prefix)
    yield one, two
    await one.aclose()
    await two.aclose()


async def test_over_redis_a_push_from_one_process_reaches_a_screen_on_another(
    redis_pair: tuple[RedisPubSub, RedisPubSub],
) -> None:
    server_a, server_b = redis_pair
    async with server_b.subscribe(agent_channel(3, 12)) as screen:
        message = {"type": "notification", "message": "hello"}
        await server_a.publish_many([Push(agent_channel(3, 12), message)])
        async with asyncio.timeout(WAIT):
            assert await screen.next() == message


async def test_installations_sharing_a_redis_never_hear_each_other() -> None:
    ours, theirs = RedisPubSub(REDIS_URL, prefix="ours-test:"), RedisPubSub(REDIS_URL, prefix="theirs-test:")
    try:
        async with ours.subscribe(agent_channel(1, 1)) as screen:
            await theirs.publish(agent_channel(1, 1), {"message": "not for you"})
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await screen.next()
    finally:
        await ours.aclose()
        await theirs.aclose()
