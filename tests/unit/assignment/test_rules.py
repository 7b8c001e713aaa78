"""Choosing an agent: each strategy, capacity, and fairness of round robin."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportdesk.assignment.rules import (
    AssignmentSettings,
    Candidate,
    choose_agent,
    has_room,
    strategy_for,
)
from supportdesk.core.permissions import Role
from supportdesk.tickets.models import Priority
from supportdesk.workspaces.models import AssignmentStrategy as S

ANA = Candidate(1, Role.agent, skills=("billing",), open_tickets=3, last_assignment_seq=5)
BEN = Candidate(2, Role.agent, skills=("technical",), open_tickets=1, last_assignment_seq=7)
CAT = Candidate(3, Role.senior_agent, skills=(), open_tickets=2, last_assignment_seq=2)
FULL = Candidate(4, Role.agent, skills=("billing",), open_tickets=5, capacity=5, last_assignment_seq=0)
TEAM = (ANA, BEN, CAT, FULL)


@pytest.mark.parametrize(
    ("strategy", "priority", "category", "expected"),
    [
        pytest.param(S.round_robin, Priority.medium, "general", CAT.id, id="round-robin-longest-waiting"),
        pytest.param(S.least_loaded, Priority.medium, "general", BEN.id, id="least-loaded-fewest-open"),
        pytest.param(S.by_priority, Priority.critical, "general", CAT.id, id="critical-to-senior"),
        pytest.param(S.by_priority, Priority.high, "general", ANA.id, id="high-to-agents-first"),
        pytest.param(S.by_skill, Priority.medium, "billing", ANA.id, id="skill-match-first"),
        pytest.param(S.by_skill, Priority.medium, "technical", BEN.id, id="other-skill-match"),
        pytest.param(S.by_skill, Priority.medium, "account", CAT.id, id="no-skill-match-falls-back"),
    ],
)
def test_each_strategy_picks_the_expected_agent(
    strategy: S, priority: Priority, category: str, expected: int
) -> None:
    assert choose_agent(strategy, TEAM, priority=priority, category=category) == expected


@pytest.mark.parametrize("strategy", list(S), ids=[strategy.value for strategy in S])
def test_nobody_available_leaves_the_ticket_unassigned(strategy: S) -> None:
    assert choose_agent(strategy, [], priority=Priority.high, category="billing") is None
    assert choose_agent(strategy, [FULL], priority=Priority.high, category="billing") is None


def test_agents_at_capacity_are_skipped_even_when_longest_waiting() -> None:
    assert FULL.last_assignment_seq < ANA.last_assignment_seq
    assert choose_agent(S.round_robin, [FULL, ANA], priority=Priority.low, category="billing") == ANA.id


def test_a_critical_ticket_goes_to_an_agent_when_no_senior_can_take_it() -> None:
    assert choose_agent(S.by_priority, [ANA, BEN], priority=Priority.critical, category="general") == ANA.id


def test_least_loaded_breaks_ties_by_round_robin() -> None:
    first = Candidate(1, Role.agent, open_tickets=2, last_assignment_seq=9)
    second = Candidate(2, Role.agent, open_tickets=2, last_assignment_seq=4)
    assert choose_agent(S.least_loaded, [first, second], priority=Priority.low, category="x") == 2


@pytest.mark.parametrize(
    ("candidate", "room"),
    [
        pytest.param(Candidate(1, Role.agent, open_tickets=100), True, id="no-capacity-no-limit"),
        pytest.param(Candidate(1, Role.agent, open_tickets=4, capacity=5), True, id="below-capacity"),
        pytest.param(Candidate(1, Role.agent, open_tickets=5, capacity=5), False, id="at-capacity"),
    ],
)
def test_room_below_capacity(candidate: Candidate, room: bool) -> None:
    assert has_room(candidate) is room


def test_a_category_may_use_its_own_strategy() -> None:
    settings = AssignmentSettings(S.round_robin, {"billing": S.least_loaded})
    assert strategy_for(settings, "billing") is S.least_loaded
    assert strategy_for(settings, "technical") is S.round_robin


@given(agents=st.integers(min_value=1, max_value=8), tickets=st.integers(min_value=0, max_value=60))
def test_round_robin_keeps_everyone_within_one_ticket(agents: int, tickets: int) -> None:
    sequence = dict.fromkeys(range(1, agents + 1), 0)
    counts: Counter[int] = Counter()
    for seq in range(1, tickets + 1):
        pool = [
            Candidate(agent_id, Role.agent, last_assignment_seq=last) for agent_id, last in sequence.items()
        ]
        chosen = choose_agent(S.round_robin, pool, priority=Priority.medium, category="general")
        assert chosen is not None
        sequence[chosen] = seq
        counts[chosen] += 1
    taken = [counts[agent_id] for agent_id in sequence]
    assert max(taken) - min(taken) <= 1
    assert sum(taken) == tickets
