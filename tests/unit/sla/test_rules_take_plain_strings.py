"""SLA rules answer the same for an enum member and for its plain string value, which is what a model
holds when it was given one."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from supportdesk.people.models import Tier
from supportdesk.sla.calendar import CALENDAR_TIME
from supportdesk.sla.rules import (
    ClockFacts,
    Pause,
    Policy,
    due_times,
    first_response_running,
    match_policy,
    pause_after_status_change,
    resolution_running,
    resolution_status,
)
from supportdesk.tickets.models import Priority, TicketStatus
from tests.unit.plain import plain

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STATUSES = list(TicketStatus)
POLICIES = (
    Policy(id=1, tier=Tier.enterprise, first_response_minutes={Priority.high: 30}),
    Policy(id=2, category="billing", resolution_minutes={Priority.high: 600}),
)


@pytest.mark.parametrize(
    ("before", "after"),
    [pytest.param(a, b, id=f"{a}-to-{b}") for a, b in itertools.product(STATUSES, STATUSES)],
)
def test_pauses(before: TicketStatus, after: TicketStatus) -> None:
    pause = Pause(paused_at=T0, paused_seconds=60)
    now = T0 + timedelta(hours=2)
    assert pause_after_status_change(plain(before), plain(after), pause, CALENDAR_TIME, now) == (
        pause_after_status_change(before, after, pause, CALENDAR_TIME, now)
    )


@pytest.mark.parametrize(
    ("status", "priority"),
    [
        pytest.param(status, priority, id=f"{status}-{priority}")
        for status, priority in itertools.product(STATUSES, list(Priority))
    ],
)
def test_clocks_and_due_times(status: TicketStatus, priority: Priority) -> None:
    members = ClockFacts(priority=priority, status=status, created_at=T0, paused_at=T0)
    strings = ClockFacts(priority=plain(priority), status=plain(status), created_at=T0, paused_at=T0)
    policy = POLICIES[0]
    assert first_response_running(strings) is first_response_running(members)
    assert resolution_running(strings) is resolution_running(members)
    assert due_times(strings, policy) == due_times(members, policy)
    due = T0 + timedelta(hours=8)
    now = T0 + timedelta(hours=1)
    assert resolution_status(strings, due, policy, now) == resolution_status(members, due, policy, now)


@pytest.mark.parametrize(
    ("tier", "category"),
    [
        pytest.param(tier, category, id=f"{tier}-{category}")
        for tier, category in itertools.product(list(Tier), ["billing", "general"])
    ],
)
def test_policy_matching(tier: Tier, category: str) -> None:
    assert match_policy(POLICIES, plain(tier), category) == match_policy(POLICIES, tier, category)
