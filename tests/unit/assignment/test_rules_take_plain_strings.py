"""Choosing an agent answers the same for enum members and for their plain string values, which is
what models hold when they were given them."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from supportdesk.assignment.rules import Candidate, choose_agent
from supportdesk.core.permissions import Role
from supportdesk.tickets.models import Priority
from supportdesk.workspaces.models import AssignmentStrategy
from tests.unit.plain import plain

TEAM = (
    Candidate(1, Role.agent, skills=("billing",), open_tickets=3, last_assignment_seq=5),
    Candidate(2, Role.agent, skills=("technical",), open_tickets=1, last_assignment_seq=7),
    Candidate(3, Role.senior_agent, skills=(), open_tickets=2, last_assignment_seq=2),
)
TEAM_AS_STRINGS = tuple(dataclasses.replace(candidate, role=plain(candidate.role)) for candidate in TEAM)


@pytest.mark.parametrize(
    ("strategy", "priority"),
    [
        pytest.param(strategy, priority, id=f"{strategy}-{priority}")
        for strategy, priority in itertools.product(list(AssignmentStrategy), list(Priority))
    ],
)
def test_the_same_agent_is_chosen(strategy: AssignmentStrategy, priority: Priority) -> None:
    expected = choose_agent(strategy, TEAM, priority=priority, category="billing")
    chosen = choose_agent(plain(strategy), TEAM_AS_STRINGS, priority=plain(priority), category="billing")
    assert chosen == expected


def test_a_critical_ticket_given_as_a_string_goes_to_the_senior_agent() -> None:
    by_priority = plain(AssignmentStrategy.by_priority)
    assert choose_agent(by_priority, TEAM_AS_STRINGS, priority=plain(Priority.critical), category="x") == 3
