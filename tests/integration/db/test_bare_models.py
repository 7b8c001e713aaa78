"""Every model works on its own: added to a plain session (no service), committed and read back, on both
databases, with only the fields a person would naturally give. The flush fills the rest as the services
would: timestamps from the session's clock, the workspace from the parent, a ticket's number from the
workspace counter, its defaults, its customer's address and (filled after those, by the SLA package)
its SLA due times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.automation.models import Macro, Trigger, TriggerEvent
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.core.security import hash_token, new_token, token_display_prefix
from supportdesk.db.base import Base
from supportdesk.db.session import Database
from supportdesk.db.tenancy import CrossWorkspaceWrite, scope_to_workspace
from supportdesk.notifications.models import Notification, NotificationKind
from supportdesk.people.models import ApiToken, Availability, Customer, Tier, TokenKind, User
from supportdesk.sla.models import BusinessCalendar, SlaPolicy
from supportdesk.tickets import flows as ticket_flows
from supportdesk.tickets.models import Comment, Priority, Ticket, TicketStatus, TicketTag
from supportdesk.workspaces.models import DEFAULT_CATEGORIES, Workspace
from tests.fixtures.statements import statements_run

HOUR = timedelta(hours=1)


@dataclass
class Desk:
    """A workspace with an agent, a customer and a ticket, every one of them made without a service."""

    workspace: Workspace
    agent: User
    customer: Customer
    ticket: Ticket


@pytest.fixture
def bare(session: AsyncSession, clock: FrozenClock) -> AsyncSession:
    """The plain session, stamping with the test's clock."""
    act_as(session.sync_session, SYSTEM, clock)
    return session


@pytest.fixture
async def desk(bare: AsyncSession) -> Desk:
    workspace = Workspace(slug="bare-desk", name="Bare Desk")
    bare.add(workspace)
    await bare.commit()
    agent = User(workspace_id=workspace.id, email="ann@bare.example.com", name="Ann", role="agent")
    customer = Customer(workspace_id=workspace.id, email="carl@example.com", name="Carl")
    bare.add_all([agent, customer])
    await bare.commit()
    ticket = Ticket(workspace_id=workspace.id, title="Printer on fire", customer_id=customer.id)
    bare.add(ticket)
    await bare.commit()
    return Desk(workspace, agent, customer, ticket)


async def read_back(database: Database, instance: Base) -> Any:
    """The row as a fresh session loads it from the database."""
    async with database.new_session() as fresh:
        return await fresh.get(type(instance), inspect(instance).identity)


@dataclass(frozen=True)
class Case:
    build: Callable[[Desk], Base]
    expected: Callable[[Desk], dict[str, Any]]


CASES = {
    "workspace": Case(
        lambda desk: Workspace(slug="second-desk", name="Second Desk"),
        lambda desk: {"ticket_counter": 0, "categories": list(DEFAULT_CATEGORIES), "auto_assign": False},
    ),
    "user": Case(
        lambda desk: User(
            workspace_id=desk.workspace.id, email="bo@bare.example.com", name="Bo", role="senior_agent"
        ),
        lambda desk: {"role": Role.senior_agent, "is_active": True, "availability": Availability.available},
    ),
    "customer": Case(
        lambda desk: Customer(workspace_id=desk.workspace.id, email="dora@example.com", tier="premium"),
        lambda desk: {"tier": Tier.premium, "name": None, "version": 1},
    ),
    "ticket": Case(
        lambda desk: Ticket(
            workspace_id=desk.workspace.id,
            title="Invoice missing",
            customer_id=desk.customer.id,
            priority="high",
        ),
        lambda desk: {
            "number": 2,
            "status": TicketStatus.open,
            "priority": Priority.high,
            "category": "general",
            "customer_email": "carl@example.com",
            "first_response_due_at": desk.ticket.created_at + 4 * HOUR,
            "resolution_due_at": desk.ticket.created_at + 24 * HOUR,
            "version": 1,
        },
    ),
    "comment": Case(
        lambda desk: Comment(ticket_id=desk.ticket.id, author_user_id=desk.agent.id, content="On it."),
        lambda desk: {"author_email": "ann@bare.example.com", "is_public": True},
    ),
    "tag": Case(
        lambda desk: TicketTag(ticket_id=desk.ticket.id, name="hardware"),
        lambda desk: {"name": "hardware"},
    ),
    "token": Case(
        lambda desk: ApiToken(
            user_id=desk.agent.id,
            name="laptop",
            kind="personal",
            token_hash=hash_token(new_token(), "a secret of this test"),
            prefix=token_display_prefix(new_token()),
        ),
        lambda desk: {"kind": TokenKind.personal, "expires_at": None, "revoked_at": None},
    ),
    "trigger": Case(
        lambda desk: Trigger(
            workspace_id=desk.workspace.id,
            name="Refunds to billing",
            event="created",
            conditions=[{"field": "text", "operator": "contains", "value": "refund"}],
            actions=[{"type": "set_category", "value": "billing"}],
        ),
        lambda desk: {"event": TriggerEvent.created, "is_active": True, "position": 0, "any_conditions": []},
    ),
    "macro": Case(
        lambda desk: Macro(
            workspace_id=desk.workspace.id,
            name="Close politely",
            actions=[{"type": "set_status", "value": "resolved"}],
            reply="Glad we could help!",
        ),
        lambda desk: {"reply_public": True, "version": 1},
    ),
    "sla-policy": Case(
        lambda desk: SlaPolicy(
            workspace_id=desk.workspace.id,
            name="Enterprise",
            tier="enterprise",
            first_response_minutes={"critical": 30},
        ),
        lambda desk: {"tier": Tier.enterprise, "category": None, "resolution_minutes": {}},
    ),
    "calendar": Case(
        lambda desk: BusinessCalendar(
            workspace_id=desk.workspace.id,
            name="Office hours",
            timezone="Europe/Berlin",
            weekly_hours={"monday": [["09:00", "17:00"]]},
        ),
        lambda desk: {"holiday_country": None, "custom_holidays": []},
    ),
    "notification": Case(
        lambda desk: Notification(
            user_id=desk.agent.id, kind="assignment", ticket_id=desk.ticket.id, message="A ticket for you"
        ),
        lambda desk: {"kind": NotificationKind.assignment, "priority": "medium", "read_at": None},
    ),
}


@pytest.mark.parametrize("kind", [pytest.param(kind, id=kind) for kind in CASES])
async def test_a_model_added_to_a_plain_session_commits_and_reads_back(
    bare: AsyncSession, database: Database, desk: Desk, clock: FrozenClock, kind: str
) -> None:
    case = CASES[kind]
    instance = case.build(desk)
    bare.add(instance)
    await bare.commit()

    stored = await read_back(database, instance)

    expected = case.expected(desk)
    assert {key: getattr(stored, key) for key in expected} == expected
    columns = inspect(type(instance)).columns
    if "created_at" in columns:
        assert stored.created_at == clock.now()
    if "updated_at" in columns:
        assert stored.updated_at == clock.now()
    if "workspace_id" in columns:
        assert stored.workspace_id == desk.workspace.id


async def test_a_bare_ticket_gets_what_the_service_would_give_it(
    database: Database, desk: Desk, clock: FrozenClock
) -> None:
    stored = await read_back(database, desk.ticket)

    assert (stored.number, stored.status, stored.priority, stored.category) == (
        1,
        TicketStatus.open,
        Priority.medium,
        "general",
    )
    assert (stored.customer_email, stored.created_at, stored.updated_at) == (
        "carl@example.com",
        clock.now(),
        clock.now(),
    )
    # The built-in targets for medium priority, counted around the clock.
    assert stored.sla_policy_id is None
    assert (stored.first_response_due_at, stored.resolution_due_at) == (
        clock.now() + 24 * HOUR,
        clock.now() + 72 * HOUR,
    )
    assert (stored.first_response_at_risk_at, stored.resolution_at_risk_at) == (
        clock.now() + 18 * HOUR,
        clock.now() + 54 * HOUR,
    )


async def test_bare_and_service_tickets_draw_from_one_counter(
    bare: AsyncSession, database: Database, desk: Desk, clock: FrozenClock
) -> None:
    first = await ticket_flows.open_ticket(bare, clock, workspace_id=desk.workspace.id, title="By service")
    second = Ticket(workspace_id=desk.workspace.id, title="By hand")
    bare.add(second)
    await bare.flush()
    third = await ticket_flows.open_ticket(bare, clock, workspace_id=desk.workspace.id, title="Again")
    # A number chosen by hand moves the counter past it, so the service never hands it out again.
    chosen = Ticket(workspace_id=desk.workspace.id, title="Imported", number=40)
    bare.add(chosen)
    await bare.flush()
    after = await ticket_flows.open_ticket(bare, clock, workspace_id=desk.workspace.id, title="Next")
    await bare.commit()

    assert [first.number, second.number, third.number, chosen.number, after.number] == [2, 3, 4, 40, 41]
    assert (await read_back(database, desk.workspace)).ticket_counter == 41


async def test_tickets_added_together_are_numbered_in_the_order_they_were_added(
    bare: AsyncSession, desk: Desk
) -> None:
    tickets = [Ticket(workspace_id=desk.workspace.id, title=f"Batch {index}") for index in range(5)]
    bare.add_all(tickets)
    await bare.commit()

    assert [ticket.number for ticket in tickets] == [2, 3, 4, 5, 6]


async def test_what_the_caller_sets_is_kept(
    bare: AsyncSession, database: Database, desk: Desk, clock: FrozenClock
) -> None:
    earlier = clock.now() - 30 * 24 * HOUR
    ticket = Ticket(
        workspace_id=desk.workspace.id,
        title="Migrated from the old desk",
        number=7,
        status="assigned",
        assigned_agent_id=desk.agent.id,
        priority="low",
        category="billing",
        customer_id=desk.customer.id,
        customer_email="carl@old.example.com",
        created_at=earlier,
        first_response_due_at=None,
    )
    bare.add(ticket)
    await bare.commit()

    stored = await read_back(database, ticket)
    assert (stored.number, stored.status, stored.priority, stored.category, stored.customer_email) == (
        7,
        TicketStatus.assigned,
        Priority.low,
        "billing",
        "carl@old.example.com",
    )
    assert (stored.created_at, stored.updated_at) == (earlier, earlier)
    # Left unset, the resolution target is still filled, counted from the given creation time.
    assert (stored.first_response_due_at, stored.resolution_due_at) == (None, earlier + 168 * HOUR)


async def test_a_ticket_given_an_agent_starts_assigned(bare: AsyncSession, desk: Desk) -> None:
    ticket = Ticket(workspace_id=desk.workspace.id, title="For Ann", assigned_agent_id=desk.agent.id)
    bare.add(ticket)
    await bare.commit()

    assert ticket.status == TicketStatus.assigned


async def test_the_workspaces_sla_policy_sets_a_bare_tickets_due_times(
    bare: AsyncSession, desk: Desk, clock: FrozenClock
) -> None:
    policy = SlaPolicy(
        workspace_id=desk.workspace.id,
        name="Enterprise",
        tier="enterprise",
        first_response_minutes={"high": 30},
    )
    vip = Customer(workspace_id=desk.workspace.id, email="vip@example.com", tier="enterprise")
    bare.add_all([policy, vip])
    await bare.commit()
    ticket = Ticket(workspace_id=desk.workspace.id, title="Down", customer_id=vip.id, priority="high")
    bare.add(ticket)
    await bare.commit()

    assert ticket.sla_policy_id == policy.id
    assert (ticket.first_response_due_at, ticket.resolution_due_at) == (
        clock.now() + timedelta(minutes=30),
        clock.now() + 24 * HOUR,
    )


async def test_a_bare_tickets_policy_is_matched_by_the_category_its_own_filler_chose(
    bare: AsyncSession, desk: Desk, clock: FrozenClock
) -> None:
    """The SLA package fills a new ticket's due times after the ticket package has filled its own
    columns: the policy here applies only because the ticket got the workspace's default category."""
    desk.workspace.categories = ["hardware", "software"]
    policy = SlaPolicy(
        workspace_id=desk.workspace.id,
        name="Hardware",
        category="hardware",
        first_response_minutes={"medium": 90},
    )
    bare.add(policy)
    await bare.commit()
    ticket = Ticket(workspace_id=desk.workspace.id, title="Keyboard")
    bare.add(ticket)
    await bare.commit()

    assert (ticket.category, ticket.sla_policy_id) == ("hardware", policy.id)
    assert (ticket.first_response_due_at, ticket.resolution_due_at) == (
        clock.now() + timedelta(minutes=90),
        clock.now() + 72 * HOUR,
    )


async def test_a_bare_tickets_customer_is_read_once_for_its_address_and_its_tier(
    bare: AsyncSession, connection: AsyncConnection, desk: Desk, clock: FrozenClock
) -> None:
    policy = SlaPolicy(
        workspace_id=desk.workspace.id, name="Premium", tier="premium", first_response_minutes={"medium": 45}
    )
    premium = Customer(workspace_id=desk.workspace.id, email="pat@example.com", tier="premium")
    bare.add_all([policy, premium])
    await bare.commit()
    ticket = Ticket(workspace_id=desk.workspace.id, title="Invoice", customer_id=premium.id)
    bare.add(ticket)

    with statements_run(connection, full=True) as seen:
        await bare.flush()

    assert (ticket.customer_email, ticket.sla_policy_id) == ("pat@example.com", policy.id)
    assert ticket.first_response_due_at == clock.now() + timedelta(minutes=45)
    assert len([sql for sql in seen if sql.startswith("SELECT") and "FROM customer" in sql]) == 1


async def test_a_ticket_takes_the_workspaces_default_category(bare: AsyncSession, desk: Desk) -> None:
    desk.workspace.categories = ["hardware", "software"]
    await bare.commit()
    ticket = Ticket(workspace_id=desk.workspace.id, title="Keyboard")
    bare.add(ticket)
    await bare.commit()

    assert ticket.category == "hardware"


async def test_new_objects_linked_to_each_other_take_their_parents_workspace(
    bare: AsyncSession, database: Database, desk: Desk, clock: FrozenClock
) -> None:
    customer = Customer(workspace_id=desk.workspace.id, email="eve@example.com", tier="premium")
    ticket = Ticket(title="Through the relationship", customer=customer)
    ticket.tag_rows.append(TicketTag(name="vip"))
    comment = Comment(ticket=ticket, author_user_id=desk.agent.id, content="Hi")
    bare.add(comment)
    await bare.commit()

    stored = await read_back(database, ticket)
    assert (stored.workspace_id, stored.customer_email, stored.number) == (
        desk.workspace.id,
        "eve@example.com",
        2,
    )
    assert (await read_back(database, comment)).workspace_id == desk.workspace.id
    tag = (await bare.execute(select(TicketTag).where(TicketTag.ticket_id == ticket.id))).scalar_one()
    assert (tag.workspace_id, tag.name) == (desk.workspace.id, "vip")


async def test_a_scoped_session_gives_new_rows_its_workspace(bare: AsyncSession, desk: Desk) -> None:
    scope_to_workspace(bare.sync_session, desk.workspace.id)
    ticket = Ticket(title="Scoped")
    bare.add(ticket)
    await bare.commit()

    assert (ticket.workspace_id, ticket.number) == (desk.workspace.id, 2)


async def test_a_ticket_of_another_workspace_takes_no_number_from_it(
    bare: AsyncSession, connection: AsyncConnection, desk: Desk
) -> None:
    other = Workspace(slug="other-desk", name="Other Desk")
    bare.add(other)
    await bare.commit()
    scope_to_workspace(bare.sync_session, other.id)
    bare.add(Ticket(workspace_id=desk.workspace.id, title="Smuggled"))

    with statements_run(connection) as seen, pytest.raises(CrossWorkspaceWrite):
        await bare.flush()
    assert seen == []


async def test_a_change_through_a_plain_session_refreshes_updated_at(
    bare: AsyncSession, desk: Desk, clock: FrozenClock
) -> None:
    created = clock.now()
    clock.advance(HOUR)
    desk.ticket.title = "Printer still on fire"
    desk.customer.name = "Carla"
    desk.agent.skills = ["hardware"]
    await bare.commit()

    assert desk.ticket.updated_at == desk.customer.updated_at == desk.agent.updated_at == clock.now()
    assert desk.ticket.created_at == created


async def test_updated_at_set_by_the_caller_is_kept(
    bare: AsyncSession, desk: Desk, clock: FrozenClock
) -> None:
    chosen = clock.now() + 5 * HOUR
    clock.advance(HOUR)
    desk.ticket.title = "Renamed"
    desk.ticket.updated_at = chosen
    await bare.commit()

    assert desk.ticket.updated_at == chosen


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({}, id="nothing"),
        pytest.param({"title": "Printer on fire"}, id="same-value"),
        pytest.param({"first_response_due_at": datetime(2030, 1, 1, tzinfo=UTC)}, id="sla-bookkeeping"),
        pytest.param({"pending_reminded_at": datetime(2030, 1, 1, tzinfo=UTC)}, id="reminder-bookkeeping"),
    ],
)
async def test_updated_at_stays_when_nothing_a_person_sees_changed(
    bare: AsyncSession, desk: Desk, clock: FrozenClock, change: dict[str, Any]
) -> None:
    before = desk.ticket.updated_at
    clock.advance(HOUR)
    for key, value in change.items():
        setattr(desk.ticket, key, value)
    await bare.commit()

    assert desk.ticket.updated_at == before


async def test_without_a_clock_on_the_session_the_system_clock_stamps(
    session: AsyncSession, desk: Desk
) -> None:
    session.info.clear()
    before = datetime.now(UTC)
    customer = Customer(workspace_id=desk.workspace.id, email="fay@example.com")
    session.add(customer)
    await session.commit()

    assert before <= customer.created_at <= datetime.now(UTC)
    assert customer.updated_at == customer.created_at


async def test_string_values_of_enum_fields_are_stored_and_read_as_members(
    bare: AsyncSession, database: Database, desk: Desk
) -> None:
    ticket = Ticket(workspace_id=desk.workspace.id, title="Urgent", status="open", priority="critical")
    assert ticket.status is TicketStatus.open
    assert ticket.is_urgent()
    bare.add(ticket)
    await bare.commit()

    stored = await read_back(database, ticket)
    assert (stored.status, stored.priority) == (TicketStatus.open, Priority.critical)
    assert stored.is_urgent()


async def test_objects_that_have_their_values_cost_the_flush_no_statement(
    bare: AsyncSession, connection: AsyncConnection, desk: Desk, clock: FrozenClock
) -> None:
    """What services add carries every value, so the hook reads and writes nothing for it."""
    comment = Comment(
        workspace_id=desk.workspace.id,
        ticket_id=desk.ticket.id,
        author_user_id=desk.agent.id,
        author_email=desk.agent.email,
        content="Looking into it.",
        created_at=clock.now(),
    )
    desk.ticket.first_responded_at = clock.now()
    desk.ticket.updated_at = clock.now()
    bare.add(comment)
    await bare.connection()  # the session's transaction (a savepoint here) begins outside the count

    with statements_run(connection) as seen:
        await bare.flush()

    # The comment, the ticket's change, and their audit events.
    assert set(seen) <= {"INSERT", "UPDATE"}
    assert seen.count("UPDATE") == 1
