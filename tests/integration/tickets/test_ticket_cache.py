"""GET /api/v1/tickets/{id} through the object cache (decision 0045): read from the database once, then
from the cache, with its SLA worked out at every read; forgotten by every change that commits, whoever
makes it (the API, a scheduled job, a script's flow); never by a rollback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.automation import tasks
from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people import service as people_service
from supportdesk.people.models import User
from supportdesk.tickets import flows, service
from supportdesk.tickets.models import Priority, Ticket, TicketStatus, TicketTag
from supportdesk.tickets.schemas import CommentAuthor
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory, UserFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.database import make_settings
from tests.fixtures.objects import cache_counts
from tests.fixtures.statements import statements_run


@pytest.fixture
def object_cache_seconds() -> int:
    """How long the app keeps a ticket; a test parametrizes this name to change it."""
    return 300


@pytest.fixture
def settings(engine: AsyncEngine, object_cache_seconds: int) -> Settings:
    """Settings pointing at this test's database, with the test's cache time."""
    return make_settings(
        engine.url.render_as_string(hide_password=False), object_cache_seconds=object_cache_seconds
    )


def _reads_the_ticket(statements: list[str]) -> bool:
    return any("FROM ticket" in statement for statement in statements)


async def _get(client: ApiClient, ticket: Ticket) -> dict[str, Any]:
    response = await client.get(f"/api/v1/tickets/{ticket.id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_ticket_is_read_once_then_answered_from_the_cache_with_its_sla_as_of_now(
    app: FastAPI,
    agent_client: ApiClient,
    ticket_factory: TicketFactory,
    connection: AsyncConnection,
    clock: FrozenClock,
) -> None:
    ticket = await ticket_factory(priority=Priority.high, tags=["vip", "export"])

    with statements_run(connection, full=True) as first_read:
        first = await agent_client.get(f"/api/v1/tickets/{ticket.id}")
    with statements_run(connection, full=True) as second_read:
        second = await agent_client.get(f"/api/v1/tickets/{ticket.id}")
    clock.advance(timedelta(hours=1))
    later = await _get(agent_client, ticket)

    assert _reads_the_ticket(first_read)
    assert not _reads_the_ticket(second_read)
    assert second.json() == first.json()
    assert second.headers["etag"] == first.headers["etag"] == f'"v{first.json()["version"]}"'
    assert first.json()["tags"] == ["export", "vip"]
    # The SLA is worked out from the setup and the time at every read, never kept.
    sla, later_sla = first.json()["sla"], later["sla"]
    assert later_sla["first_response"]["due_at"] == sla["first_response"]["due_at"]
    assert (
        later_sla["first_response"]["remaining_seconds"] == sla["first_response"]["remaining_seconds"] - 3600
    )
    counted = cache_counts(app, "ticket")
    assert (counted["hits"], counted["misses"]) == (2, 1)


Change = Callable[[ApiClient, Ticket], Awaitable[None]]


async def _patch(client: ApiClient, ticket: Ticket, body: dict[str, object]) -> None:
    response = await client.patch(f"/api/v1/tickets/{ticket.id}", json=body)
    assert response.status_code == 200, response.text


async def _retitle(client: ApiClient, ticket: Ticket) -> None:
    await _patch(client, ticket, {"title": "Export stops after a thousand rows"})


async def _retag(client: ApiClient, ticket: Ticket) -> None:
    await _patch(client, ticket, {"tags": ["export"]})


async def _take(client: ApiClient, ticket: Ticket) -> None:
    assert client.user is not None
    await _patch(client, ticket, {"assigned_agent_id": client.user.id, "status": "in_progress"})


async def _reply(client: ApiClient, ticket: Ticket) -> None:
    response = await client.post(f"/api/v1/tickets/{ticket.id}/comments", json={"content": "On it."})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(_retitle, {"title": "Export stops after a thousand rows"}, id="title"),
        pytest.param(_retag, {"tags": ["export"]}, id="tags"),
        pytest.param(_take, {"status": "in_progress"}, id="assignee-and-status"),
        pytest.param(_reply, {"status": "open"}, id="a-reply-answers-the-first-response"),
    ],
)
async def test_a_change_through_the_api_shows_at_the_next_read(
    app: FastAPI,
    agent_client: ApiClient,
    ticket_factory: TicketFactory,
    change: Change,
    expected: dict[str, object],
) -> None:
    ticket = await ticket_factory(tags=["vip"])
    before = await _get(agent_client, ticket)
    counted = cache_counts(app, "ticket")

    await change(agent_client, ticket)
    after = await _get(agent_client, ticket)

    assert {name: after[name] for name in expected} == expected
    assert after["updated_at"] != before["updated_at"]
    if change is _reply:
        assert before["first_responded_at"] is None
        assert after["first_responded_at"] is not None
    else:
        assert after["version"] == before["version"] + 1
    assert cache_counts(app, "ticket")["invalidations"] == counted["invalidations"] + 1


async def test_a_deleted_ticket_is_not_found(admin_client: ApiClient, ticket_factory: TicketFactory) -> None:
    ticket = await ticket_factory()
    await _get(admin_client, ticket)

    assert (await admin_client.delete(f"/api/v1/tickets/{ticket.id}")).status_code == 204
    gone = await admin_client.get(f"/api/v1/tickets/{ticket.id}")

    assert gone.status_code == 404


Outside = Callable[[Database, FrozenClock, Workspace, Ticket], Awaitable[None]]


async def _escalate(database: Database, clock: FrozenClock, workspace: Workspace, _ticket: Ticket) -> None:
    # The scheduler's job: one bulk statement below the ORM.
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        act_as(session.sync_session, SYSTEM, clock)
        assert await tasks.escalate_overdue_tickets(session, clock, workspace) == 1


async def _auto_close(database: Database, clock: FrozenClock, workspace: Workspace, _ticket: Ticket) -> None:
    # The scheduler's job: tickets changed through the ORM.
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        act_as(session.sync_session, SYSTEM, clock)
        current = await session.get_one(Workspace, workspace.id)
        assert await tasks.auto_close_resolved(session, clock, current) == 1


async def _customer_replies(
    database: Database, clock: FrozenClock, workspace: Workspace, ticket: Ticket
) -> None:
    # A script's flow (an e-mail channel would do the same): the customer's reply reopens the ticket.
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        act_as(session.sync_session, SYSTEM, clock)
        fresh = await service.get_ticket(session, ticket.id)
        agent = await session.get_one(User, fresh.assigned_agent_id)
        await flows.process_comment(
            session, clock, fresh, actor=agent, content="It works again.", author=CommentAuthor.customer
        )


async def _tag_row_alone(
    database: Database, _clock: FrozenClock, workspace: Workspace, ticket: Ticket
) -> None:
    # A tag row written on its own, without the ticket loaded: it still belongs to the ticket's record.
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        session.add(TicketTag(ticket_id=ticket.id, name="export"))


@pytest.mark.parametrize(
    ("status", "age", "change", "expected"),
    [
        pytest.param(
            None, timedelta(days=3), _escalate, {"escalated": True, "priority": "high"}, id="escalation"
        ),
        pytest.param(
            TicketStatus.resolved, timedelta(days=10), _auto_close, {"status": "closed"}, id="auto-close"
        ),
        pytest.param(
            TicketStatus.resolved,
            timedelta(hours=1),
            _customer_replies,
            {"status": "assigned"},
            id="script-flow",
        ),
        pytest.param(None, timedelta(hours=1), _tag_row_alone, {"tags": ["export"]}, id="a-tag-row-alone"),
    ],
)
async def test_a_change_outside_the_api_shows_at_the_next_read(
    app: FastAPI,
    agent_client: ApiClient,
    ticket_factory: TicketFactory,
    customer_factory: CustomerFactory,
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
    status: TicketStatus | None,
    age: timedelta,
    change: Outside,
    expected: dict[str, object],
) -> None:
    assert agent_client.user is not None
    ticket = await ticket_factory(
        created_at=clock.now() - age,
        status=status,
        customer=await customer_factory(),
        assignee=agent_client.user if status is not None else None,
    )
    before = await _get(agent_client, ticket)
    counted = cache_counts(app, "ticket")

    await change(database, clock, workspace, ticket)
    after = await _get(agent_client, ticket)

    assert {name: before[name] for name in expected} != expected
    assert {name: after[name] for name in expected} == expected
    assert cache_counts(app, "ticket")["invalidations"] == counted["invalidations"] + 1


async def test_a_rollback_forgets_nothing(
    app: FastAPI,
    agent_client: ApiClient,
    ticket_factory: TicketFactory,
    database: Database,
    workspace: Workspace,
) -> None:
    ticket = await ticket_factory(title="As it was")
    await _get(agent_client, ticket)
    counted = cache_counts(app, "ticket")

    async def change_then_fail() -> None:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            fresh = await service.get_ticket(session, ticket.id)
            fresh.title = "Never committed"
            await session.flush()
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError, match="changed my mind"):
        await change_then_fail()
    stale_version = await agent_client.patch(
        f"/api/v1/tickets/{ticket.id}", json={"title": "Refused"}, headers={"If-Match": '"v7"'}
    )
    after = await _get(agent_client, ticket)

    assert stale_version.status_code == 412
    assert after["title"] == "As it was"
    assert cache_counts(app, "ticket") == counted | {"hits": counted["hits"] + 1}


async def test_a_transaction_that_changed_a_ticket_reads_its_own_change(
    app: FastAPI,
    agent_client: ApiClient,
    ticket_factory: TicketFactory,
    database: Database,
    workspace: Workspace,
) -> None:
    ticket = await ticket_factory(title="As it was")
    await _get(agent_client, ticket)
    counted = cache_counts(app, "ticket")

    titles: list[str] = []

    async def change_read_then_fail() -> None:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            titles.append((await service.read_ticket(session, ticket.id)).title)
            fresh = await service.get_ticket(session, ticket.id)
            fresh.title = "Changed here"
            await session.flush()
            titles.append((await service.read_ticket(session, ticket.id)).title)
            async with database.unit_of_work(readonly=True) as other:
                scope_to_workspace(other.sync_session, workspace.id)
                titles.append((await service.read_ticket(other, ticket.id)).title)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        await change_read_then_fail()

    # Another session, even one that shares the test's connection and so sees the change, is answered
    # from the cache: the committed state.
    assert titles == ["As it was", "Changed here", "As it was"]
    assert cache_counts(app, "ticket") == counted | {"hits": counted["hits"] + 2}


@pytest.mark.parametrize("object_cache_seconds", [0])
async def test_with_no_cache_time_every_read_goes_to_the_database(
    app: FastAPI, agent_client: ApiClient, ticket_factory: TicketFactory, connection: AsyncConnection
) -> None:
    ticket = await ticket_factory()

    reads = []
    for _ in range(2):
        with statements_run(connection, full=True) as statements:
            await _get(agent_client, ticket)
        reads.append(_reads_the_ticket(statements))

    assert app.state.object_cache is None
    assert reads == [True, True]
    assert cache_counts(app, "ticket") == {"hits": 0, "misses": 0, "invalidations": 0}


async def test_an_assignment_checks_its_agent_through_the_cache_and_sees_a_deactivation(
    app: FastAPI,
    senior_client: ApiClient,
    ticket_factory: TicketFactory,
    user_factory: UserFactory,
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
) -> None:
    agent = await user_factory(role=Role.agent)
    first, second, third = [await ticket_factory() for _ in range(3)]
    counted = cache_counts(app, "user")

    await _patch(senior_client, first, {"assigned_agent_id": agent.id})
    await _patch(senior_client, second, {"assigned_agent_id": agent.id})
    # Deactivated as a command would (its own unit of work, not the API).
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        await people_service.deactivate_user(session, clock, await people_service.get_user(session, agent.id))
    refused = await senior_client.patch(f"/api/v1/tickets/{third.id}", json={"assigned_agent_id": agent.id})

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["type"] == "unknown-agent"
    # Read once, then from the cache; forgotten with the deactivation, read again.
    assert cache_counts(app, "user") == {
        "hits": counted["hits"] + 1,
        "misses": counted["misses"] + 2,
        "invalidations": counted["invalidations"] + 1,
    }
