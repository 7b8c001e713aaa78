"""SLA rules: default targets, policy overrides and matching, due and at-risk times, the resolution pause,
and each target's state (ok, at risk, breached, met, paused) as time goes by."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from supportdesk.people.models import Tier
from supportdesk.sla.calendar import CALENDAR_TIME, Calendar, business_hours
from supportdesk.sla.rules import (
    DEFAULT_POLICY,
    ClockFacts,
    DueTimes,
    Pause,
    Policy,
    SlaState,
    TargetStatus,
    calculate_sla_hours,
    calculate_sla_remaining,
    due_times,
    first_response_running,
    first_response_status,
    match_policy,
    pause_after_status_change,
    resolution_running,
    resolution_status,
)
from supportdesk.tickets.models import Priority, TicketStatus

P = Priority
S = TicketStatus
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
BERLIN = ZoneInfo("Europe/Berlin")
# Monday 2026-03-02 09:00 UTC, the moment the integration tests' frozen clock starts at.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# Monday to Friday, 09:00-17:00 Berlin time; no public holidays, so the dates below are plain weekdays.
OFFICE_HOURS = business_hours("Europe/Berlin", {weekday: [(9 * 60, 17 * 60)] for weekday in range(5)})
OFFICE_POLICY = Policy(id=1, calendar=OFFICE_HOURS)


def berlin(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


def facts(
    priority: Priority = P.critical,
    status: TicketStatus = S.open,
    *,
    created_at: datetime = T0,
    first_responded_at: datetime | None = None,
    resolved_at: datetime | None = None,
    closed_at: datetime | None = None,
    paused_at: datetime | None = None,
    paused_seconds: int = 0,
) -> ClockFacts:
    return ClockFacts(
        priority=priority,
        status=status,
        created_at=created_at,
        first_responded_at=first_responded_at,
        resolved_at=resolved_at,
        closed_at=closed_at,
        paused_at=paused_at,
        paused_seconds=paused_seconds,
    )


# --- Default targets --------------------------------------------------------------------------------

DEFAULT_TARGETS = [
    pytest.param(P.critical, 1, 8, id="critical-1h-response-8h-resolution"),
    pytest.param(P.high, 4, 24, id="high-4h-response-24h-resolution"),
    pytest.param(P.medium, 24, 72, id="medium-24h-response-72h-resolution"),
    pytest.param(P.low, 72, 168, id="low-72h-response-168h-resolution"),
]


class TestDefaultTargets:
    def test_the_table_covers_every_priority(self) -> None:
        assert {param.values[0] for param in DEFAULT_TARGETS} == set(Priority)

    @pytest.mark.parametrize(("priority", "response_hours", "resolution_hours"), DEFAULT_TARGETS)
    def test_calculate_sla_hours_is_the_first_response_target(
        self, priority: Priority, response_hours: int, resolution_hours: int
    ) -> None:
        assert calculate_sla_hours(priority) == response_hours

    @pytest.mark.parametrize(("priority", "response_hours", "resolution_hours"), DEFAULT_TARGETS)
    def test_a_policy_without_targets_uses_the_defaults(
        self, priority: Priority, response_hours: int, resolution_hours: int
    ) -> None:
        for policy in (DEFAULT_POLICY, Policy(id=9, tier=Tier.premium)):
            assert policy.first_response_target(priority) == timedelta(hours=response_hours)
            assert policy.resolution_target(priority) == timedelta(hours=resolution_hours)

    def test_the_built_in_default_policy_counts_calendar_time_and_has_no_scope(self) -> None:
        assert (DEFAULT_POLICY.id, DEFAULT_POLICY.tier, DEFAULT_POLICY.category) == (None, None, None)
        assert DEFAULT_POLICY.calendar is CALENDAR_TIME


# A policy naming only some priorities: the ones it leaves out keep the built-in targets.
PARTIAL_POLICY = Policy(
    id=3,
    first_response_minutes={P.critical: 30, P.high: 120},
    resolution_minutes={P.low: 600},
)


class TestPolicyOverrides:
    @pytest.mark.parametrize(
        ("priority", "response", "resolution"),
        [
            pytest.param(P.critical, 30 * MINUTE, 8 * HOUR, id="critical-response-overridden"),
            pytest.param(P.high, 2 * HOUR, 24 * HOUR, id="high-response-overridden"),
            pytest.param(P.medium, 24 * HOUR, 72 * HOUR, id="medium-left-out-keeps-defaults"),
            pytest.param(P.low, 72 * HOUR, 10 * HOUR, id="low-resolution-overridden"),
        ],
    )
    def test_named_priorities_are_overridden_and_the_rest_default(
        self, priority: Priority, response: timedelta, resolution: timedelta
    ) -> None:
        assert PARTIAL_POLICY.first_response_target(priority) == response
        assert PARTIAL_POLICY.resolution_target(priority) == resolution

    def test_a_zero_minute_target_is_kept_not_replaced_by_the_default(self) -> None:
        policy = Policy(id=4, first_response_minutes={P.low: 0})
        assert policy.first_response_target(P.low) == timedelta(0)

    def test_overridden_targets_drive_the_due_times(self) -> None:
        due = due_times(facts(P.critical), PARTIAL_POLICY)
        assert (due.first_response, due.resolution) == (T0 + 30 * MINUTE, T0 + 8 * HOUR)


# --- Which policy applies ---------------------------------------------------------------------------

EVERYONE = Policy(id=1)
BILLING = Policy(id=2, category="billing")
ENTERPRISE = Policy(id=3, tier=Tier.enterprise)
ENTERPRISE_BILLING = Policy(id=4, tier=Tier.enterprise, category="billing")
PREMIUM = Policy(id=5, tier=Tier.premium)
BILLING_NEWER = Policy(id=6, category="billing")
ENTERPRISE_NEWER = Policy(id=7, tier=Tier.enterprise)
# Deliberately not in id order: "the oldest" means the lowest id, not the first in the list.
ALL_POLICIES = [
    BILLING_NEWER,
    ENTERPRISE_NEWER,
    PREMIUM,
    ENTERPRISE_BILLING,
    EVERYONE,
    ENTERPRISE,
    BILLING,
]


class TestMatchPolicy:
    @pytest.mark.parametrize(
        ("tier", "category", "expected_id"),
        [
            pytest.param(None, "general", 1, id="no-tier-other-category-gets-the-catch-all"),
            pytest.param(Tier.basic, "general", 1, id="unscoped-tier-other-category-gets-the-catch-all"),
            pytest.param(None, "billing", 2, id="category-beats-the-catch-all-oldest-of-two"),
            pytest.param(Tier.basic, "billing", 2, id="basic-billing-gets-the-category-policy"),
            pytest.param(Tier.enterprise, "general", 3, id="tier-beats-the-catch-all-oldest-of-two"),
            pytest.param(Tier.enterprise, "billing", 4, id="tier-and-category-beats-everything"),
            pytest.param(Tier.premium, "billing", 5, id="tier-beats-category"),
            pytest.param(Tier.premium, "general", 5, id="premium-gets-its-tier-policy"),
            pytest.param(Tier.free, "billing", 2, id="free-billing-gets-the-category-policy"),
        ],
    )
    def test_the_most_specific_policy_wins(self, tier: Tier | None, category: str, expected_id: int) -> None:
        assert match_policy(ALL_POLICIES, tier, category).id == expected_id

    @pytest.mark.parametrize(
        ("policies", "tier", "category"),
        [
            pytest.param([], Tier.enterprise, "billing", id="no-policies-at-all"),
            pytest.param([BILLING, ENTERPRISE], Tier.basic, "general", id="no-policy-applies"),
            pytest.param([ENTERPRISE_BILLING], Tier.enterprise, "general", id="tier-matches-category-not"),
            pytest.param([ENTERPRISE_BILLING], None, "billing", id="category-matches-tier-not"),
        ],
    )
    def test_without_a_matching_policy_the_built_in_defaults_apply(
        self, policies: list[Policy], tier: Tier | None, category: str
    ) -> None:
        assert match_policy(policies, tier, category) is DEFAULT_POLICY

    def test_a_tie_goes_to_the_oldest_whatever_the_order(self) -> None:
        newer, older = Policy(id=12, category="billing"), Policy(id=11, category="billing")
        assert match_policy([newer, older], None, "billing") is older
        assert match_policy([older, newer], None, "billing") is older

    @pytest.mark.parametrize(
        "priority", list(Priority), ids=lambda priority: f"{priority.value}-uses-the-matched-targets"
    )
    def test_the_matched_policy_sets_the_targets_of_every_priority(self, priority: Priority) -> None:
        premium = Policy(id=5, tier=Tier.premium, first_response_minutes=dict.fromkeys(Priority, 10))
        matched = match_policy([EVERYONE, premium], Tier.premium, "general")
        assert matched.first_response_target(priority) == 10 * MINUTE
        assert matched.resolution_target(priority) == DEFAULT_POLICY.resolution_target(priority)


# --- Due times --------------------------------------------------------------------------------------


class TestDueTimesInCalendarTime:
    @pytest.mark.parametrize(
        ("priority", "response", "resolution", "response_at_risk", "resolution_at_risk"),
        [
            pytest.param(P.critical, 1 * HOUR, 8 * HOUR, 45 * MINUTE, 6 * HOUR, id="critical"),
            pytest.param(P.high, 4 * HOUR, 24 * HOUR, 3 * HOUR, 18 * HOUR, id="high"),
            pytest.param(P.medium, 24 * HOUR, 72 * HOUR, 18 * HOUR, 54 * HOUR, id="medium"),
            pytest.param(P.low, 72 * HOUR, 168 * HOUR, 54 * HOUR, 126 * HOUR, id="low"),
        ],
    )
    def test_due_and_at_risk_times_by_priority(
        self,
        priority: Priority,
        response: timedelta,
        resolution: timedelta,
        response_at_risk: timedelta,
        resolution_at_risk: timedelta,
    ) -> None:
        assert due_times(facts(priority), DEFAULT_POLICY) == DueTimes(
            first_response=T0 + response,
            resolution=T0 + resolution,
            first_response_at_risk=T0 + response_at_risk,
            resolution_at_risk=T0 + resolution_at_risk,
        )

    def test_paused_time_moves_the_resolution_but_not_the_first_response(self) -> None:
        due = due_times(facts(P.critical, paused_seconds=2 * 3600), DEFAULT_POLICY)
        assert due == DueTimes(
            first_response=T0 + HOUR,
            resolution=T0 + 10 * HOUR,
            first_response_at_risk=T0 + 45 * MINUTE,
            resolution_at_risk=T0 + 8 * HOUR,
        )

    def test_due_times_are_in_utc_whatever_zone_the_ticket_was_created_in(self) -> None:
        due = due_times(facts(P.high, created_at=berlin(3, 2, 10)), DEFAULT_POLICY)
        assert due.first_response == T0 + 4 * HOUR
        assert due.first_response.utcoffset() == timedelta(0)


class TestDueTimesInBusinessHours:
    @pytest.mark.parametrize(
        ("priority", "created_at", "response", "resolution"),
        [
            pytest.param(
                P.high,
                berlin(3, 6, 16),
                berlin(3, 9, 12),
                berlin(3, 11, 16),
                id="friday-16h-plus-4h-is-monday-noon-and-24h-is-wednesday-16h",
            ),
            pytest.param(
                P.critical,
                berlin(3, 7, 10),
                berlin(3, 9, 10),
                berlin(3, 9, 17),
                id="saturday-counts-from-monday-9h",
            ),
            pytest.param(
                P.critical,
                berlin(3, 2, 16),
                berlin(3, 2, 17),
                berlin(3, 3, 16),
                id="time-running-out-at-closing-is-due-at-closing",
            ),
            pytest.param(
                P.high,
                berlin(3, 27, 16),
                berlin(3, 30, 12),
                berlin(4, 1, 16),
                id="across-the-spring-forward-weekend-monday-noon-local",
            ),
            pytest.param(
                P.medium,
                berlin(3, 2, 20),
                berlin(3, 5, 17),
                berlin(3, 13, 17),
                id="after-hours-counts-from-the-next-morning",
            ),
        ],
    )
    def test_due_times_count_only_open_hours(
        self, priority: Priority, created_at: datetime, response: datetime, resolution: datetime
    ) -> None:
        due = due_times(facts(priority, created_at=created_at), OFFICE_POLICY)
        assert (due.first_response, due.resolution) == (response, resolution)

    def test_at_risk_times_are_three_quarters_of_the_target_in_open_hours(self) -> None:
        due = due_times(facts(P.high, created_at=berlin(3, 6, 16)), OFFICE_POLICY)
        # 3 of 4 open hours: Friday 16-17 and Monday 9-11; 18 of 24: Fri 1 + Mon 8 + Tue 8 + Wed 1.
        assert due.first_response_at_risk == berlin(3, 9, 11)
        assert due.resolution_at_risk == berlin(3, 11, 10)

    def test_paused_open_hours_push_the_resolution_by_open_hours(self) -> None:
        due = due_times(facts(P.high, created_at=berlin(3, 6, 16), paused_seconds=3 * 3600), OFFICE_POLICY)
        assert due.first_response == berlin(3, 9, 12)
        assert due.resolution == berlin(3, 12, 11)
        assert due.resolution_at_risk == berlin(3, 11, 13)


# --- The resolution pause ---------------------------------------------------------------------------

PAUSED_AT = T0 + 2 * HOUR
NOW = T0 + 5 * HOUR
RUNNING = Pause(paused_at=None, paused_seconds=600)
PAUSED = Pause(paused_at=PAUSED_AT, paused_seconds=600)
STARTED = Pause(paused_at=NOW, paused_seconds=600)
RESUMED = Pause(paused_at=None, paused_seconds=600 + 3 * 3600)


class TestPauseAfterStatusChange:
    @pytest.mark.parametrize(
        ("before", "after", "pause", "expected"),
        [
            pytest.param(S.open, S.pending, RUNNING, STARTED, id="open-to-pending-starts-a-pause"),
            pytest.param(S.assigned, S.pending, RUNNING, STARTED, id="assigned-to-pending-starts-a-pause"),
            pytest.param(S.in_progress, S.pending, RUNNING, STARTED, id="in-progress-to-pending-starts"),
            pytest.param(S.in_progress, S.resolved, RUNNING, STARTED, id="resolving-starts-a-pause"),
            pytest.param(S.open, S.resolved, RUNNING, STARTED, id="resolving-from-open-starts-a-pause"),
            pytest.param(S.pending, S.in_progress, PAUSED, RESUMED, id="pending-back-to-work-adds-3h"),
            pytest.param(S.resolved, S.open, PAUSED, RESUMED, id="reopen-to-the-queue-adds-3h"),
            pytest.param(S.resolved, S.assigned, PAUSED, RESUMED, id="reopen-to-its-agent-adds-3h"),
            pytest.param(S.pending, S.resolved, PAUSED, PAUSED, id="pending-to-resolved-keeps-the-pause"),
            pytest.param(S.resolved, S.closed, PAUSED, PAUSED, id="closing-keeps-the-pause"),
            pytest.param(S.pending, S.closed, PAUSED, PAUSED, id="closing-while-pending-keeps-the-pause"),
            pytest.param(S.open, S.assigned, RUNNING, RUNNING, id="assigning-changes-nothing"),
            pytest.param(S.assigned, S.in_progress, RUNNING, RUNNING, id="starting-work-changes-nothing"),
            pytest.param(S.assigned, S.open, RUNNING, RUNNING, id="unassigning-changes-nothing"),
        ],
    )
    def test_the_pause_after_a_status_change(
        self, before: TicketStatus, after: TicketStatus, pause: Pause, expected: Pause
    ) -> None:
        assert pause_after_status_change(before, after, pause, CALENDAR_TIME, NOW) == expected

    def test_a_pause_that_began_before_tracking_resumes_without_adding_time(self) -> None:
        untracked = Pause(paused_at=None, paused_seconds=120)
        resumed = pause_after_status_change(S.pending, S.in_progress, untracked, CALENDAR_TIME, NOW)
        assert resumed == Pause(paused_at=None, paused_seconds=120)

    def test_pauses_add_up(self) -> None:
        pause = Pause(None, 0)
        for start, end in ((T0, T0 + HOUR), (T0 + 2 * HOUR, T0 + 4 * HOUR)):
            pause = pause_after_status_change(S.in_progress, S.pending, pause, CALENDAR_TIME, start)
            pause = pause_after_status_change(S.pending, S.in_progress, pause, CALENDAR_TIME, end)
        assert pause == Pause(None, 3 * 3600)

    def test_a_pause_over_the_weekend_counts_only_open_hours(self) -> None:
        paused = pause_after_status_change(
            S.in_progress, S.pending, Pause(None, 0), OFFICE_HOURS, berlin(3, 6, 16)
        )
        resumed = pause_after_status_change(S.pending, S.in_progress, paused, OFFICE_HOURS, berlin(3, 9, 10))
        # Friday 16-17 and Monday 9-10.
        assert resumed == Pause(None, 2 * 3600)


# --- Target states ----------------------------------------------------------------------------------


def _response_status(
    ticket: ClockFacts, now: datetime, policy: Policy = DEFAULT_POLICY
) -> TargetStatus | None:
    return first_response_status(ticket, due_times(ticket, policy).first_response, policy, now)


def _resolution_status(
    ticket: ClockFacts, now: datetime, policy: Policy = DEFAULT_POLICY
) -> TargetStatus | None:
    return resolution_status(ticket, due_times(ticket, policy).resolution, policy, now)


class TestFirstResponseStatus:
    # A critical ticket created at T0: due one hour later, at risk from 45 minutes on.
    @pytest.mark.parametrize(
        ("ticket", "now", "remaining", "state"),
        [
            pytest.param(facts(), T0, 3600, SlaState.ok, id="new-ticket-ok-with-1h-left"),
            pytest.param(facts(), T0 + 30 * MINUTE, 1800, SlaState.ok, id="half-way-ok"),
            pytest.param(facts(), T0 + 45 * MINUTE, 900, SlaState.ok, id="exactly-a-quarter-left-still-ok"),
            pytest.param(
                facts(), T0 + 45 * MINUTE + SECOND, 899, SlaState.at_risk, id="under-a-quarter-left-at-risk"
            ),
            pytest.param(facts(), T0 + HOUR, 0, SlaState.at_risk, id="due-this-instant-at-risk"),
            pytest.param(facts(), T0 + HOUR + SECOND, -1, SlaState.breached, id="a-second-late-breached"),
            pytest.param(facts(), T0 + 3 * HOUR, -7200, SlaState.breached, id="two-hours-late-breached"),
            pytest.param(
                facts(P.critical, S.pending),
                T0 + 50 * MINUTE,
                600,
                SlaState.at_risk,
                id="pending-does-not-pause-the-first-response",
            ),
            pytest.param(
                facts(first_responded_at=T0 + 20 * MINUTE),
                T0 + 5 * HOUR,
                2400,
                SlaState.met,
                id="responded-before-due-met",
            ),
            pytest.param(
                facts(first_responded_at=T0 + HOUR),
                T0 + 5 * HOUR,
                0,
                SlaState.met,
                id="responded-exactly-on-time-met",
            ),
            pytest.param(
                facts(first_responded_at=T0 + 90 * MINUTE),
                T0 + 5 * HOUR,
                -1800,
                SlaState.breached,
                id="responded-late-breached-and-stopped",
            ),
            pytest.param(
                facts(P.critical, S.resolved, resolved_at=T0 + 30 * MINUTE),
                T0 + 5 * HOUR,
                1800,
                SlaState.met,
                id="resolved-without-a-reply-before-due-met",
            ),
            pytest.param(
                facts(P.critical, S.closed, closed_at=T0 + 2 * HOUR),
                T0 + 5 * HOUR,
                -3600,
                SlaState.breached,
                id="closed-without-a-reply-after-due-breached",
            ),
        ],
    )
    def test_state_and_remaining_seconds(
        self, ticket: ClockFacts, now: datetime, remaining: int, state: SlaState
    ) -> None:
        assert _response_status(ticket, now) == TargetStatus(T0 + HOUR, remaining, state)

    def test_a_late_response_stays_breached_by_the_same_amount_forever(self) -> None:
        late = facts(first_responded_at=T0 + 90 * MINUTE)
        seen = {_response_status(late, T0 + days * 24 * HOUR) for days in (1, 7, 365)}
        assert seen == {TargetStatus(T0 + HOUR, -1800, SlaState.breached)}

    def test_no_due_time_means_no_sla_tracking(self) -> None:
        assert first_response_status(facts(), None, DEFAULT_POLICY, T0) is None

    def test_remaining_time_counts_open_hours(self) -> None:
        ticket = facts(P.high, created_at=berlin(3, 6, 16))
        # Due Monday noon; at Saturday 10:00 only Monday 9-12 is left: 3 of 4 hours.
        status = _response_status(ticket, berlin(3, 7, 10), OFFICE_POLICY)
        assert status == TargetStatus(berlin(3, 9, 12), 3 * 3600, SlaState.ok)
        at_risk = _response_status(ticket, berlin(3, 9, 11, 30), OFFICE_POLICY)
        assert at_risk == TargetStatus(berlin(3, 9, 12), 1800, SlaState.at_risk)


class TestResolutionStatus:
    # A critical ticket created at T0: due eight hours later, at risk from six hours on.
    @pytest.mark.parametrize(
        ("ticket", "now", "due_at", "remaining", "state"),
        [
            pytest.param(facts(), T0 + HOUR, T0 + 8 * HOUR, 25200, SlaState.ok, id="open-ok-with-7h-left"),
            pytest.param(
                facts(), T0 + 6 * HOUR, T0 + 8 * HOUR, 7200, SlaState.ok, id="exactly-a-quarter-left-still-ok"
            ),
            pytest.param(
                facts(P.critical, S.in_progress, first_responded_at=T0),
                T0 + 7 * HOUR,
                T0 + 8 * HOUR,
                3600,
                SlaState.at_risk,
                id="in-progress-under-a-quarter-left-at-risk",
            ),
            pytest.param(facts(), T0 + 9 * HOUR, T0 + 8 * HOUR, -3600, SlaState.breached, id="late-breached"),
            pytest.param(
                facts(P.critical, S.pending, paused_at=T0 + 2 * HOUR),
                T0 + 5 * HOUR,
                T0 + 8 * HOUR,
                21600,
                SlaState.paused,
                id="pending-paused-with-the-6h-left-when-it-paused",
            ),
            pytest.param(
                facts(P.critical, S.pending, paused_at=T0 + 2 * HOUR),
                T0 + 50 * HOUR,
                T0 + 8 * HOUR,
                21600,
                SlaState.paused,
                id="pending-for-two-days-still-paused-not-breached",
            ),
            pytest.param(
                facts(P.critical, S.pending, paused_at=T0 + 9 * HOUR),
                T0 + 20 * HOUR,
                T0 + 8 * HOUR,
                -3600,
                SlaState.breached,
                id="pending-after-the-due-time-stays-breached",
            ),
            pytest.param(
                facts(P.critical, S.resolved, resolved_at=T0 + 4 * HOUR, paused_at=T0 + 4 * HOUR),
                T0 + 30 * HOUR,
                T0 + 8 * HOUR,
                14400,
                SlaState.met,
                id="resolved-before-due-met",
            ),
            pytest.param(
                facts(P.critical, S.resolved, resolved_at=T0 + 10 * HOUR, paused_at=T0 + 10 * HOUR),
                T0 + 30 * HOUR,
                T0 + 8 * HOUR,
                -7200,
                SlaState.breached,
                id="resolved-late-breached",
            ),
            pytest.param(
                facts(
                    P.critical,
                    S.closed,
                    resolved_at=T0 + 4 * HOUR,
                    closed_at=T0 + 30 * HOUR,
                    paused_at=T0 + 4 * HOUR,
                ),
                T0 + 90 * HOUR,
                T0 + 8 * HOUR,
                14400,
                SlaState.met,
                id="closed-after-resolving-in-time-met",
            ),
            pytest.param(
                facts(P.critical, S.open, paused_seconds=3 * 3600),
                T0 + 9 * HOUR,
                T0 + 11 * HOUR,
                7200,
                SlaState.ok,
                id="reopened-after-3h-resolved-due-3h-later",
            ),
            pytest.param(
                facts(P.critical, S.open, paused_seconds=3 * 3600),
                T0 + 10 * HOUR,
                T0 + 11 * HOUR,
                3600,
                SlaState.at_risk,
                id="reopened-then-at-risk-a-quarter-before-the-moved-due",
            ),
        ],
    )
    def test_state_and_remaining_seconds(
        self, ticket: ClockFacts, now: datetime, due_at: datetime, remaining: int, state: SlaState
    ) -> None:
        assert _resolution_status(ticket, now) == TargetStatus(due_at, remaining, state)

    def test_no_due_time_means_no_sla_tracking(self) -> None:
        assert resolution_status(facts(), None, DEFAULT_POLICY, T0) is None

    def test_a_whole_journey_ok_at_risk_paused_ok_breached(self) -> None:
        """Critical ticket: work 5h, pending 3h (due moves 8h -> 11h), back to work, late at 12h."""
        policy = DEFAULT_POLICY
        pause = pause_after_status_change(
            S.in_progress, S.pending, Pause(None, 0), CALENDAR_TIME, T0 + 5 * HOUR
        )
        pending = facts(P.critical, S.pending, paused_at=pause.paused_at)
        assert _resolution_status(pending, T0 + 7 * HOUR) == TargetStatus(
            T0 + 8 * HOUR, 10800, SlaState.paused
        )
        pause = pause_after_status_change(S.pending, S.in_progress, pause, CALENDAR_TIME, T0 + 8 * HOUR)
        working = facts(P.critical, S.in_progress, first_responded_at=T0, paused_seconds=pause.paused_seconds)
        states = [_resolution_status(working, T0 + hours * HOUR, policy) for hours in (8, 10, 12)]
        assert states == [
            TargetStatus(T0 + 11 * HOUR, 10800, SlaState.ok),
            TargetStatus(T0 + 11 * HOUR, 3600, SlaState.at_risk),
            TargetStatus(T0 + 11 * HOUR, -3600, SlaState.breached),
        ]


# --- Which clocks run, and the nearest -------------------------------------------------------------


class TestRunningClocks:
    @pytest.mark.parametrize(
        ("ticket", "response_runs", "resolution_runs"),
        [
            pytest.param(facts(P.high, S.open), True, True, id="open-both-run"),
            pytest.param(facts(P.high, S.assigned), True, True, id="assigned-both-run"),
            pytest.param(
                facts(P.high, S.open, first_responded_at=T0), False, True, id="answered-resolution-only"
            ),
            pytest.param(
                facts(P.high, S.in_progress, first_responded_at=T0),
                False,
                True,
                id="in-progress-resolution-only",
            ),
            pytest.param(facts(P.high, S.pending), True, False, id="pending-unanswered-response-only"),
            pytest.param(
                facts(P.high, S.pending, first_responded_at=T0), False, False, id="pending-answered-none"
            ),
            pytest.param(facts(P.high, S.resolved, resolved_at=T0), False, False, id="resolved-none"),
            pytest.param(
                facts(P.high, S.closed, resolved_at=T0, closed_at=T0), False, False, id="closed-none"
            ),
        ],
    )
    def test_which_clocks_run(self, ticket: ClockFacts, response_runs: bool, resolution_runs: bool) -> None:
        assert (first_response_running(ticket), resolution_running(ticket)) == (
            response_runs,
            resolution_runs,
        )


class TestCalculateSlaRemaining:
    @pytest.mark.parametrize(
        ("ticket", "policy", "now", "expected"),
        [
            pytest.param(
                facts(P.critical), DEFAULT_POLICY, T0, HOUR, id="both-running-first-response-nearer"
            ),
            pytest.param(
                facts(P.critical, S.in_progress, first_responded_at=T0 + 10 * MINUTE),
                DEFAULT_POLICY,
                T0 + 2 * HOUR,
                6 * HOUR,
                id="answered-only-resolution-counts",
            ),
            pytest.param(
                facts(P.critical, S.pending, paused_at=T0),
                DEFAULT_POLICY,
                T0 + 20 * MINUTE,
                40 * MINUTE,
                id="pending-unanswered-only-first-response-counts",
            ),
            pytest.param(
                facts(P.critical),
                Policy(id=2, first_response_minutes={P.critical: 600}, resolution_minutes={P.critical: 120}),
                T0 + 30 * MINUTE,
                90 * MINUTE,
                id="resolution-nearer-than-first-response",
            ),
            pytest.param(
                facts(P.critical), DEFAULT_POLICY, T0 + 3 * HOUR, -2 * HOUR, id="negative-once-breached"
            ),
            pytest.param(
                facts(P.high, created_at=berlin(3, 6, 16)),
                OFFICE_POLICY,
                berlin(3, 7, 12),
                3 * HOUR,
                id="counts-open-hours-of-the-policy-calendar",
            ),
        ],
    )
    def test_time_left_on_the_nearest_running_target(
        self, ticket: ClockFacts, policy: Policy, now: datetime, expected: timedelta
    ) -> None:
        assert calculate_sla_remaining(ticket, due_times(ticket, policy), policy, now) == expected

    @pytest.mark.parametrize(
        "ticket",
        [
            pytest.param(
                facts(P.critical, S.pending, first_responded_at=T0, paused_at=T0), id="pending-answered"
            ),
            pytest.param(facts(P.critical, S.resolved, resolved_at=T0, paused_at=T0), id="resolved"),
            pytest.param(facts(P.critical, S.closed, resolved_at=T0, closed_at=T0), id="closed"),
        ],
    )
    def test_none_when_no_clock_runs(self, ticket: ClockFacts) -> None:
        assert calculate_sla_remaining(ticket, due_times(ticket, DEFAULT_POLICY), DEFAULT_POLICY, T0) is None


# --- Properties -------------------------------------------------------------------------------------

PRIORITY_ORDER = [P.low, P.medium, P.high, P.critical]
INSTANTS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
CALENDARS: Mapping[str, Calendar] = {"calendar-time": CALENDAR_TIME, "berlin-office-hours": OFFICE_HOURS}
MINUTES = st.integers(min_value=0, max_value=60 * 24 * 90)
TARGETS = st.dictionaries(st.sampled_from(list(Priority)), MINUTES, max_size=4)
PAUSED_SECONDS = st.integers(min_value=0, max_value=3600 * 24 * 120)
properties = hypothesis_settings(database=None, deadline=None, max_examples=75)


@pytest.mark.parametrize("calendar_name", list(CALENDARS))
@properties
@given(
    created_at=INSTANTS,
    priority=st.sampled_from(list(Priority)),
    response=TARGETS,
    resolution=TARGETS,
    paused_seconds=PAUSED_SECONDS,
)
def test_due_times_are_never_before_creation(
    calendar_name: str,
    created_at: datetime,
    priority: Priority,
    response: dict[Priority, int],
    resolution: dict[Priority, int],
    paused_seconds: int,
) -> None:
    policy = Policy(
        id=1,
        first_response_minutes=response,
        resolution_minutes=resolution,
        calendar=CALENDARS[calendar_name],
    )
    due = due_times(facts(priority, created_at=created_at, paused_seconds=paused_seconds), policy)
    assert (
        min(due.first_response, due.resolution, due.first_response_at_risk, due.resolution_at_risk)
        >= created_at
    )
    assert due.first_response_at_risk <= due.first_response
    assert due.resolution_at_risk <= due.resolution


@pytest.mark.parametrize("calendar_name", list(CALENDARS))
@properties
@given(created_at=INSTANTS, paused_seconds=PAUSED_SECONDS)
def test_a_higher_priority_is_never_due_later_under_the_default_targets(
    calendar_name: str, created_at: datetime, paused_seconds: int
) -> None:
    policy = Policy(calendar=CALENDARS[calendar_name])
    due = [
        due_times(facts(priority, created_at=created_at, paused_seconds=paused_seconds), policy)
        for priority in PRIORITY_ORDER
    ]
    for lower, higher in itertools.pairwise(due):
        assert higher.first_response <= lower.first_response
        assert higher.resolution <= lower.resolution


@pytest.mark.parametrize("calendar_name", list(CALENDARS))
@properties
@given(
    created_at=INSTANTS,
    priority=st.sampled_from(list(Priority)),
    earlier_pauses=PAUSED_SECONDS,
    paused_after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    pause_length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)),
)
def test_pausing_never_makes_the_resolution_due_earlier(
    calendar_name: str,
    created_at: datetime,
    priority: Priority,
    earlier_pauses: int,
    paused_after: timedelta,
    pause_length: timedelta,
) -> None:
    calendar = CALENDARS[calendar_name]
    policy = Policy(calendar=calendar)
    before = Pause(None, earlier_pauses)
    paused = pause_after_status_change(S.in_progress, S.pending, before, calendar, created_at + paused_after)
    resumed = pause_after_status_change(
        S.pending, S.in_progress, paused, calendar, created_at + paused_after + pause_length
    )
    assert resumed.paused_at is None
    assert resumed.paused_seconds >= earlier_pauses
    due_before = due_times(facts(priority, created_at=created_at, paused_seconds=earlier_pauses), policy)
    due_after = due_times(
        facts(priority, created_at=created_at, paused_seconds=resumed.paused_seconds), policy
    )
    assert due_after.resolution >= due_before.resolution
    assert due_after.resolution_at_risk >= due_before.resolution_at_risk
    assert due_after.first_response == due_before.first_response
