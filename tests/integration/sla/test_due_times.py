"""Changing policies and calendars re-times every ticket still in play, in the same request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from supportdesk.core.clock import FrozenClock
from supportdesk.people.models import Tier
from supportdesk.tickets.models import TicketStatus
from tests.factories.people import CustomerFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.clock import FROZEN_AT
from tests.integration.sla.helpers import OFFICE_HOURS, CalendarFactory, PolicyFactory, ReadTicket

POLICIES = "/api/v1/sla/policies"
CALENDARS = "/api/v1/sla/calendars"
# The built-in targets of a medium ticket.
MEDIUM_FIRST_RESPONSE = timedelta(hours=24)
MEDIUM_RESOLUTION = timedelta(hours=72)


async def open_ticket(client: ApiClient, **fields: Any) -> int:
    response = await client.post("/api/v1/tickets", json={"title": "Invoice is wrong", **fields})
    assert response.status_code == 201, response.text
    ticket_id: int = response.json()["id"]
    return ticket_id


async def add_policy(client: ApiClient, **fields: Any) -> dict[str, Any]:
    response = await client.post(POLICIES, json={"name": "Billing", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class TestPolicyChanges:
    async def test_a_new_policy_re_times_an_open_ticket(
        self, admin_client: ApiClient, read_ticket: ReadTicket, clock: FrozenClock
    ) -> None:
        ticket_id = await open_ticket(admin_client, category="billing")
        before = await read_ticket(ticket_id)
        assert before.first_response_due_at == FROZEN_AT + MEDIUM_FIRST_RESPONSE
        clock.advance(timedelta(minutes=10))  # due times still count from the ticket's creation
        policy = await add_policy(admin_client, category="billing", first_response_minutes={"medium": 30})
        after = await read_ticket(ticket_id)
        assert after.created_at == FROZEN_AT
        assert after.first_response_due_at == FROZEN_AT + timedelta(minutes=30)
        assert after.resolution_due_at == FROZEN_AT + MEDIUM_RESOLUTION  # no override: the default
        assert after.sla_policy_id == policy["id"]

    async def test_editing_the_policy_moves_the_due_time_again(
        self, admin_client: ApiClient, read_ticket: ReadTicket
    ) -> None:
        ticket_id = await open_ticket(admin_client, category="billing")
        policy = await add_policy(admin_client, category="billing", first_response_minutes={"medium": 30})
        response = await admin_client.patch(
            f"{POLICIES}/{policy['id']}",
            json={"first_response_minutes": {"medium": 90}, "resolution_minutes": {"medium": 600}},
        )
        assert response.status_code == 200
        ticket = await read_ticket(ticket_id)
        assert ticket.first_response_due_at == FROZEN_AT + timedelta(minutes=90)
        assert ticket.resolution_due_at == FROZEN_AT + timedelta(minutes=600)

    async def test_deleting_the_policy_falls_back_to_the_defaults(
        self, admin_client: ApiClient, read_ticket: ReadTicket
    ) -> None:
        ticket_id = await open_ticket(admin_client, category="billing")
        policy = await add_policy(admin_client, category="billing", first_response_minutes={"medium": 30})
        assert (await admin_client.delete(f"{POLICIES}/{policy['id']}")).status_code == 204
        ticket = await read_ticket(ticket_id)
        assert ticket.first_response_due_at == FROZEN_AT + MEDIUM_FIRST_RESPONSE
        assert ticket.sla_policy_id is None

    async def test_deleting_a_narrow_policy_falls_back_to_the_broader_one(
        self, admin_client: ApiClient, read_ticket: ReadTicket
    ) -> None:
        ticket_id = await open_ticket(admin_client, category="billing")
        broad = await add_policy(admin_client, name="All", first_response_minutes={"medium": 120})
        narrow = await add_policy(admin_client, category="billing", first_response_minutes={"medium": 30})
        assert (await read_ticket(ticket_id)).sla_policy_id == narrow["id"]
        await admin_client.delete(f"{POLICIES}/{narrow['id']}")
        ticket = await read_ticket(ticket_id)
        assert ticket.sla_policy_id == broad["id"]
        assert ticket.first_response_due_at == FROZEN_AT + timedelta(minutes=120)

    async def test_moving_a_policy_to_another_category_releases_the_ticket(
        self, admin_client: ApiClient, read_ticket: ReadTicket
    ) -> None:
        ticket_id = await open_ticket(admin_client, category="billing")
        policy = await add_policy(admin_client, category="billing", first_response_minutes={"medium": 30})
        await admin_client.patch(f"{POLICIES}/{policy['id']}", json={"category": "technical"})
        ticket = await read_ticket(ticket_id)
        assert ticket.sla_policy_id is None
        assert ticket.first_response_due_at == FROZEN_AT + MEDIUM_FIRST_RESPONSE

    async def test_a_ticket_opened_after_the_change_uses_the_new_policy(
        self, admin_client: ApiClient, agent_client: ApiClient, read_ticket: ReadTicket, clock: FrozenClock
    ) -> None:
        # The ticket before the change makes every process cache the old setup first.
        await open_ticket(agent_client, category="billing")
        await add_policy(admin_client, category="billing", first_response_minutes={"medium": 45})
        clock.advance(timedelta(hours=1))
        ticket = await read_ticket(await open_ticket(agent_client, category="billing"))
        assert ticket.first_response_due_at == FROZEN_AT + timedelta(hours=1, minutes=45)

    async def test_a_tier_policy_outranks_a_category_policy(
        self, admin_client: ApiClient, read_ticket: ReadTicket, customer_factory: CustomerFactory
    ) -> None:
        vip = await customer_factory(tier=Tier.enterprise)
        vip_ticket = await open_ticket(admin_client, category="billing", customer_email=vip.email)
        other_ticket = await open_ticket(admin_client, category="billing", customer_email="jo@example.com")
        await add_policy(admin_client, category="billing", first_response_minutes={"medium": 60})
        await add_policy(
            admin_client, name="Enterprise", tier="enterprise", first_response_minutes={"medium": 15}
        )
        assert (await read_ticket(vip_ticket)).first_response_due_at == FROZEN_AT + timedelta(minutes=15)
        assert (await read_ticket(other_ticket)).first_response_due_at == FROZEN_AT + timedelta(minutes=60)

    async def test_closed_tickets_keep_their_due_times(
        self,
        admin_client: ApiClient,
        read_ticket: ReadTicket,
        ticket_factory: TicketFactory,
    ) -> None:
        closed = await ticket_factory(category="billing", status=TicketStatus.closed)
        await add_policy(admin_client, category="billing", first_response_minutes={"medium": 30})
        ticket = await read_ticket(closed.id)
        assert ticket.first_response_due_at == FROZEN_AT + MEDIUM_FIRST_RESPONSE
        assert ticket.sla_policy_id is None

    async def test_another_workspaces_tickets_are_left_alone(
        self,
        admin_client: ApiClient,
        other_admin_client: ApiClient,
        read_ticket: ReadTicket,
    ) -> None:
        theirs = await open_ticket(other_admin_client, category="billing")
        await add_policy(admin_client, first_response_minutes={"medium": 30})
        ticket = await read_ticket(theirs)
        assert ticket.first_response_due_at == FROZEN_AT + MEDIUM_FIRST_RESPONSE
        assert ticket.sla_policy_id is None


class TestBusinessHours:
    async def test_a_ticket_before_opening_is_due_after_the_next_opening(
        self, admin_client: ApiClient, read_ticket: ReadTicket
    ) -> None:
        calendar = await admin_client.post(
            CALENDARS,
            json={
                "name": "New York office",
                "timezone": "America/New_York",
                "weekly_hours": {
                    day: [{"start": "09:00", "end": "17:00"}]
                    for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
                },
            },
        )
        assert calendar.status_code == 201, calendar.text
        # 09:00 UTC on Monday is 04:00 in New York, before the desk opens at 09:00 EST (14:00 UTC).
        ticket_id = await open_ticket(admin_client, category="billing")
        await add_policy(
            admin_client,
            category="billing",
            calendar_id=calendar.json()["id"],
            first_response_minutes={"medium": 30},
        )
        ticket = await read_ticket(ticket_id)
        assert ticket.first_response_due_at == datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
        # 72 open hours are nine working days; the clocks go forward on Sunday the 8th, so the desk
        # closes at 17:00 EDT (21:00 UTC) on Thursday the 12th.
        assert ticket.resolution_due_at == datetime(2026, 3, 12, 21, 0, tzinfo=UTC)

    async def test_editing_the_calendar_re_times_its_tickets(
        self,
        admin_client: ApiClient,
        read_ticket: ReadTicket,
        calendar_factory: CalendarFactory,
        policy_factory: PolicyFactory,
    ) -> None:
        calendar = await calendar_factory(timezone="America/New_York", weekly_hours=OFFICE_HOURS)
        await policy_factory(category="billing", calendar=calendar, first_response_minutes={"medium": 30})
        ticket_id = await open_ticket(admin_client, category="billing")
        assert (await read_ticket(ticket_id)).first_response_due_at == datetime(
            2026, 3, 2, 14, 30, tzinfo=UTC
        )
        url = f"{CALENDARS}/{calendar.id}"
        # Monday becomes a holiday: the first response is due half an hour into Tuesday.
        assert (await admin_client.patch(url, json={"custom_holidays": ["2026-03-02"]})).status_code == 200
        assert (await read_ticket(ticket_id)).first_response_due_at == datetime(
            2026, 3, 3, 14, 30, tzinfo=UTC
        )
        # Without the holiday and in London (GMT in March), the desk is open when the ticket comes in.
        await admin_client.patch(url, json={"timezone": "Europe/London", "custom_holidays": []})
        assert (await read_ticket(ticket_id)).first_response_due_at == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

    async def test_dropping_the_calendar_counts_around_the_clock_again(
        self,
        admin_client: ApiClient,
        read_ticket: ReadTicket,
        calendar_factory: CalendarFactory,
        policy_factory: PolicyFactory,
    ) -> None:
        calendar = await calendar_factory(timezone="America/New_York")
        policy = await policy_factory(
            category="billing", calendar=calendar, first_response_minutes={"medium": 30}
        )
        ticket_id = await open_ticket(admin_client, category="billing")
        await admin_client.patch(f"{POLICIES}/{policy.id}", json={"calendar_id": None})
        assert (await read_ticket(ticket_id)).first_response_due_at == FROZEN_AT + timedelta(minutes=30)
