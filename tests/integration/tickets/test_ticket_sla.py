"""SLA clocks of real tickets: due times from the policy, the first response, the resolution pause, a
customer's tier policy, and the breached / at-risk SQL filters agreeing with the pure rules."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people.models import Tier, User
from supportdesk.sla import rules
from supportdesk.sla import service as sla_service
from supportdesk.sla.models import SlaPolicy
from supportdesk.sla.service import BreachTarget
from supportdesk.tickets import repository as ticket_repository
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Priority, Ticket, TicketStatus
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory, UserFactory
from tests.factories.tickets import CommentFactory, TicketFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.clock import FROZEN_AT

P = Priority
S = TicketStatus
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
T0 = FROZEN_AT


@asynccontextmanager
async def scoped(database: Database, workspace: Workspace) -> AsyncIterator[AsyncSession]:
    """A session of the test's transaction that sees only ``workspace``, as a request's does."""
    async with database.new_session() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        yield session


Stored = Callable[[int], Awaitable[Ticket]]


@pytest.fixture
def stored(database: Database, workspace: Workspace) -> Stored:
    """The ticket's row as committed (every SLA column, not just what the API shows)."""

    async def read(ticket_id: int) -> Ticket:
        async with scoped(database, workspace) as session:
            return await ticket_service.get_ticket(session, ticket_id)

    return read


@pytest.fixture
def agent(agent_client: ApiClient) -> User:
    assert agent_client.user is not None
    return agent_client.user


async def create(client: ApiClient, **fields: Any) -> int:
    response = await client.post("/api/v1/tickets", json={"title": "Printer on fire", **fields})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def patch(client: ApiClient, ticket_id: int, **fields: Any) -> dict[str, Any]:
    response = await client.patch(f"/api/v1/tickets/{ticket_id}", json=fields)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def comment(client: ApiClient, ticket_id: int, **fields: Any) -> None:
    response = await client.post(f"/api/v1/tickets/{ticket_id}/comments", json={"content": "Hello", **fields})
    assert response.status_code == 201, response.text


def due_of(ticket: Ticket) -> tuple[datetime | None, datetime | None]:
    return ticket.first_response_due_at, ticket.resolution_due_at


# --- Due times of new and changed tickets ----------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "response", "resolution"),
    [
        pytest.param(P.critical, 1 * HOUR, 8 * HOUR, id="critical-1h-and-8h"),
        pytest.param(P.high, 4 * HOUR, 24 * HOUR, id="high-4h-and-24h"),
        pytest.param(P.medium, 24 * HOUR, 72 * HOUR, id="medium-24h-and-72h"),
        pytest.param(P.low, 72 * HOUR, 168 * HOUR, id="low-72h-and-168h"),
    ],
)
async def test_a_new_ticket_is_due_by_the_default_targets_of_its_priority(
    agent_client: ApiClient, stored: Stored, priority: Priority, response: timedelta, resolution: timedelta
) -> None:
    ticket = await stored(await create(agent_client, priority=priority.value))
    assert due_of(ticket) == (T0 + response, T0 + resolution)
    assert (ticket.first_response_at_risk_at, ticket.resolution_at_risk_at) == (
        T0 + response * 0.75,
        T0 + resolution * 0.75,
    )
    assert (ticket.sla_policy_id, ticket.sla_paused_at, ticket.sla_paused_seconds) == (None, None, 0)
    assert ticket.first_responded_at is None


async def test_changing_the_priority_recomputes_both_due_times_from_creation(
    agent_client: ApiClient, stored: Stored, clock: FrozenClock
) -> None:
    ticket_id = await create(agent_client, priority="low")
    clock.advance(2 * HOUR)
    await patch(agent_client, ticket_id, priority="critical")
    ticket = await stored(ticket_id)
    assert due_of(ticket) == (T0 + HOUR, T0 + 8 * HOUR)
    assert (ticket.first_response_at_risk_at, ticket.resolution_at_risk_at) == (
        T0 + 45 * MINUTE,
        T0 + 6 * HOUR,
    )
    clock.advance(HOUR)
    await patch(agent_client, ticket_id, priority="medium")
    assert due_of(await stored(ticket_id)) == (T0 + 24 * HOUR, T0 + 72 * HOUR)


async def test_a_title_change_leaves_the_due_times_alone(
    agent_client: ApiClient, stored: Stored, clock: FrozenClock
) -> None:
    ticket_id = await create(agent_client, priority="high")
    clock.advance(3 * HOUR)
    await patch(agent_client, ticket_id, title="Printer still on fire")
    assert due_of(await stored(ticket_id)) == (T0 + 4 * HOUR, T0 + 24 * HOUR)


# --- The first-response clock -----------------------------------------------------------------------


async def breached_ids(
    database: Database, workspace: Workspace, now: datetime, target: BreachTarget
) -> set[int]:
    async with scoped(database, workspace) as session:
        return set(
            (
                await session.execute(sla_service.breach_query(now, target).with_only_columns(Ticket.id))
            ).scalars()
        )


async def test_an_agents_first_public_reply_stops_the_first_response_clock_and_a_note_does_not(
    agent_client: ApiClient, stored: Stored, clock: FrozenClock, database: Database, workspace: Workspace
) -> None:
    ticket_id = await create(agent_client, priority="critical")
    clock.advance(10 * MINUTE)
    await comment(agent_client, ticket_id, content="Looks like the fuser", is_public=False)
    assert (await stored(ticket_id)).first_responded_at is None
    assert ticket_id in await breached_ids(database, workspace, T0 + 2 * HOUR, BreachTarget.first_response)

    clock.advance(10 * MINUTE)
    await comment(agent_client, ticket_id, content="We are on it")
    clock.advance(10 * MINUTE)
    await comment(agent_client, ticket_id, content="Still on it")
    ticket = await stored(ticket_id)
    assert ticket.first_responded_at == T0 + 20 * MINUTE
    # The due time stays for display; the ticket simply no longer counts as breached later on.
    assert due_of(ticket) == (T0 + HOUR, T0 + 8 * HOUR)
    assert ticket_id not in await breached_ids(
        database, workspace, T0 + 2 * HOUR, BreachTarget.first_response
    )
    assert ticket_id not in await breached_ids(database, workspace, T0 + 2 * HOUR, BreachTarget.any)


async def test_moving_to_in_progress_is_the_first_response(
    agent_client: ApiClient, agent: User, ticket_factory: TicketFactory, stored: Stored, clock: FrozenClock
) -> None:
    ticket = await ticket_factory(priority=P.high, assignee=agent)
    clock.advance(30 * MINUTE)
    await patch(agent_client, ticket.id, status="in_progress")
    clock.advance(30 * MINUTE)
    await comment(agent_client, ticket.id, content="Later public reply")
    moved = await stored(ticket.id)
    assert moved.first_responded_at == T0 + 30 * MINUTE
    assert due_of(moved) == (T0 + 4 * HOUR, T0 + 24 * HOUR)


async def test_a_customer_comment_is_not_a_first_response(
    agent_client: ApiClient,
    ticket_factory: TicketFactory,
    customer_factory: CustomerFactory,
    stored: Stored,
    clock: FrozenClock,
) -> None:
    ticket = await ticket_factory(priority=P.high, customer=await customer_factory())
    clock.advance(HOUR)
    await comment(agent_client, ticket.id, content="Any news?", author="customer")
    assert (await stored(ticket.id)).first_responded_at is None


# --- The resolution clock ---------------------------------------------------------------------------


async def test_two_hours_pending_move_the_resolution_due_two_hours_later(
    agent_client: ApiClient, agent: User, ticket_factory: TicketFactory, stored: Stored, clock: FrozenClock
) -> None:
    ticket = await ticket_factory(priority=P.high, assignee=agent)
    clock.advance(HOUR)
    await patch(agent_client, ticket.id, status="pending")
    pending = await stored(ticket.id)
    assert (pending.sla_paused_at, pending.sla_paused_seconds) == (T0 + HOUR, 0)
    assert due_of(pending) == (T0 + 4 * HOUR, T0 + 24 * HOUR)

    clock.advance(2 * HOUR)
    await patch(agent_client, ticket.id, status="in_progress")
    resumed = await stored(ticket.id)
    assert (resumed.sla_paused_at, resumed.sla_paused_seconds) == (None, 7200)
    assert due_of(resumed) == (T0 + 4 * HOUR, T0 + 26 * HOUR)
    assert resumed.resolution_at_risk_at == T0 + 20 * HOUR


async def test_pauses_add_up(
    agent_client: ApiClient, agent: User, ticket_factory: TicketFactory, stored: Stored, clock: FrozenClock
) -> None:
    ticket = await ticket_factory(priority=P.critical, assignee=agent, status=S.in_progress)
    for pause in (HOUR, 3 * HOUR):
        clock.advance(30 * MINUTE)
        await patch(agent_client, ticket.id, status="pending")
        clock.advance(pause)
        await patch(agent_client, ticket.id, status="in_progress")
    resumed = await stored(ticket.id)
    assert resumed.sla_paused_seconds == 4 * 3600
    assert resumed.resolution_due_at == T0 + 12 * HOUR


async def test_a_resolved_ticket_reopened_by_the_customer_resumes_without_the_resolved_time(
    agent_client: ApiClient,
    agent: User,
    ticket_factory: TicketFactory,
    customer_factory: CustomerFactory,
    stored: Stored,
    clock: FrozenClock,
) -> None:
    customer = await customer_factory()
    ticket = await ticket_factory(priority=P.high, assignee=agent, customer=customer)
    clock.advance(HOUR)
    await patch(agent_client, ticket.id, status="resolved")
    assert (await stored(ticket.id)).sla_paused_at == T0 + HOUR

    clock.advance(5 * HOUR)
    await comment(agent_client, ticket.id, content="Still broken", author="customer")
    reopened = await stored(ticket.id)
    assert (reopened.status, reopened.resolved_at) == (S.assigned, None)
    assert (reopened.sla_paused_at, reopened.sla_paused_seconds) == (None, 5 * 3600)
    # 24 hours of work plus the 5 hours it stood resolved; the first-response target does not move.
    assert due_of(reopened) == (T0 + 4 * HOUR, T0 + 29 * HOUR)
    assert reopened.resolution_at_risk_at == T0 + 23 * HOUR


async def test_a_reopened_ticket_breaches_at_its_moved_due_time(
    agent_client: ApiClient,
    agent: User,
    ticket_factory: TicketFactory,
    customer_factory: CustomerFactory,
    clock: FrozenClock,
    database: Database,
    workspace: Workspace,
) -> None:
    ticket = await ticket_factory(
        priority=P.critical, assignee=agent, customer=await customer_factory(), status=S.in_progress
    )
    clock.advance(2 * HOUR)
    await patch(agent_client, ticket.id, status="resolved")
    clock.advance(10 * HOUR)
    await comment(agent_client, ticket.id, content="It broke again", author="customer")
    # Due at T0 + 8h + 10h resolved = T0 + 18h.
    assert ticket.id not in await breached_ids(database, workspace, T0 + 18 * HOUR, BreachTarget.resolution)
    assert ticket.id in await breached_ids(
        database, workspace, T0 + 18 * HOUR + MINUTE, BreachTarget.resolution
    )


async def test_a_closed_ticket_keeps_its_due_times_and_is_never_breached(
    agent_client: ApiClient,
    agent: User,
    ticket_factory: TicketFactory,
    stored: Stored,
    clock: FrozenClock,
    database: Database,
    workspace: Workspace,
) -> None:
    ticket = await ticket_factory(priority=P.critical, assignee=agent, status=S.in_progress)
    clock.advance(2 * HOUR)
    await patch(agent_client, ticket.id, status="resolved")
    resolved = await stored(ticket.id)
    clock.advance(3 * HOUR)
    await patch(agent_client, ticket.id, status="closed")
    closed = await stored(ticket.id)
    assert due_of(closed) == due_of(resolved) == (T0 + HOUR, T0 + 8 * HOUR)
    assert (closed.sla_paused_at, closed.sla_paused_seconds) == (T0 + 2 * HOUR, 0)
    far_future = T0 + 365 * 24 * HOUR
    assert ticket.id not in await breached_ids(database, workspace, far_future, BreachTarget.any)
    async with scoped(database, workspace) as session:
        policy = (await sla_service.load_setup(session, workspace.id)).policy_of(closed)
    status = rules.resolution_status(
        sla_service.facts_of(closed), closed.resolution_due_at, policy, far_future
    )
    assert status == rules.TargetStatus(T0 + 8 * HOUR, 6 * 3600, rules.SlaState.met)


# --- Policies ---------------------------------------------------------------------------------------


async def add_policy(client: ApiClient, **body: Any) -> int:
    response = await client.post("/api/v1/sla/policies", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_a_customers_tier_policy_sets_the_due_times_of_their_tickets(
    agent_client: ApiClient,
    admin_client: ApiClient,
    customer_factory: CustomerFactory,
    stored: Stored,
    clock: FrozenClock,
) -> None:
    vip = await customer_factory(tier=Tier.enterprise, email="cto@bigco.example.com")
    regular = await customer_factory(tier=Tier.basic, email="someone@smallco.example.com")
    opened_before = await create(agent_client, priority="high", customer_email=vip.email)
    clock.advance(10 * MINUTE)
    policy_id = await add_policy(
        admin_client,
        name="Enterprise",
        tier="enterprise",
        first_response_minutes={"high": 30, "critical": 15},
        resolution_minutes={"high": 240},
    )

    vip_high = await stored(await create(agent_client, priority="high", customer_email=vip.email))
    vip_medium = await stored(await create(agent_client, priority="medium", customer_email=vip.email))
    regular_high = await stored(await create(agent_client, priority="high", customer_email=regular.email))
    anonymous_high = await stored(await create(agent_client, priority="high"))

    now = T0 + 10 * MINUTE
    assert (vip_high.sla_policy_id, due_of(vip_high)) == (policy_id, (now + 30 * MINUTE, now + 4 * HOUR))
    # Priorities the policy leaves out keep the built-in targets, still under that policy.
    assert (vip_medium.sla_policy_id, due_of(vip_medium)) == (policy_id, (now + 24 * HOUR, now + 72 * HOUR))
    assert (regular_high.sla_policy_id, due_of(regular_high)) == (None, (now + 4 * HOUR, now + 24 * HOUR))
    assert (anonymous_high.sla_policy_id, due_of(anonymous_high)) == (None, (now + 4 * HOUR, now + 24 * HOUR))
    # The VIP's ticket opened before the policy is re-timed by it, counting from its own creation.
    earlier = await stored(opened_before)
    assert (earlier.sla_policy_id, due_of(earlier)) == (policy_id, (T0 + 30 * MINUTE, T0 + 4 * HOUR))


async def test_a_tier_policy_outranks_a_category_policy(
    agent_client: ApiClient, admin_client: ApiClient, customer_factory: CustomerFactory, stored: Stored
) -> None:
    vip = await customer_factory(tier=Tier.premium)
    by_category = await add_policy(
        admin_client, name="General", category="general", first_response_minutes={"low": 600}
    )
    by_tier = await add_policy(
        admin_client, name="Premium", tier="premium", first_response_minutes={"low": 120}
    )
    vip_ticket = await stored(await create(agent_client, priority="low", customer_email=vip.email))
    other_ticket = await stored(await create(agent_client, priority="low"))
    assert (vip_ticket.sla_policy_id, vip_ticket.first_response_due_at) == (by_tier, T0 + 2 * HOUR)
    assert (other_ticket.sla_policy_id, other_ticket.first_response_due_at) == (by_category, T0 + 10 * HOUR)


async def test_a_policy_created_through_the_orm_applies_once_the_revision_is_bumped(
    agent_client: ApiClient,
    customer_factory: CustomerFactory,
    database: Database,
    workspace: Workspace,
    stored: Stored,
    clock: FrozenClock,
) -> None:
    vip = await customer_factory(tier=Tier.enterprise)
    # Read once, so this process caches the setup without the policy.
    await create(agent_client, priority="critical", customer_email=vip.email)
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        policy = SlaPolicy(
            workspace_id=workspace.id,
            name="Enterprise",
            tier=Tier.enterprise,
            first_response_minutes={"critical": 15},
            resolution_minutes={},
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        session.add(policy)
        await session.flush()
        await sla_service.bump_revision(session, workspace.id)
    ticket = await stored(await create(agent_client, priority="critical", customer_email=vip.email))
    assert (ticket.sla_policy_id, due_of(ticket)) == (policy.id, (T0 + 15 * MINUTE, T0 + 8 * HOUR))


# --- What the breach list shows ---------------------------------------------------------------------


def target_view(due_at: datetime, remaining: int, state: str) -> dict[str, Any]:
    return {
        "due_at": due_at.isoformat().replace("+00:00", "Z"),
        "remaining_seconds": remaining,
        "state": state,
    }


async def breach_list(client: ApiClient, **params: str) -> dict[int, dict[str, Any]]:
    response = await client.get("/api/v1/sla/breaches", params=params)
    assert response.status_code == 200, response.text
    return {item["ticket"]["id"]: item["sla"] for item in response.json()["items"]}


async def test_the_breach_list_shows_each_targets_due_time_time_left_and_state_as_time_passes(
    agent_client: ApiClient, agent: User, ticket_factory: TicketFactory, clock: FrozenClock
) -> None:
    ticket = await ticket_factory(priority=P.critical, assignee=agent)
    assert await breach_list(agent_client) == {}

    clock.set(T0 + 2 * HOUR)
    assert await breach_list(agent_client) == {
        ticket.id: {
            "policy_id": None,
            "first_response": target_view(T0 + HOUR, -3600, "breached"),
            "resolution": target_view(T0 + 8 * HOUR, 6 * 3600, "ok"),
        }
    }
    clock.set(T0 + 7 * HOUR)
    await comment(agent_client, ticket.id, content="Sorry for the wait")
    assert await breach_list(agent_client, target="first_response") == {}
    assert await breach_list(agent_client) == {}  # the late reply stopped the only breached clock

    clock.set(T0 + 9 * HOUR)
    assert await breach_list(agent_client, target="resolution") == {
        ticket.id: {
            "policy_id": None,
            "first_response": target_view(T0 + HOUR, -6 * 3600, "breached"),
            "resolution": target_view(T0 + 8 * HOUR, -3600, "breached"),
        }
    }
    await patch(agent_client, ticket.id, status="pending")
    assert await breach_list(agent_client) == {}


# --- The SQL filters agree with the pure rules ------------------------------------------------------


@dataclass(frozen=True)
class Case:
    label: str
    priority: Priority
    status: TicketStatus | None
    age: timedelta
    answered_now: bool = False


# Ages at T0 and what the pure rules say of the running clocks then.
CASES = [
    Case("critical-open-30m", P.critical, None, 30 * MINUTE),
    Case("critical-open-50m", P.critical, None, 50 * MINUTE),
    Case("critical-open-1h-due-this-instant", P.critical, None, HOUR),
    Case("critical-open-2h", P.critical, None, 2 * HOUR),
    Case("high-in-progress-20h", P.high, S.in_progress, 20 * HOUR),
    Case("high-in-progress-30h", P.high, S.in_progress, 30 * HOUR),
    Case("medium-pending-100h-unanswered", P.medium, S.pending, 100 * HOUR),
    Case("medium-pending-10h-answered", P.medium, S.pending, 10 * HOUR, answered_now=True),
    Case("medium-assigned-60h", P.medium, S.assigned, 60 * HOUR),
    Case("medium-open-18h-exactly-a-quarter-left", P.medium, None, 18 * HOUR),
    Case("low-open-55h", P.low, None, 55 * HOUR),
    Case("low-resolved-200h", P.low, S.resolved, 200 * HOUR),
    Case("low-closed-500h", P.low, S.closed, 500 * HOUR),
    Case("high-open-10h-answered-late", P.high, None, 10 * HOUR, answered_now=True),
]
BREACHED_AT_T0 = {
    "critical-open-2h",
    "high-in-progress-30h",
    "medium-pending-100h-unanswered",
    "medium-assigned-60h",
}
AT_RISK_AT_T0 = {
    "critical-open-50m",
    "critical-open-1h-due-this-instant",
    "high-in-progress-20h",
    "medium-assigned-60h",
    "low-open-55h",
}
# From now to a month on: every clock of the sample has changed state at least once by then.
MOMENTS = {
    "now": timedelta(0),
    "in-30-minutes": 30 * MINUTE,
    "in-6-hours": 6 * HOUR,
    "in-3-days": 3 * 24 * HOUR,
    "in-30-days": 30 * 24 * HOUR,
}


def pure_states(ticket: Ticket, policy: rules.Policy, now: datetime) -> set[rules.SlaState]:
    """The states of the ticket's running clocks at ``now``, as the API view computes them."""
    facts = sla_service.facts_of(ticket)
    states: set[rules.SlaState] = set()
    if rules.first_response_running(facts):
        status = rules.first_response_status(facts, ticket.first_response_due_at, policy, now)
        assert status is not None
        states.add(status.state)
    if rules.resolution_running(facts):
        status = rules.resolution_status(facts, ticket.resolution_due_at, policy, now)
        assert status is not None
        states.add(status.state)
    return states


@dataclass
class Judged:
    by_sql: dict[str, set[int]]
    by_rules: dict[str, set[int]]
    via_list: dict[str, set[int]]


async def judge(database: Database, workspace: Workspace, now: datetime) -> Judged:
    async with scoped(database, workspace) as session:
        by_sql = {
            "breached": set(
                (await session.execute(select(Ticket.id).where(sla_service.sla_breached(now)))).scalars()
            ),
            "at_risk": set(
                (await session.execute(select(Ticket.id).where(sla_service.sla_at_risk(now)))).scalars()
            ),
        }
        via_list = {
            name: {
                ticket.id
                for ticket in (
                    await ticket_repository.list_tickets(
                        session,
                        filters=ticket_repository.TicketFilters(
                            sla_condition=sla_service.sla_condition(sla_service.SlaFilter(name), now)
                        ),
                        limit=100,
                    )
                ).items
            }
            for name in ("breached", "at_risk")
        }
        setup = await sla_service.load_setup(session, workspace.id)
        tickets = list((await session.execute(select(Ticket))).scalars())
    by_rules: dict[str, set[int]] = {"breached": set(), "at_risk": set()}
    for ticket in tickets:
        states = pure_states(ticket, setup.policy_of(ticket), now)
        for name in by_rules:
            if rules.SlaState(name) in states:
                by_rules[name].add(ticket.id)
    return Judged(by_sql, by_rules, via_list)


@pytest.fixture
async def sample(
    ticket_factory: TicketFactory,
    comment_factory: CommentFactory,
    user_factory: UserFactory,
    other_workspace: Workspace,
) -> dict[str, int]:
    """The cases as tickets of the test's workspace (label -> id), plus a breached one elsewhere."""
    agent = await user_factory(role=Role.agent)
    ids: dict[str, int] = {}
    for case in CASES:
        ticket = await ticket_factory(
            priority=case.priority,
            status=case.status,
            assignee=agent if case.status in {S.assigned, S.in_progress, S.pending} else None,
            created_at=T0 - case.age,
            title=case.label,
        )
        if case.answered_now:
            await comment_factory(ticket, author=agent)
        ids[case.label] = ticket.id
    await ticket_factory(workspace=other_workspace, priority=P.critical, created_at=T0 - 5 * HOUR)
    return ids


async def test_the_cases_are_judged_as_a_person_would_at_t0(
    sample: dict[str, int], database: Database, workspace: Workspace
) -> None:
    judged = await judge(database, workspace, T0)
    label_of = {ticket_id: label for label, ticket_id in sample.items()}
    assert {label_of[i] for i in judged.by_rules["breached"]} == BREACHED_AT_T0
    assert {label_of[i] for i in judged.by_rules["at_risk"]} == AT_RISK_AT_T0
    assert {label_of[i] for i in judged.by_sql["breached"]} == BREACHED_AT_T0
    assert {label_of[i] for i in judged.by_sql["at_risk"]} == AT_RISK_AT_T0


async def listed(client: ApiClient, sla: str) -> set[int]:
    response = await client.get("/api/v1/tickets", params={"sla": sla, "limit": "100"})
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def test_the_sql_filters_match_exactly_what_the_rules_call_breached_or_at_risk(
    sample: dict[str, int],
    database: Database,
    workspace: Workspace,
    agent_client: ApiClient,
    clock: FrozenClock,
) -> None:
    # One sample judged at several moments (building it is the slow part).
    for moment, later in MOMENTS.items():
        clock.set(T0 + later)
        judged = await judge(database, workspace, T0 + later)
        assert judged.by_sql == judged.by_rules, moment
        assert judged.via_list == judged.by_rules, moment
        assert judged.by_sql["breached"] <= set(sample.values()), moment  # nothing from elsewhere
        via_api = {name: await listed(agent_client, name) for name in ("breached", "at_risk")}
        assert via_api == judged.by_rules, moment


async def test_the_breach_scan_orders_by_how_overdue(
    sample: dict[str, int], database: Database, workspace: Workspace
) -> None:
    async with scoped(database, workspace) as session:
        page = await sla_service.find_sla_breaches(session, T0, target=BreachTarget.first_response)
    found = [ticket.first_response_due_at or pytest.fail("no due time") for ticket in page.items]
    assert found == sorted(found)
    assert {ticket.id for ticket in page.items} == {
        sample[label]
        for label in ("critical-open-2h", "medium-pending-100h-unanswered", "medium-assigned-60h")
    }


# --- Business hours: a due time at closing time -----------------------------------------------------

MONDAY_CLOSING = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)


@pytest.fixture
async def due_at_closing(ticket_factory: TicketFactory, admin_client: ApiClient) -> Ticket:
    """A critical ticket under a Monday-Friday 09:00-17:00 (UTC) policy, created Monday 16:00: its one
    open hour runs out at Monday 17:00, the closing time."""
    response = await admin_client.post(
        "/api/v1/sla/calendars",
        json={
            "name": "Office",
            "timezone": "UTC",
            "weekly_hours": {day: [{"start": "09:00", "end": "17:00"}] for day in sla_service.WEEKDAYS[:5]},
        },
    )
    assert response.status_code == 201, response.text
    policy_id = await add_policy(admin_client, name="Office hours", calendar_id=response.json()["id"])
    ticket = await ticket_factory(priority=P.critical, created_at=MONDAY_CLOSING - HOUR)
    assert (ticket.sla_policy_id, ticket.first_response_due_at) == (policy_id, MONDAY_CLOSING)
    return ticket


@pytest.mark.parametrize(
    "now",
    [
        pytest.param(MONDAY_CLOSING - 10 * MINUTE, id="monday-16h50-at-risk"),
        pytest.param(MONDAY_CLOSING, id="monday-17h-due-this-instant"),
        pytest.param(MONDAY_CLOSING + 16 * HOUR + 30 * MINUTE, id="tuesday-9h30-breached"),
    ],
)
async def test_business_hours_filters_agree_with_the_rules_during_open_hours(
    due_at_closing: Ticket, database: Database, workspace: Workspace, now: datetime
) -> None:
    judged = await judge(database, workspace, now)
    assert judged.by_sql == judged.by_rules
    assert judged.by_rules["breached"] | judged.by_rules["at_risk"] == {due_at_closing.id}


async def test_business_hours_filters_agree_with_the_rules_overnight_after_closing(
    due_at_closing: Ticket,
    database: Database,
    workspace: Workspace,
    agent_client: ApiClient,
    clock: FrozenClock,
) -> None:
    # Monday 20:00: three hours past the due instant, but no open time has passed since.
    clock.set(MONDAY_CLOSING + 3 * HOUR)
    # Whatever the breach list holds, each ticket on it shows a breached target.
    for ticket_id, view in (await breach_list(agent_client)).items():
        states = {view[target]["state"] for target in ("first_response", "resolution") if view[target]}
        assert "breached" in states, (ticket_id, view)
    judged = await judge(database, workspace, clock.now())
    assert judged.by_sql == judged.by_rules
