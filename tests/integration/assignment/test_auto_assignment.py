"""Automatic assignment on creation: strategies, who is skipped, fairness under concurrency."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.app import create_app
from supportdesk.assignment import service as assignment_service
from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.auth import service as auth_service
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.notifications.models import Notification, NotificationKind
from supportdesk.people import service as people_service
from supportdesk.people.models import Availability, User
from supportdesk.tickets.models import Priority, Ticket, TicketStatus
from supportdesk.workspaces import service as workspace_service
from supportdesk.workspaces.models import Workspace
from tests.factories.people import UserFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.database import make_settings

TICKETS = "/api/v1/tickets"
WORKSPACE = "/api/v1/workspace"


async def _enable(client: ApiClient, **settings: Any) -> None:
    response = await client.patch(WORKSPACE, json={"auto_assign": True, **settings})
    assert response.status_code == 200, response.text


async def _create(client: ApiClient, **body: Any) -> dict[str, Any]:
    response = await client.post(TICKETS, json={"title": "Printer on fire", **body})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_without_auto_assign_a_new_ticket_stays_open(
    admin_client: ApiClient, user_factory: UserFactory
) -> None:
    await user_factory(role=Role.agent)

    ticket = await _create(admin_client)

    assert (ticket["status"], ticket["assigned_agent_id"]) == ("open", None)


async def test_round_robin_takes_turns_and_tells_the_agent(
    admin_client: ApiClient, user_factory: UserFactory, database: Database
) -> None:
    first = await user_factory(role=Role.agent)
    second = await user_factory(role=Role.senior_agent)
    await _enable(admin_client)

    assignees = [(await _create(admin_client))["assigned_agent_id"] for _ in range(4)]

    assert assignees == [first.id, second.id, first.id, second.id]
    async with database.unit_of_work(readonly=True) as session:
        notes = (
            await session.execute(select(Notification).where(Notification.user_id == first.id))
        ).scalars()
        kinds = [(note.kind, note.message.startswith("Ticket #")) for note in notes]
    assert kinds == [(NotificationKind.assignment, True)] * 2


async def test_the_agent_is_told_which_ticket_they_were_given(
    admin_client: ApiClient, user_factory: UserFactory, database: Database, clock: FrozenClock
) -> None:
    agent = await user_factory(role=Role.agent)
    await _enable(admin_client)

    ticket = await _create(admin_client, priority="high")

    async with database.unit_of_work(readonly=True) as session:
        note = (
            await session.execute(select(Notification).where(Notification.user_id == agent.id))
        ).scalar_one()
        told = (note.workspace_id, note.ticket_id, note.kind, note.priority, note.created_at, note.read_at)
        message = note.message
    assert told == (agent.workspace_id, ticket["id"], NotificationKind.assignment, "high", clock.now(), None)
    assert message == f"Ticket #{ticket['number']} was assigned to you: Printer on fire"


async def test_assigned_ticket_shows_status_assigned(
    admin_client: ApiClient, user_factory: UserFactory
) -> None:
    agent = await user_factory(role=Role.agent)
    await _enable(admin_client)

    ticket = await _create(admin_client)

    assert (ticket["status"], ticket["assigned_agent_id"]) == ("assigned", agent.id)


@pytest.mark.parametrize(
    "absent",
    [
        pytest.param({"availability": Availability.away}, id="away"),
        pytest.param({"is_active": False}, id="inactive"),
        pytest.param({"role": Role.viewer}, id="viewer"),
        pytest.param({"role": Role.admin}, id="admin"),
    ],
)
async def test_agents_who_cannot_take_work_are_skipped(
    admin_client: ApiClient, user_factory: UserFactory, absent: dict[str, Any]
) -> None:
    present = await user_factory(role=Role.agent)
    await user_factory(**{"role": Role.agent, **absent})
    await _enable(admin_client)

    assignees = {(await _create(admin_client))["assigned_agent_id"] for _ in range(3)}

    assert assignees == {present.id}


async def test_agents_of_another_workspace_are_never_candidates(
    admin_client: ApiClient, user_factory: UserFactory, other_workspace: Workspace
) -> None:
    outsider = await user_factory(role=Role.agent, workspace=other_workspace)
    await _enable(admin_client)

    lonely = await _create(admin_client)
    insider = await user_factory(role=Role.agent)
    served = await _create(admin_client)

    assert (lonely["status"], lonely["assigned_agent_id"]) == ("open", None)
    assert served["assigned_agent_id"] == insider.id != outsider.id


async def test_nobody_available_leaves_the_ticket_open_without_error(
    admin_client: ApiClient, user_factory: UserFactory
) -> None:
    await user_factory(role=Role.agent, availability=Availability.away)
    await _enable(admin_client)

    ticket = await _create(admin_client)

    assert (ticket["status"], ticket["assigned_agent_id"]) == ("open", None)


async def test_capacity_stops_assignment_until_work_is_done(
    admin_client: ApiClient, user_factory: UserFactory
) -> None:
    agent = await user_factory(role=Role.agent)
    await _enable(admin_client, agent_capacity=2)

    tickets = [await _create(admin_client) for _ in range(3)]
    assert [ticket["assigned_agent_id"] for ticket in tickets] == [agent.id, agent.id, None]

    resolved = await admin_client.patch(f"{TICKETS}/{tickets[0]['id']}", json={"status": "resolved"})
    assert resolved.status_code == 200, resolved.text
    assert (await _create(admin_client))["assigned_agent_id"] == agent.id


async def test_least_loaded_prefers_the_agent_with_fewest_open_tickets(
    admin_client: ApiClient, user_factory: UserFactory, ticket_factory: TicketFactory
) -> None:
    busy = await user_factory(role=Role.agent)
    idle = await user_factory(role=Role.agent)
    for _ in range(2):
        await ticket_factory(assignee=busy)
    await _enable(admin_client, assignment_strategy="least_loaded")

    assignees = [(await _create(admin_client))["assigned_agent_id"] for _ in range(3)]

    # Level after two, then the tie goes to whoever was assigned automatically longest ago.
    assert assignees == [idle.id, idle.id, busy.id]


async def test_by_priority_sends_critical_tickets_to_senior_agents(
    admin_client: ApiClient, user_factory: UserFactory
) -> None:
    agent = await user_factory(role=Role.agent)
    senior = await user_factory(role=Role.senior_agent)
    await _enable(admin_client, assignment_strategy="by_priority")

    critical = await _create(admin_client, priority="critical")
    low = await _create(admin_client, priority="low")

    assert (critical["assigned_agent_id"], low["assigned_agent_id"]) == (senior.id, agent.id)


async def test_by_skill_sends_a_category_to_agents_who_know_it(
    admin_client: ApiClient, user_factory: UserFactory
) -> None:
    await user_factory(role=Role.agent, skills=["technical"])
    billing = await user_factory(role=Role.agent, skills=["billing"])
    await _enable(admin_client, assignment_strategy="by_skill")

    assignees = {(await _create(admin_client, category="billing"))["assigned_agent_id"] for _ in range(3)}

    assert assignees == {billing.id}


async def test_a_category_strategy_overrides_the_workspace_strategy(
    admin_client: ApiClient, user_factory: UserFactory
) -> None:
    await user_factory(role=Role.agent, skills=["technical"])
    billing = await user_factory(role=Role.agent, skills=["billing"])
    await _enable(admin_client, category_strategies={"billing": "by_skill"})

    assignees = {(await _create(admin_client, category="billing"))["assigned_agent_id"] for _ in range(2)}

    assert assignees == {billing.id}


async def test_a_reassignment_by_hand_is_not_a_turn_of_the_round_robin(
    admin_client: ApiClient, user_factory: UserFactory
) -> None:
    ana, ben, cleo = [await user_factory(role=Role.agent) for _ in range(3)]
    await _enable(admin_client)
    first_round = [await _create(admin_client) for _ in range(3)]
    assert [ticket["assigned_agent_id"] for ticket in first_round] == [ana.id, ben.id, cleo.id]

    moved = await admin_client.patch(f"{TICKETS}/{first_round[2]['id']}", json={"assigned_agent_id": ana.id})
    assert moved.status_code == 200, moved.text
    next_round = [(await _create(admin_client))["assigned_agent_id"] for _ in range(3)]

    # Cleo no longer holds her turn's ticket, and Ana's turn is still the first one: the ticket she was
    # handed by hand does not move her to the back of the queue.
    assert next_round == [cleo.id, ana.id, ben.id]


@pytest.mark.parametrize(
    ("assign", "priority", "expected"),
    [
        pytest.param(
            assignment_service.assign_ticket_round_robin,
            Priority.critical,
            ["agent", "senior"],
            id="round-robin",
        ),
        pytest.param(
            assignment_service.assign_ticket_by_priority,
            Priority.critical,
            ["senior", "senior"],
            id="by-priority",
        ),
        pytest.param(
            assignment_service.assign_ticket_by_priority,
            Priority.low,
            ["agent", "agent"],
            id="by-priority-low",
        ),
    ],
)
async def test_a_named_strategy_applies_whatever_the_workspace_uses(
    database: Database,
    clock: FrozenClock,
    user_factory: UserFactory,
    ticket_factory: TicketFactory,
    assign: Callable[[Ticket, AsyncSession, FrozenClock], Awaitable[int | None]],
    priority: Priority,
    expected: list[str],
) -> None:
    staff = {
        "agent": await user_factory(role=Role.agent),
        "senior": await user_factory(role=Role.senior_agent),
    }
    tickets = [await ticket_factory(priority=priority) for _ in expected]

    chosen = []
    for ticket in tickets:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, ticket.workspace_id)
            act_as(session.sync_session, SYSTEM, clock)
            fresh = await session.get_one(Ticket, ticket.id)
            chosen.append(await assign(fresh, session, clock))
    async with database.new_session() as session:
        stored = [(await session.get_one(Ticket, ticket.id)) for ticket in tickets]

    assert chosen == [staff[name].id for name in expected]
    assert [(ticket.assigned_agent_id, ticket.status) for ticket in stored] == [
        (agent_id, TicketStatus.assigned) for agent_id in chosen
    ]


async def test_a_ticket_created_with_an_assignee_keeps_it(
    admin_client: ApiClient, user_factory: UserFactory
) -> None:
    await user_factory(role=Role.agent)
    chosen = await user_factory(role=Role.agent)
    await _enable(admin_client)

    ticket = await _create(admin_client, assigned_agent_id=chosen.id)

    assert ticket["assigned_agent_id"] == chosen.id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"assignment_strategy": "random"}, "assignment_strategy", id="unknown-strategy"),
        pytest.param({"agent_capacity": 0}, "agent_capacity", id="zero-capacity"),
        pytest.param(
            {"category_strategies": {"billing": "nope"}}, "category_strategies", id="bad-category-strategy"
        ),
        pytest.param({"auto_assign": "yes"}, "auto_assign", id="not-a-boolean"),
        pytest.param({"escalation_delay_minutes": False}, "escalation_delay_minutes", id="bool-minutes"),
        pytest.param({"auto_close_after_days": "7"}, "auto_close_after_days", id="days-as-text"),
    ],
)
async def test_bad_assignment_settings_are_422_naming_the_field(
    admin_client: ApiClient, body: dict[str, Any], field: str
) -> None:
    response = await admin_client.patch(WORKSPACE, json=body)

    assert response.status_code == 422
    assert field in response.text
    assert (await admin_client.get(WORKSPACE)).json()["auto_assign"] is False


async def test_a_strategy_for_an_unknown_category_is_refused(admin_client: ApiClient) -> None:
    response = await admin_client.patch(WORKSPACE, json={"category_strategies": {"hardware": "by_skill"}})

    assert response.status_code == 422
    assert "category_strategies" in response.text


async def test_only_admins_change_assignment_settings(agent_client: ApiClient) -> None:
    response = await agent_client.patch(WORKSPACE, json={"auto_assign": True})

    assert response.status_code == 403


AGENTS = 3
ROUNDS = 4


async def test_round_robin_is_fair_under_concurrent_creations(
    real_database: Database, clock: FrozenClock
) -> None:
    settings = make_settings(real_database.engine.url.render_as_string(hide_password=False))
    async with real_database.unit_of_work() as session:
        act_as(session.sync_session, SYSTEM, clock)
        workspace = await workspace_service.create_workspace(session, clock, slug="fair", name="Fair")
        await workspace_service.update_settings(session, workspace, {"auto_assign": True})
        scope_to_workspace(session.sync_session, workspace.id)
        for n in range(AGENTS):
            await people_service.create_user(
                session,
                clock,
                workspace_id=workspace.id,
                email=f"a{n}@fair.example.com",
                name=f"A{n}",
                role=Role.agent,
            )
        admin = await people_service.create_user(
            session,
            clock,
            workspace_id=workspace.id,
            email="boss@fair.example.com",
            name="Boss",
            role=Role.admin,
        )
        token = await auth_service.create_personal_token(session, settings, clock, user=admin, name="load")
    app = create_app(settings, database=real_database, clock=clock)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token.secret}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as client:
        responses = await asyncio.gather(
            *(client.post(TICKETS, json={"title": f"Rush {n}"}) for n in range(AGENTS * ROUNDS + 1))
        )
    assert all(response.status_code == 201 for response in responses), [r.text for r in responses]
    async with real_database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, workspace.id)
        assignees = list((await session.execute(select(Ticket.assigned_agent_id))).scalars())
        agent_ids = list((await session.execute(select(User.id).where(User.role == Role.agent))).scalars())
    counts = Counter(assignees)
    per_agent = sorted(counts[agent_id] for agent_id in agent_ids)
    assert None not in counts
    assert per_agent == [ROUNDS, ROUNDS, ROUNDS + 1]
