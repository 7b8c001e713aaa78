"""Triggers run on ticket events: they change the ticket through the ticket service, notify people,
skip what the ticket refuses without failing the request, and never set each other off."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.models import ActorType, AuditAction
from supportdesk.automation import engine as automation_engine
from supportdesk.automation.models import TriggerEvent
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.notifications.models import NotificationKind
from supportdesk.people.models import Availability, Tier, User
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Priority, Ticket, TicketStatus
from supportdesk.workspaces.models import Workspace
from tests.factories.automation import TriggerFactory
from tests.factories.people import CustomerFactory, UserFactory
from tests.factories.tickets import CommentFactory, TicketFactory
from tests.integration.automation.conftest import Fire, Reload

E = TriggerEvent


@pytest.fixture
async def admin(user_factory: UserFactory) -> User:
    return await user_factory(role=Role.admin)


async def test_a_refund_request_is_routed_to_billing_and_seniors_are_told(
    trigger_factory: TriggerFactory,
    ticket_factory: TicketFactory,
    user_factory: UserFactory,
    agent: User,
    fire: Fire,
    reload: Reload,
) -> None:
    seniors = [await user_factory(role=Role.senior_agent) for _ in range(2)]
    await user_factory(role=Role.senior_agent, is_active=False)
    trigger = await trigger_factory(
        name="Refunds to billing",
        event=E.created,
        conditions=[{"field": "title", "operator": "contains", "value": "refund"}],
        actions=[
            {"type": "set_category", "value": "billing"},
            {"type": "add_tags", "tags": ["refund"]},
            {"type": "notify", "roles": ["senior_agent"], "message": "A refund request came in"},
        ],
    )
    ticket = await ticket_factory(title="REFUND for order 1234", tags=["web"])

    assert await fire(ticket, E.created, actor=agent) == [trigger.id]

    state = await reload(ticket)
    assert state.ticket.category == "billing"
    assert state.ticket.tags == ["refund", "web"]
    assert sorted(note.user_id for note in state.notifications) == sorted(senior.id for senior in seniors)
    assert {(note.kind, note.message) for note in state.notifications} == {
        (NotificationKind.trigger, "A refund request came in")
    }


async def test_a_ticket_that_does_not_match_is_left_alone(
    trigger_factory: TriggerFactory, ticket_factory: TicketFactory, agent: User, fire: Fire, reload: Reload
) -> None:
    await trigger_factory(
        conditions=[{"field": "title", "operator": "contains", "value": "refund"}],
        actions=[{"type": "set_category", "value": "billing"}],
    )
    ticket = await ticket_factory(title="Cannot log in", category="authentication")
    assert await fire(ticket, E.created, actor=agent) == []
    state = await reload(ticket)
    assert state.ticket.category == "authentication"
    assert state.ticket.version == ticket.version


@pytest.mark.parametrize(
    ("tier", "priority"),
    [
        pytest.param(Tier.enterprise, Priority.high, id="enterprise-customer-raised"),
        pytest.param(Tier.premium, Priority.low, id="premium-customer-unchanged"),
        pytest.param(None, Priority.low, id="no-customer-unchanged"),
    ],
)
async def test_a_comment_on_an_enterprise_customers_ticket_raises_its_priority(
    trigger_factory: TriggerFactory,
    ticket_factory: TicketFactory,
    customer_factory: CustomerFactory,
    comment_factory: CommentFactory,
    agent: User,
    fire: Fire,
    reload: Reload,
    tier: Tier | None,
    priority: Priority,
) -> None:
    await trigger_factory(
        event=E.commented,
        conditions=[{"field": "tier", "operator": "is", "value": "enterprise"}],
        actions=[{"type": "set_priority", "value": "high"}],
    )
    customer = await customer_factory(tier=tier) if tier is not None else None
    ticket = await ticket_factory(priority=Priority.low, customer=customer)
    comment = await comment_factory(ticket, author=agent, content="Looking into it")
    await fire(ticket, E.commented, actor=agent, comment=comment)
    assert (await reload(ticket)).ticket.priority is priority


async def test_a_comment_condition_reads_the_comment_of_the_event(
    trigger_factory: TriggerFactory,
    ticket_factory: TicketFactory,
    customer_factory: CustomerFactory,
    comment_factory: CommentFactory,
    agent: User,
    fire: Fire,
    reload: Reload,
) -> None:
    trigger = await trigger_factory(
        event=E.commented,
        conditions=[{"field": "comment", "operator": "contains", "value": "cancel"}],
        actions=[{"type": "add_tags", "tags": ["churn-risk"]}],
    )
    ticket = await ticket_factory(customer=await customer_factory(), title="Cancel button missing")
    polite = await comment_factory(ticket, author=agent, as_customer=True, content="Thanks!")
    assert await fire(ticket, E.commented, actor=agent, comment=polite) == []
    leaving = await comment_factory(ticket, author=agent, as_customer=True, content="I want to CANCEL")
    assert await fire(ticket, E.commented, actor=agent, comment=leaving) == [trigger.id]
    assert (await reload(ticket)).ticket.tags == ["churn-risk"]


async def test_any_conditions_need_one_to_hold(
    trigger_factory: TriggerFactory, ticket_factory: TicketFactory, agent: User, fire: Fire
) -> None:
    trigger = await trigger_factory(
        conditions=[{"field": "priority", "operator": "in", "value": ["high", "critical"]}],
        any_conditions=[
            {"field": "tags", "operator": "includes", "value": "vip"},
            {"field": "text", "operator": "contains", "value": "outage"},
        ],
    )
    outage = await ticket_factory(priority=Priority.high, description="Full outage since 9:00")
    vip = await ticket_factory(priority=Priority.critical, tags=["vip"])
    neither = await ticket_factory(priority=Priority.high, tags=["beta"])
    low = await ticket_factory(priority=Priority.low, tags=["vip"])
    assert await fire(outage, E.created, actor=agent) == [trigger.id]
    assert await fire(vip, E.created, actor=agent) == [trigger.id]
    assert await fire(neither, E.created, actor=agent) == []
    assert await fire(low, E.created, actor=agent) == []


async def test_only_active_triggers_of_the_event_run(
    trigger_factory: TriggerFactory, ticket_factory: TicketFactory, agent: User, fire: Fire, reload: Reload
) -> None:
    await trigger_factory(event=E.created, is_active=False, actions=[{"type": "add_tags", "tags": ["off"]}])
    await trigger_factory(event=E.commented, actions=[{"type": "add_tags", "tags": ["commented"]}])
    on_update = await trigger_factory(event=E.updated, actions=[{"type": "add_tags", "tags": ["updated"]}])
    ticket = await ticket_factory()
    assert await fire(ticket, E.created, actor=agent) == []
    assert (await reload(ticket)).ticket.tags == []
    assert await fire(ticket, E.updated, actor=agent) == [on_update.id]
    assert (await reload(ticket)).ticket.tags == ["updated"]


async def test_another_workspaces_triggers_never_run(
    trigger_factory: TriggerFactory,
    ticket_factory: TicketFactory,
    other_workspace: Workspace,
    agent: User,
    fire: Fire,
) -> None:
    await trigger_factory(workspace=other_workspace)
    assert await fire(await ticket_factory(), E.created, actor=agent) == []


async def test_triggers_run_in_position_order_then_by_id(
    trigger_factory: TriggerFactory, ticket_factory: TicketFactory, agent: User, fire: Fire, reload: Reload
) -> None:
    last = await trigger_factory(position=5, actions=[{"type": "set_priority", "value": "critical"}])
    first = await trigger_factory(position=1, actions=[{"type": "set_priority", "value": "low"}])
    second = await trigger_factory(position=1, actions=[{"type": "set_priority", "value": "high"}])
    ticket = await ticket_factory()
    assert await fire(ticket, E.created, actor=agent) == [first.id, second.id, last.id]
    assert (await reload(ticket)).ticket.priority is Priority.critical


async def test_a_trigger_sees_what_the_triggers_before_it_changed(
    trigger_factory: TriggerFactory, ticket_factory: TicketFactory, agent: User, fire: Fire, reload: Reload
) -> None:
    tagger = await trigger_factory(position=1, actions=[{"type": "add_tags", "tags": ["vip"]}])
    follower = await trigger_factory(
        position=2,
        conditions=[{"field": "tags", "operator": "includes", "value": "vip"}],
        actions=[{"type": "set_priority", "value": "high"}],
    )
    ticket = await ticket_factory(priority=Priority.low)
    assert await fire(ticket, E.created, actor=agent) == [tagger.id, follower.id]
    assert (await reload(ticket)).ticket.priority is Priority.high


async def test_triggers_that_undo_each_other_run_once_each(
    trigger_factory: TriggerFactory,
    ticket_factory: TicketFactory,
    agent: User,
    fire: Fire,
    reload: Reload,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raise_it = await trigger_factory(
        event=E.updated,
        position=1,
        conditions=[{"field": "priority", "operator": "is", "value": "low"}],
        actions=[{"type": "set_priority", "value": "high"}],
    )
    lower_it = await trigger_factory(
        event=E.updated,
        position=2,
        conditions=[{"field": "priority", "operator": "is", "value": "high"}],
        actions=[{"type": "set_priority", "value": "low"}],
    )
    # As if every ticket update ran the `updated` triggers (as the API's updates do): the updates the
    # triggers make themselves must not start another round, or these two would flip the ticket forever.
    update_ticket = ticket_service.update_ticket
    rounds: list[list[int]] = []

    async def update_and_run_triggers(
        session: AsyncSession, clock: FrozenClock, ticket: Ticket, changes: dict[str, Any], **kwargs: Any
    ) -> Ticket:
        updated = await update_ticket(session, clock, ticket, changes, **kwargs)
        rounds.append(
            await automation_engine.run_triggers(session, clock, updated, E.updated, actor=kwargs["actor"])
        )
        return updated

    monkeypatch.setattr(ticket_service, "update_ticket", update_and_run_triggers)
    ticket = await ticket_factory(priority=Priority.low)

    assert await fire(ticket, E.updated, actor=agent) == [raise_it.id, lower_it.id]

    assert rounds == [[], []]
    state = await reload(ticket)
    assert state.ticket.priority is Priority.low
    changes = [event.changes["priority"] for event in state.audit if event.action is AuditAction.updated]
    assert changes == [["low", "high"], ["high", "low"]]


async def test_a_refused_action_is_skipped_and_the_others_apply(
    trigger_factory: TriggerFactory,
    ticket_factory: TicketFactory,
    agent: User,
    fire: Fire,
    reload: Reload,
    caplog: pytest.LogCaptureFixture,
) -> None:
    trigger = await trigger_factory(
        name="Park it",
        actions=[
            {"type": "set_priority", "value": "high"},
            {"type": "set_status", "value": "in_progress"},  # nobody can work an unassigned ticket
            {"type": "set_status", "value": "closed"},  # nor can an open ticket be closed
            {"type": "add_tags", "tags": ["parked"]},
        ],
    )
    ticket = await ticket_factory(priority=Priority.low)

    with caplog.at_level(logging.WARNING, logger="supportdesk.automation"):
        assert await fire(ticket, E.created, actor=agent) == [trigger.id]

    state = await reload(ticket)
    assert state.ticket.status is TicketStatus.open
    assert state.ticket.priority is Priority.high
    assert state.ticket.tags == ["parked"]
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "Park it" in warnings[0]
    assert "Assign the ticket before moving it to in_progress" in warnings[0]
    assert "invalid-transition" in warnings[1]


async def test_a_refused_action_leaves_the_ticket_usable_for_the_request(
    database: Database,
    clock: FrozenClock,
    trigger_factory: TriggerFactory,
    ticket_factory: TicketFactory,
    agent: User,
    reload: Reload,
) -> None:
    await trigger_factory(
        event=E.updated,
        actions=[{"type": "set_status", "value": "closed"}, {"type": "add_tags", "tags": ["seen"]}],
    )
    ticket = await ticket_factory()
    async with database.unit_of_work() as session:
        fresh = await ticket_service.get_ticket(session, ticket.id)
        await ticket_service.update_ticket(session, clock, fresh, {"title": "Renamed"}, actor=agent)
        await automation_engine.run_triggers(session, clock, fresh, E.updated, actor=agent)
        # The request goes on with the same ticket and session after the trigger's refused action.
        await ticket_service.update_ticket(
            session, clock, fresh, {"priority": Priority.critical}, actor=agent
        )
    state = await reload(ticket)
    assert (state.ticket.title, state.ticket.priority, state.ticket.tags) == (
        "Renamed",
        Priority.critical,
        ["seen"],
    )


async def test_assigning_to_an_agent(
    trigger_factory: TriggerFactory, ticket_factory: TicketFactory, agent: User, fire: Fire, reload: Reload
) -> None:
    await trigger_factory(actions=[{"type": "assign", "agent_id": agent.id}])
    ticket = await ticket_factory()
    await fire(ticket, E.created, actor=agent)
    state = await reload(ticket)
    assert (state.ticket.assigned_agent_id, state.ticket.status) == (agent.id, TicketStatus.assigned)


async def test_an_agent_deactivated_since_is_not_assigned(
    database: Database,
    trigger_factory: TriggerFactory,
    ticket_factory: TicketFactory,
    user_factory: UserFactory,
    agent: User,
    fire: Fire,
    reload: Reload,
) -> None:
    leaver = await user_factory(role=Role.agent)
    await trigger_factory(
        actions=[{"type": "assign", "agent_id": leaver.id}, {"type": "add_tags", "tags": ["x"]}]
    )
    async with database.unit_of_work() as session:
        (await session.get(User, leaver.id) or pytest.fail("no user")).is_active = False
    ticket = await ticket_factory()
    await fire(ticket, E.created, actor=agent)
    state = await reload(ticket)
    assert (state.ticket.assigned_agent_id, state.ticket.tags) == (None, ["x"])


async def test_automatic_assignment_gives_the_ticket_to_an_available_agent(
    trigger_factory: TriggerFactory,
    ticket_factory: TicketFactory,
    user_factory: UserFactory,
    admin: User,
    fire: Fire,
    reload: Reload,
) -> None:
    await user_factory(role=Role.agent, availability=Availability.away)
    available = await user_factory(role=Role.agent)
    await trigger_factory(
        conditions=[{"field": "priority", "operator": "is", "value": "critical"}],
        actions=[{"type": "assign", "strategy": "auto"}],
    )
    ticket = await ticket_factory(priority=Priority.critical)
    await fire(ticket, E.created, actor=admin)
    state = await reload(ticket)
    assert (state.ticket.assigned_agent_id, state.ticket.status) == (available.id, TicketStatus.assigned)


async def test_automatic_assignment_leaves_an_assigned_ticket_with_its_agent(
    trigger_factory: TriggerFactory,
    ticket_factory: TicketFactory,
    user_factory: UserFactory,
    agent: User,
    fire: Fire,
    reload: Reload,
) -> None:
    await user_factory(role=Role.agent)
    await trigger_factory(event=E.updated, actions=[{"type": "assign", "strategy": "auto"}])
    ticket = await ticket_factory(assignee=agent)
    await fire(ticket, E.updated, actor=agent)
    assert (await reload(ticket)).ticket.assigned_agent_id == agent.id


async def test_a_note_is_an_internal_comment_by_the_acting_user(
    trigger_factory: TriggerFactory, ticket_factory: TicketFactory, agent: User, fire: Fire, reload: Reload
) -> None:
    await trigger_factory(actions=[{"type": "add_note", "content": "Check the contract before replying."}])
    ticket = await ticket_factory()
    await fire(ticket, E.created, actor=agent)
    state = await reload(ticket)
    (note,) = state.comments
    assert (note.content, note.is_public, note.author_user_id) == (
        "Check the contract before replying.",
        False,
        agent.id,
    )
    assert state.ticket.first_responded_at is None  # a note is not an answer to the customer


async def test_notify_reaches_the_assignee_and_named_people_once_each(
    trigger_factory: TriggerFactory,
    ticket_factory: TicketFactory,
    user_factory: UserFactory,
    agent: User,
    fire: Fire,
    reload: Reload,
) -> None:
    senior = await user_factory(role=Role.senior_agent)
    viewer = await user_factory(role=Role.viewer)
    trigger = await trigger_factory(
        name="Critical alert",
        event=E.updated,
        conditions=[{"field": "priority", "operator": "is", "value": "critical"}],
        actions=[
            {
                "type": "notify",
                "assignee": True,
                "roles": ["senior_agent"],
                "user_ids": [senior.id, viewer.id, agent.id],
            }
        ],
    )
    ticket = await ticket_factory(assignee=agent, priority=Priority.critical, title="Site down")
    assert await fire(ticket, E.updated, actor=agent) == [trigger.id]
    notes = (await reload(ticket)).notifications
    assert sorted(note.user_id for note in notes) == sorted([agent.id, senior.id, viewer.id])
    assert all(
        note.message == f'Trigger "Critical alert": ticket #{ticket.number} "Site down"' for note in notes
    )
    assert {note.priority for note in notes} == {"critical"}


async def test_notifying_the_assignee_of_an_unassigned_ticket_notifies_nobody(
    trigger_factory: TriggerFactory, ticket_factory: TicketFactory, agent: User, fire: Fire, reload: Reload
) -> None:
    trigger = await trigger_factory(actions=[{"type": "notify", "assignee": True}])
    ticket = await ticket_factory()
    assert await fire(ticket, E.created, actor=agent) == [trigger.id]
    assert (await reload(ticket)).notifications == []


async def test_the_audit_trail_shows_the_automation_not_the_user(
    trigger_factory: TriggerFactory, ticket_factory: TicketFactory, agent: User, fire: Fire, reload: Reload
) -> None:
    await trigger_factory(actions=[{"type": "set_priority", "value": "critical"}])
    ticket = await ticket_factory()
    await fire(ticket, E.created, actor=agent)
    last = (await reload(ticket)).audit[-1]
    assert last.changes["priority"] == ["medium", "critical"]
    assert (last.actor_type, last.actor_id) == (ActorType.system, None)
