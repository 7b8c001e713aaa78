"""Ticket rules: the lifecycle table, urgency, and the status a ticket takes on its own when it is
assigned or when the customer writes back."""

from __future__ import annotations

import itertools

import pytest

from supportdesk.tickets.models import Priority, TicketStatus
from supportdesk.tickets.rules import (
    NEEDS_ASSIGNEE,
    PRIORITY_RANK,
    TRANSITIONS,
    can_transition,
    is_urgent,
    status_after_assignment,
    status_after_customer_reply,
)
from tests.unit.grids import read_grid

S = TicketStatus
AGENT_ID = 7

# Rows are the current status, columns the target. A status never "moves" to itself.
EXPECTED_TRANSITIONS = read_grid(
    """
    from\\to      open  assigned  in_progress  pending  resolved  closed
    open          no    yes       yes          no       yes       no
    assigned      yes   no        yes          yes      yes       no
    in_progress   no    yes       no           yes      yes       no
    pending       no    no        yes          no       yes       no
    resolved      yes   yes       no           no       no        yes
    closed        no    no        no           no       no        no
    """
)


def _words(status: TicketStatus) -> str:
    return status.value.replace("_", "-")


TRANSITION_CASES = [
    pytest.param(
        S(current),
        S(target),
        allowed,
        id=f"{_words(S(current))}-{'may' if allowed else 'may-not'}-become-{_words(S(target))}",
    )
    for current, row in EXPECTED_TRANSITIONS.items()
    for target, allowed in row.items()
]


class TestLifecycleTable:
    def test_the_expected_table_covers_every_pair_of_statuses(self) -> None:
        every_status = {status.value for status in TicketStatus}
        assert set(EXPECTED_TRANSITIONS) == every_status
        for row in EXPECTED_TRANSITIONS.values():
            assert set(row) == every_status
        assert len(TRANSITION_CASES) == 36

    def test_the_code_has_a_row_for_every_status(self) -> None:
        assert set(TRANSITIONS) == set(TicketStatus)

    @pytest.mark.parametrize(("current", "target", "allowed"), TRANSITION_CASES)
    def test_can_transition_follows_the_table(
        self, current: TicketStatus, target: TicketStatus, allowed: bool
    ) -> None:
        assert can_transition(current, target) is allowed

    @pytest.mark.parametrize("target", list(TicketStatus), ids=lambda status: f"closed-to-{_words(status)}")
    def test_closed_is_final(self, target: TicketStatus) -> None:
        assert can_transition(S.closed, target) is False

    @pytest.mark.parametrize(
        "target",
        [pytest.param(S.open, id="back-to-the-queue"), pytest.param(S.assigned, id="back-to-its-agent")],
    )
    def test_a_resolved_ticket_can_be_reopened(self, target: TicketStatus) -> None:
        assert can_transition(S.resolved, target) is True

    def test_only_a_resolved_ticket_can_be_closed(self) -> None:
        assert {status for status in TicketStatus if can_transition(status, S.closed)} == {S.resolved}

    @pytest.mark.parametrize("status", list(TicketStatus), ids=_words)
    def test_no_status_moves_to_itself(self, status: TicketStatus) -> None:
        assert can_transition(status, status) is False


class TestNeedsAssignee:
    def test_work_statuses_need_somebody_working_the_ticket(self) -> None:
        assert frozenset({S.assigned, S.in_progress, S.pending}) == NEEDS_ASSIGNEE


class TestPriorityRank:
    def test_priorities_rank_from_low_to_critical(self) -> None:
        ranked = sorted(Priority, key=PRIORITY_RANK.__getitem__)
        assert ranked == [Priority.low, Priority.medium, Priority.high, Priority.critical]

    def test_every_priority_has_a_distinct_rank(self) -> None:
        assert set(PRIORITY_RANK) == set(Priority)
        assert len(set(PRIORITY_RANK.values())) == len(Priority)


# The only urgent combinations: open, unassigned and high or critical. Everything else is calm.
URGENT = {
    (S.open, Priority.high, False),
    (S.open, Priority.critical, False),
}

URGENCY_CASES = [
    pytest.param(
        status,
        priority,
        assigned,
        (status, priority, assigned) in URGENT,
        id=(
            f"{_words(status)}-{priority.value}-{'assigned' if assigned else 'unassigned'}"
            f"-is-{'urgent' if (status, priority, assigned) in URGENT else 'not-urgent'}"
        ),
    )
    for status, priority, assigned in itertools.product(TicketStatus, Priority, (False, True))
]


class TestUrgency:
    @pytest.mark.parametrize(("status", "priority", "assigned", "urgent"), URGENCY_CASES)
    def test_every_combination(
        self, status: TicketStatus, priority: Priority, assigned: bool, urgent: bool
    ) -> None:
        assert is_urgent(status, priority, AGENT_ID if assigned else None) is urgent

    def test_the_table_covers_every_combination(self) -> None:
        assert len(URGENCY_CASES) == len(TicketStatus) * len(Priority) * 2

    @pytest.mark.parametrize(
        ("status", "priority", "agent", "urgent"),
        [
            pytest.param(S.open, Priority.critical, None, True, id="critical-unassigned-is-urgent"),
            pytest.param(S.open, Priority.high, None, True, id="high-unassigned-is-urgent"),
            pytest.param(S.open, Priority.medium, None, False, id="medium-unassigned-is-not-urgent"),
            pytest.param(S.assigned, Priority.critical, 1, False, id="critical-with-an-agent-is-not-urgent"),
            pytest.param(S.resolved, Priority.critical, None, False, id="resolved-critical-is-not-urgent"),
            pytest.param(S.closed, Priority.critical, None, False, id="closed-critical-is-not-urgent"),
        ],
    )
    def test_the_cases_people_ask_about(
        self, status: TicketStatus, priority: Priority, agent: int | None, urgent: bool
    ) -> None:
        assert is_urgent(status, priority, agent) is urgent


class TestStatusAfterAssignment:
    @pytest.mark.parametrize(
        ("status", "agent", "expected"),
        [
            pytest.param(S.open, AGENT_ID, S.assigned, id="open-given-an-agent-becomes-assigned"),
            pytest.param(S.open, None, S.open, id="open-without-agent-stays-open"),
            pytest.param(S.assigned, None, S.open, id="assigned-losing-its-agent-goes-back-to-open"),
            pytest.param(S.assigned, AGENT_ID, S.assigned, id="assigned-given-another-agent-stays-assigned"),
            pytest.param(S.in_progress, AGENT_ID, S.in_progress, id="in-progress-given-an-agent-stays"),
            pytest.param(S.pending, AGENT_ID, S.pending, id="pending-given-an-agent-stays"),
            pytest.param(S.resolved, AGENT_ID, S.resolved, id="resolved-given-an-agent-stays-resolved"),
            pytest.param(S.resolved, None, S.resolved, id="resolved-losing-its-agent-stays-resolved"),
            pytest.param(S.closed, AGENT_ID, S.closed, id="closed-given-an-agent-stays-closed"),
            pytest.param(S.closed, None, S.closed, id="closed-losing-its-agent-stays-closed"),
        ],
    )
    def test_the_new_status(self, status: TicketStatus, agent: int | None, expected: TicketStatus) -> None:
        assert status_after_assignment(status, agent) is expected


class TestStatusAfterCustomerReply:
    @pytest.mark.parametrize(
        ("status", "agent", "expected"),
        [
            pytest.param(S.resolved, None, S.open, id="resolved-without-agent-reopens-to-the-queue"),
            pytest.param(S.resolved, AGENT_ID, S.assigned, id="resolved-with-agent-reopens-to-that-agent"),
            pytest.param(S.pending, AGENT_ID, S.in_progress, id="pending-wakes-up-to-in-progress"),
            pytest.param(S.open, None, S.open, id="open-stays-open"),
            pytest.param(S.open, AGENT_ID, S.open, id="open-with-agent-stays-open"),
            pytest.param(S.assigned, AGENT_ID, S.assigned, id="assigned-stays-assigned"),
            pytest.param(S.assigned, None, S.assigned, id="assigned-without-agent-stays-assigned"),
            pytest.param(S.in_progress, AGENT_ID, S.in_progress, id="in-progress-stays-in-progress"),
            pytest.param(S.in_progress, None, S.in_progress, id="in-progress-without-agent-stays"),
            pytest.param(S.closed, AGENT_ID, S.closed, id="closed-stays-closed"),
            pytest.param(S.closed, None, S.closed, id="closed-without-agent-stays-closed"),
        ],
    )
    def test_the_new_status(self, status: TicketStatus, agent: int | None, expected: TicketStatus) -> None:
        assert status_after_customer_reply(status, agent) is expected


AUTOMATIC_CASES = [
    pytest.param(status, agent, id=f"{_words(status)}-{'with' if agent else 'without'}-agent")
    for status, agent in itertools.product(TicketStatus, (AGENT_ID, None))
]


class TestAutomaticChangesRespectTheLifecycle:
    """A status the system picks by itself must be one a person could have chosen too."""

    @pytest.mark.parametrize(("status", "agent"), AUTOMATIC_CASES)
    def test_after_assignment(self, status: TicketStatus, agent: int | None) -> None:
        new = status_after_assignment(status, agent)
        assert new is status or can_transition(status, new)

    @pytest.mark.parametrize(("status", "agent"), AUTOMATIC_CASES)
    def test_after_customer_reply(self, status: TicketStatus, agent: int | None) -> None:
        new = status_after_customer_reply(status, agent)
        assert new is status or can_transition(status, new)
