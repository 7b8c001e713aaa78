"""SLA rules: targets, which policy applies, due times, and each target's state. Pure: no I/O, no clock.

Two clocks run per ticket. The first-response clock starts at creation and stops at the first response
(an agent's first public reply, or an agent taking the ticket into progress); it does not pause. The
resolution clock starts at creation, stands still while the ticket is pending (waiting on the customer)
or resolved (a reopen resumes it), and stops when the ticket is closed. Paused time is kept on the
ticket in the policy's counting time, so the resolution due time is always
``calendar.add(created_at, target + paused)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from supportdesk.people.models import Tier
from supportdesk.sla.calendar import CALENDAR_TIME, Calendar
from supportdesk.tickets.models import (
    FIRST_RESPONSE_RUNNING_STATUSES,
    RESOLUTION_RUNNING_STATUSES,
    Priority,
    TicketStatus,
)

DEFAULT_FIRST_RESPONSE_HOURS: Mapping[Priority, int] = {
    Priority.critical: 1,
    Priority.high: 4,
    Priority.medium: 24,
    Priority.low: 72,
}
DEFAULT_RESOLUTION_HOURS: Mapping[Priority, int] = {
    Priority.critical: 8,
    Priority.high: 24,
    Priority.medium: 72,
    Priority.low: 168,
}
# A running target is at risk when less than this share of it is left.
AT_RISK_SHARE = 0.25
# Statuses in which the resolution clock stands still, and the one in which it has stopped for good.
PAUSED_STATUSES = frozenset({TicketStatus.pending, TicketStatus.resolved})
STOPPED_STATUSES = frozenset({TicketStatus.resolved, TicketStatus.closed})


class SlaState(StrEnum):
    ok = "ok"
    at_risk = "at_risk"
    breached = "breached"
    met = "met"
    paused = "paused"


def calculate_sla_hours(priority: Priority) -> int:
    """The default first-response target, in hours, for ``priority``."""
    return DEFAULT_FIRST_RESPONSE_HOURS[priority]


def _minutes_by_priority(hours: Mapping[Priority, int]) -> dict[Priority, int]:
    return {priority: value * 60 for priority, value in hours.items()}


@dataclass(frozen=True, slots=True)
class Policy:
    """A policy as the rules use it: scope, targets in minutes per priority, and how time is counted."""

    id: int | None = None
    tier: Tier | None = None
    category: str | None = None
    first_response_minutes: Mapping[Priority, int] = field(default_factory=dict)
    resolution_minutes: Mapping[Priority, int] = field(default_factory=dict)
    calendar: Calendar = CALENDAR_TIME

    def first_response_target(self, priority: Priority) -> timedelta:
        """The first-response target for ``priority`` (the built-in default where the policy names none)."""
        minutes = self.first_response_minutes.get(priority)
        return timedelta(
            minutes=minutes if minutes is not None else DEFAULT_FIRST_RESPONSE_HOURS[priority] * 60
        )

    def resolution_target(self, priority: Priority) -> timedelta:
        """The resolution target for ``priority`` (the built-in default where the policy names none)."""
        minutes = self.resolution_minutes.get(priority)
        return timedelta(minutes=minutes if minutes is not None else DEFAULT_RESOLUTION_HOURS[priority] * 60)

    @property
    def specificity(self) -> int:
        """How narrowly the policy is scoped: tier and category > tier > category > everything.

        A tier is a promise made to the customer in their contract, so it outranks a category's target.
        """
        return (2 if self.tier is not None else 0) + (1 if self.category is not None else 0)

    def applies_to(self, tier: Tier | None, category: str) -> bool:
        """Whether a ticket of a customer in ``tier`` and of ``category`` falls under this policy."""
        return (self.tier is None or self.tier == tier) and (
            self.category is None or self.category == category
        )


DEFAULT_POLICY = Policy()


def match_policy(policies: Sequence[Policy], tier: Tier | None, category: str) -> Policy:
    """The most specific policy that applies (ties: the oldest), else the built-in defaults."""
    matching = [policy for policy in policies if policy.applies_to(tier, category)]
    if not matching:
        return DEFAULT_POLICY
    return max(matching, key=lambda policy: (policy.specificity, -(policy.id or 0)))


@dataclass(frozen=True, slots=True)
class ClockFacts:
    """What the SLA clocks of one ticket depend on."""

    priority: Priority
    status: TicketStatus
    created_at: datetime
    first_responded_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    paused_at: datetime | None = None
    paused_seconds: int = 0


@dataclass(frozen=True, slots=True)
class DueTimes:
    """When each target is due, and from when it is at risk (less than a quarter of it left)."""

    first_response: datetime
    resolution: datetime
    first_response_at_risk: datetime
    resolution_at_risk: datetime


def due_times(facts: ClockFacts, policy: Policy) -> DueTimes:
    """When the first response and the resolution are due."""
    calendar = policy.calendar
    start = facts.created_at
    first_response = policy.first_response_target(facts.priority)
    resolution = policy.resolution_target(facts.priority)
    paused = timedelta(seconds=facts.paused_seconds)
    return DueTimes(
        first_response=calendar.add(start, first_response),
        resolution=calendar.add(start, resolution + paused),
        first_response_at_risk=_first_response_at_risk(facts, policy),
        resolution_at_risk=_resolution_at_risk(facts, policy),
    )


# A target is at risk once all but AT_RISK_SHARE of it has passed. Each of these computes its one
# instant, so a view of a single target does not pay for the other three.
def _first_response_at_risk(facts: ClockFacts, policy: Policy) -> datetime:
    target = policy.first_response_target(facts.priority)
    return policy.calendar.add(facts.created_at, target * (1 - AT_RISK_SHARE))


def _resolution_at_risk(facts: ClockFacts, policy: Policy) -> datetime:
    target = policy.resolution_target(facts.priority)
    paused = timedelta(seconds=facts.paused_seconds)
    return policy.calendar.add(facts.created_at, target * (1 - AT_RISK_SHARE) + paused)


@dataclass(frozen=True, slots=True)
class Pause:
    """The resolution clock's pause bookkeeping."""

    paused_at: datetime | None
    paused_seconds: int


def pause_after_status_change(
    before: TicketStatus, after: TicketStatus, pause: Pause, calendar: Calendar, now: datetime
) -> Pause:
    """Start the pause when a ticket goes pending or resolved; end it (adding the time it lasted, as the
    calendar counts it) when the ticket comes back to work. Closing keeps the pause: the clock has stopped."""
    was_paused = before in PAUSED_STATUSES
    is_paused = after in PAUSED_STATUSES or after == TicketStatus.closed
    if is_paused and not was_paused:
        return Pause(paused_at=now, paused_seconds=pause.paused_seconds)
    if was_paused and not is_paused:
        if pause.paused_at is None:  # paused before SLA tracking began
            return Pause(None, pause.paused_seconds)
        lasted = calendar.between(pause.paused_at, now)
        return Pause(None, pause.paused_seconds + max(0, int(lasted.total_seconds())))
    return pause


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """One target as the API shows it."""

    due_at: datetime
    remaining_seconds: int
    state: SlaState


# States are decided by comparing instants, as the SQL filters do (``due < now``); the remaining time
# is counted in the policy's time. The two differ while the desk is closed: a target due at closing
# time is breached from that instant, though no open time passes until the next morning.
def _running_state(now: datetime, due_at: datetime, at_risk_from: datetime) -> SlaState:
    if due_at < now:
        return SlaState.breached
    if at_risk_from < now:
        return SlaState.at_risk
    return SlaState.ok


def _settled_state(stopped_at: datetime, due_at: datetime) -> SlaState:
    return SlaState.met if stopped_at <= due_at else SlaState.breached


def _status(due_at: datetime, remaining: timedelta, state: SlaState) -> TargetStatus:
    return TargetStatus(due_at, int(remaining.total_seconds()), state)


def first_response_status(
    facts: ClockFacts,
    due_at: datetime | None,
    policy: Policy,
    now: datetime,
    *,
    at_risk_from: datetime | None = None,
) -> TargetStatus | None:
    """The first-response target's state at ``now``; None for a ticket without SLA tracking.
    ``at_risk_from`` is the stored at-risk time that came with ``due_at``, when the caller has it."""
    if due_at is None:
        return None
    calendar = policy.calendar
    stopped_at = facts.first_responded_at
    if stopped_at is None and facts.status in STOPPED_STATUSES:
        stopped_at = facts.resolved_at or facts.closed_at
    if stopped_at is not None:
        return _status(due_at, calendar.between(stopped_at, due_at), _settled_state(stopped_at, due_at))
    at_risk_from = at_risk_from or _first_response_at_risk(facts, policy)
    return _status(due_at, calendar.between(now, due_at), _running_state(now, due_at, at_risk_from))


def resolution_status(
    facts: ClockFacts,
    due_at: datetime | None,
    policy: Policy,
    now: datetime,
    *,
    at_risk_from: datetime | None = None,
) -> TargetStatus | None:
    """The resolution target's state at ``now``; None for a ticket without SLA tracking.
    ``at_risk_from`` is the stored at-risk time that came with ``due_at``, when the caller has it."""
    if due_at is None:
        return None
    calendar = policy.calendar
    if facts.status in STOPPED_STATUSES:
        stopped_at = facts.resolved_at or facts.closed_at or facts.paused_at or now
        return _status(due_at, calendar.between(stopped_at, due_at), _settled_state(stopped_at, due_at))
    if facts.status in PAUSED_STATUSES:
        paused_at = facts.paused_at or now
        state = SlaState.paused if paused_at <= due_at else SlaState.breached
        return _status(due_at, calendar.between(paused_at, due_at), state)
    at_risk_from = at_risk_from or _resolution_at_risk(facts, policy)
    return _status(due_at, calendar.between(now, due_at), _running_state(now, due_at, at_risk_from))


def first_response_running(facts: ClockFacts) -> bool:
    """Whether the first-response clock runs (the SQL twin is ``tickets.models.first_response_running``)."""
    return facts.first_responded_at is None and facts.status in FIRST_RESPONSE_RUNNING_STATUSES


def resolution_running(facts: ClockFacts) -> bool:
    """Whether the resolution clock runs (the SQL twin is ``tickets.models.resolution_running``)."""
    return facts.status in RESOLUTION_RUNNING_STATUSES


def calculate_sla_remaining(
    facts: ClockFacts, due: DueTimes, policy: Policy, now: datetime
) -> timedelta | None:
    """Time left before the ticket breaches its nearest running target (negative once breached); None
    when neither clock runs."""
    remaining = [
        policy.calendar.between(now, due_at)
        for running, due_at in (
            (first_response_running(facts), due.first_response),
            (resolution_running(facts), due.resolution),
        )
        if running
    ]
    return min(remaining) if remaining else None
