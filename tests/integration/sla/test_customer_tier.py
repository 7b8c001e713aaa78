"""A customer's tier picks the SLA policy of their tickets: when it changes (an agent's edit here, the
CRM's answer in tests/integration/crm), the tickets neither resolved nor closed are re-timed in the same
unit of work, their pauses and first responses kept; resolved and closed tickets keep the targets they
were settled under, and other customers' tickets are left alone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.people.models import Customer, Tier
from supportdesk.tickets.models import Priority, Ticket, TicketStatus
from tests.factories.people import CustomerFactory, UserFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.clock import FROZEN_AT
from tests.fixtures.statements import statements_run
from tests.integration.sla.helpers import PolicyFactory, ReadTicket

T0 = FROZEN_AT
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
# The built-in targets of a medium ticket.
DEFAULT_DUE = (T0 + 24 * HOUR, T0 + 72 * HOUR)


def due_of(ticket: Ticket) -> tuple[datetime | None, datetime | None]:
    return ticket.first_response_due_at, ticket.resolution_due_at


async def change(client: ApiClient, path: str, **fields: Any) -> dict[str, Any]:
    response = await client.patch(path, json=fields)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_tier_change_re_times_the_customers_tickets_still_in_play(
    admin_client: ApiClient,
    customer_factory: CustomerFactory,
    user_factory: UserFactory,
    ticket_factory: TicketFactory,
    policy_factory: PolicyFactory,
    read_ticket: ReadTicket,
    clock: FrozenClock,
) -> None:
    enterprise = await policy_factory(
        tier=Tier.enterprise, first_response_minutes={"medium": 30}, resolution_minutes={"medium": 240}
    )
    agent = await user_factory(role=Role.agent)
    customer = await customer_factory(tier=Tier.basic)
    someone_else = await customer_factory(tier=Tier.basic)
    waiting_for_us = await ticket_factory(customer=customer)
    answered = await ticket_factory(customer=customer, assignee=agent)
    waiting_on_them = await ticket_factory(customer=customer, assignee=agent)
    resolved = await ticket_factory(customer=customer, status=TicketStatus.resolved)
    closed = await ticket_factory(customer=customer, status=TicketStatus.closed)
    not_theirs = await ticket_factory(customer=someone_else)
    clock.advance(10 * MINUTE)
    await change(admin_client, f"/api/v1/tickets/{answered.id}", status="in_progress")  # first response
    clock.advance(50 * MINUTE)
    await change(admin_client, f"/api/v1/tickets/{waiting_on_them.id}", status="pending")  # paused
    clock.advance(HOUR)

    await change(admin_client, f"/api/v1/customers/{customer.id}", tier="enterprise")

    for ticket in (waiting_for_us, answered, waiting_on_them):
        retimed = await read_ticket(ticket.id)
        assert retimed.sla_policy_id == enterprise.id
        # Counted from creation, as every due time is; nothing was paused before the change.
        assert due_of(retimed) == (T0 + 30 * MINUTE, T0 + 4 * HOUR)
    kept_response = await read_ticket(answered.id)
    assert kept_response.first_responded_at == T0 + 10 * MINUTE
    kept_pause = await read_ticket(waiting_on_them.id)
    assert (kept_pause.sla_paused_at, kept_pause.sla_paused_seconds) == (T0 + HOUR, 0)
    # As agents see them: the first response was made within the new target, and the wait goes on.
    shown = (await admin_client.get(f"/api/v1/tickets/{answered.id}")).json()["sla"]
    assert shown["first_response"]["state"] == "met"
    shown = (await admin_client.get(f"/api/v1/tickets/{waiting_on_them.id}")).json()["sla"]
    assert shown["resolution"]["state"] == "paused"
    for ticket in (resolved, closed, not_theirs):
        untouched = await read_ticket(ticket.id)
        assert (untouched.sla_policy_id, due_of(untouched)) == (None, DEFAULT_DUE)


async def test_a_ticket_reopened_after_the_change_is_timed_by_the_new_tier(
    admin_client: ApiClient,
    customer_factory: CustomerFactory,
    ticket_factory: TicketFactory,
    policy_factory: PolicyFactory,
    read_ticket: ReadTicket,
) -> None:
    enterprise = await policy_factory(tier=Tier.enterprise, first_response_minutes={"medium": 30})
    customer = await customer_factory(tier=Tier.basic)
    resolved = await ticket_factory(customer=customer, status=TicketStatus.resolved)

    await change(admin_client, f"/api/v1/customers/{customer.id}", tier="enterprise")
    assert (await read_ticket(resolved.id)).sla_policy_id is None
    await change(admin_client, f"/api/v1/tickets/{resolved.id}", status="open")

    reopened = await read_ticket(resolved.id)
    assert (reopened.sla_policy_id, reopened.first_response_due_at) == (enterprise.id, T0 + 30 * MINUTE)


async def test_a_tier_and_a_ticket_changed_in_one_flush_take_the_new_tier(
    session: AsyncSession,
    clock: FrozenClock,
    customer_factory: CustomerFactory,
    ticket_factory: TicketFactory,
    policy_factory: PolicyFactory,
    read_ticket: ReadTicket,
) -> None:
    """Whichever of the two hooks the flush runs first, the ticket's own change is timed with the tier
    written in the same flush, not the one still stored."""
    enterprise = await policy_factory(tier=Tier.enterprise, first_response_minutes={"high": 15})
    customer = await customer_factory(tier=Tier.basic)
    ticket = await ticket_factory(customer=customer)
    act_as(session.sync_session, SYSTEM, clock)
    changed_customer = await session.get_one(Customer, customer.id)
    changed_ticket = await session.get_one(Ticket, ticket.id)

    changed_ticket.priority = Priority.high
    changed_customer.tier = Tier.enterprise
    await session.commit()

    stored = await read_ticket(ticket.id)
    assert (stored.sla_policy_id, stored.first_response_due_at) == (enterprise.id, T0 + 15 * MINUTE)


async def test_without_a_policy_scoped_by_tier_a_tier_change_reads_no_ticket(
    session: AsyncSession,
    connection: AsyncConnection,
    clock: FrozenClock,
    customer_factory: CustomerFactory,
    ticket_factory: TicketFactory,
    policy_factory: PolicyFactory,
    read_ticket: ReadTicket,
) -> None:
    await policy_factory(category="billing", first_response_minutes={"medium": 30})
    customer = await customer_factory(tier=Tier.basic)
    ticket = await ticket_factory(customer=customer)
    act_as(session.sync_session, SYSTEM, clock)
    changed = await session.get_one(Customer, customer.id)
    changed.tier = Tier.enterprise

    with statements_run(connection, full=True) as seen:
        await session.flush()

    assert not [statement for statement in seen if "FROM ticket" in statement]
    await session.commit()
    assert due_of(await read_ticket(ticket.id)) == DEFAULT_DUE
