"""Ticket rules answer the same for an enum member and for its plain string value, which is what a
model holds when it was given one."""

from __future__ import annotations

import itertools

import pytest

from supportdesk.tickets.models import Priority, Ticket, TicketStatus
from supportdesk.tickets.rules import (
    PRIORITY_RANK,
    TRANSITIONS,
    can_transition,
    is_urgent,
    status_after_assignment,
    status_after_customer_reply,
)
from tests.unit.plain import plain

STATUSES = list(TicketStatus)
AGENTS = [None, 7]


@pytest.mark.parametrize(
    ("current", "target"),
    [pytest.param(a, b, id=f"{a}-to-{b}") for a, b in itertools.product(STATUSES, STATUSES)],
)
def test_transitions(current: TicketStatus, target: TicketStatus) -> None:
    assert can_transition(plain(current), plain(target)) is can_transition(current, target)
    assert TRANSITIONS[plain(current)] == TRANSITIONS[current]


@pytest.mark.parametrize(
    ("status", "priority", "agent"),
    [
        pytest.param(status, priority, agent, id=f"{status}-{priority}-{'assigned' if agent else 'unowned'}")
        for status, priority, agent in itertools.product(STATUSES, list(Priority), AGENTS)
    ],
)
def test_urgency(status: TicketStatus, priority: Priority, agent: int | None) -> None:
    assert is_urgent(plain(status), plain(priority), agent) is is_urgent(status, priority, agent)


def test_an_open_unowned_critical_ticket_given_strings_is_urgent() -> None:
    assert is_urgent(plain(TicketStatus.open), plain(Priority.critical), None)
    assert Ticket(status="open", priority="critical").is_urgent()
    assert not Ticket(status="open", priority="critical", assigned_agent_id=7).is_urgent()


@pytest.mark.parametrize(
    ("status", "agent"),
    [
        pytest.param(status, agent, id=f"{status}-{'assigned' if agent else 'unowned'}")
        for status, agent in itertools.product(STATUSES, AGENTS)
    ],
)
def test_statuses_a_ticket_takes_on_its_own(status: TicketStatus, agent: int | None) -> None:
    assert status_after_assignment(plain(status), agent) == status_after_assignment(status, agent)
    assert status_after_customer_reply(plain(status), agent) == status_after_customer_reply(status, agent)


def test_a_plain_string_ranks_as_its_priority() -> None:
    assert [PRIORITY_RANK[plain(priority)] for priority in Priority] == [0, 1, 2, 3]
