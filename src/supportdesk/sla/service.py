"""SLA upkeep: loading a workspace's policies, keeping ticket due times current, finding breaches."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from supportdesk.core.pagination import after_cursor, decode_cursor_as, encode_cursor, split_page
from supportdesk.db.caches import CacheKey, caches_of
from supportdesk.people.models import Customer, Tier
from supportdesk.sla import rules
from supportdesk.sla.calendar import CALENDAR_TIME, Calendar, business_hours, parse_clock_time
from supportdesk.sla.models import BusinessCalendar, SlaPolicy
from supportdesk.tickets.models import (
    ListedTicket,
    Priority,
    Ticket,
    TicketStatus,
    first_response_running,
    resolution_running,
)
from supportdesk.workspaces import revisions

WEEKDAYS: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def calendar_from_row(row: BusinessCalendar) -> Calendar:
    """The calendar a stored row describes (the row was validated when it was saved)."""
    weekly = {
        WEEKDAYS.index(day): [(parse_clock_time(start), parse_clock_time(end)) for start, end in intervals]
        for day, intervals in row.weekly_hours.items()
    }
    return business_hours(
        row.timezone,
        weekly,
        holiday_country=row.holiday_country,
        holiday_subdivision=row.holiday_subdivision,
        custom_holidays=[date.fromisoformat(day) for day in row.custom_holidays],
    )


def _minutes(stored: dict[str, Any]) -> dict[Priority, int]:
    return {Priority(key): int(value) for key, value in stored.items()}


def policy_from_row(row: SlaPolicy, calendars: dict[int, Calendar]) -> rules.Policy:
    """The rules' view of a stored policy."""
    return rules.Policy(
        id=row.id,
        tier=row.tier,
        category=row.category,
        first_response_minutes=_minutes(row.first_response_minutes),
        resolution_minutes=_minutes(row.resolution_minutes),
        calendar=calendars[row.calendar_id] if row.calendar_id is not None else CALENDAR_TIME,
    )


@dataclass(frozen=True, slots=True)
class SlaSetup:
    """A workspace's policies at one revision, ready for the rules."""

    revision: int
    policies: tuple[rules.Policy, ...] = ()
    by_id: dict[int, rules.Policy] = field(default_factory=dict)
    # (tier, category) -> the policy that applies: the setup lives as long as its revision, and a
    # workspace has few tiers and categories.
    matches: dict[tuple[Tier | None, str], rules.Policy] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def uses_tiers(self) -> bool:
        """Whether any policy is scoped by customer tier (else nobody needs to look the tier up)."""
        return any(policy.tier is not None for policy in self.policies)

    def match(self, tier: Tier | None, category: str) -> rules.Policy:
        """The policy for a ticket of a ``tier`` customer in ``category``."""
        key = (tier, category)
        policy = self.matches.get(key)
        if policy is None:
            policy = self.matches[key] = rules.match_policy(self.policies, tier, category)
        return policy

    def policy_of(self, ticket: Ticket | ListedTicket) -> rules.Policy:
        """The policy the ticket's due times came from."""
        if ticket.sla_policy_id is None:
            return rules.DEFAULT_POLICY
        return self.by_id.get(ticket.sla_policy_id, rules.DEFAULT_POLICY)


# Per database (db.caches): workspace id -> its setup. A setup is only used while its revision is the
# workspace's, so every process notices a change at its next read of the revision (workspaces.revisions).
SETUPS: CacheKey[SlaSetup] = CacheKey("sla_setups")


async def load_setup(session: AsyncSession, workspace_id: int) -> SlaSetup:
    """The workspace's policies, from this process's cache while they are current."""
    known = revisions.known(session, workspace_id)
    if known is not None:
        # Most calls find the revision read and the setup kept, and so skip the trip into the
        # synchronous session (a greenlet switch) that reading either would take.
        setup = _kept_setup(session, workspace_id, known.sla)
        if setup is not None:
            return setup
    return await session.run_sync(load_setup_sync, workspace_id)


def load_setup_sync(session: Session, workspace_id: int) -> SlaSetup:
    """:func:`load_setup` for code on the synchronous session, such as a flush's hooks: the same cache,
    checked against the same revision of the unit of work."""
    revision = revisions.current_sync(session, workspace_id).sla
    setup = _kept_setup(session, workspace_id, revision)
    if setup is None:
        setup = read_setup(session, workspace_id, revision)
        caches_of(session).revision_cache(SETUPS).put(workspace_id, revision, setup)
    return setup


def _kept_setup(session: AsyncSession | Session, workspace_id: int, revision: int) -> SlaSetup | None:
    return caches_of(session).revision_cache(SETUPS).get(workspace_id, revision)


def read_setup(session: Session, workspace_id: int, revision: int) -> SlaSetup:
    """The workspace's calendars and policies, read now through a synchronous session: the one reader
    behind the cached loader and behind a flush, which cannot await it."""
    # The workspace is named even though scoped sessions add it: jobs and tools may run unscoped.
    calendar_rows = session.scalars(
        select(BusinessCalendar).where(BusinessCalendar.workspace_id == workspace_id)
    )
    calendars = {row.id: calendar_from_row(row) for row in calendar_rows}
    policy_rows = session.scalars(
        select(SlaPolicy).where(SlaPolicy.workspace_id == workspace_id).order_by(SlaPolicy.id)
    )
    policies = tuple(policy_from_row(row, calendars) for row in policy_rows)
    return SlaSetup(
        revision=revision,
        policies=policies,
        by_id={policy.id: policy for policy in policies if policy.id is not None},
    )


async def bump_revision(session: AsyncSession, workspace_id: int) -> None:
    """Mark every process's cached setup of the workspace stale."""
    await revisions.bump(session, workspace_id, revisions.Covered.sla)


# The ticket columns an SLA view is computed from (facts_of, policy_of, sla_view): a list page reads them
# beside the columns of the ticket's own view (tickets.models.ListedTicket).
VIEW_COLUMNS = (
    "priority",
    "status",
    "created_at",
    "first_responded_at",
    "resolved_at",
    "closed_at",
    "sla_paused_at",
    "sla_paused_seconds",
    "sla_policy_id",
    "first_response_due_at",
    "first_response_at_risk_at",
    "resolution_due_at",
    "resolution_at_risk_at",
)


def facts_of(ticket: Ticket | ListedTicket) -> rules.ClockFacts:
    """The rules' view of a ticket's clocks."""
    return rules.ClockFacts(
        priority=ticket.priority,
        status=ticket.status,
        created_at=ticket.created_at,
        first_responded_at=ticket.first_responded_at,
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
        paused_at=ticket.sla_paused_at,
        paused_seconds=ticket.sla_paused_seconds or 0,
    )


def due_fields(setup: SlaSetup, tier: Tier | None, category: str, facts: rules.ClockFacts) -> dict[str, Any]:
    """The ticket columns the matching policy sets: the policy and the due and at-risk times."""
    policy = setup.match(tier, category)
    due = rules.due_times(facts, policy)
    return {
        "sla_policy_id": policy.id,
        "first_response_due_at": due.first_response,
        "resolution_due_at": due.resolution,
        "first_response_at_risk_at": due.first_response_at_risk,
        "resolution_at_risk_at": due.resolution_at_risk,
    }


def refresh_due_times(ticket: Ticket, setup: SlaSetup, tier: Tier | None) -> None:
    """Choose the ticket's policy and set its due times. A due time that moves resets its breach notice."""
    fields = due_fields(setup, tier, ticket.category, facts_of(ticket))
    if ticket.first_response_due_at != fields["first_response_due_at"]:
        ticket.first_response_breach_notified_at = None
    if ticket.resolution_due_at != fields["resolution_due_at"]:
        ticket.resolution_breach_notified_at = None
    for key, value in fields.items():
        setattr(ticket, key, value)


def track_status_change(ticket: Ticket, before: TicketStatus, setup: SlaSetup, now: datetime) -> None:
    """Pause or resume the resolution clock for a status change already applied to ``ticket``; an agent
    taking the ticket into progress counts as its first response."""
    if ticket.status == TicketStatus.in_progress and ticket.first_responded_at is None:
        ticket.first_responded_at = now
    policy = setup.policy_of(ticket)
    pause = rules.pause_after_status_change(
        before,
        ticket.status,
        rules.Pause(ticket.sla_paused_at, ticket.sla_paused_seconds or 0),
        policy.calendar,
        now,
    )
    ticket.sla_paused_at = pause.paused_at
    ticket.sla_paused_seconds = pause.paused_seconds
    if ticket.status == TicketStatus.pending:
        ticket.pending_reminded_at = None


RECOMPUTE_BATCH = 500


async def recompute_due_times(session: AsyncSession, workspace_id: int) -> int:
    """Re-match and recompute every ticket still in play (not closed).

    Runs after a policy or calendar change; returns how many tickets it saw. (A customer's tier change
    re-times that customer's tickets inside the flush that makes it: ``sla.clocks``.)
    """
    setup = await load_setup(session, workspace_id)
    query = (
        select(Ticket, Customer.tier)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
        .where(Ticket.status != TicketStatus.closed)
        .order_by(Ticket.id)
    )
    seen = 0
    last_id = 0
    while True:
        batch = (await session.execute(query.where(Ticket.id > last_id).limit(RECOMPUTE_BATCH))).all()
        if not batch:
            return seen
        for ticket, tier in batch:
            refresh_due_times(ticket, setup, tier)
        await session.flush()
        seen += len(batch)
        last_id = batch[-1][0].id


@dataclass(frozen=True, slots=True)
class SlaView:
    """A ticket's SLA as the API shows it."""

    policy_id: int | None
    first_response: rules.TargetStatus | None
    resolution: rules.TargetStatus | None


def sla_view(ticket: Ticket | ListedTicket, setup: SlaSetup, now: datetime) -> SlaView:
    """Each target's due time, time remaining and state at ``now``."""
    policy = setup.policy_of(ticket)
    facts = facts_of(ticket)
    return SlaView(
        policy_id=ticket.sla_policy_id,
        first_response=rules.first_response_status(
            facts,
            ticket.first_response_due_at,
            policy,
            now,
            at_risk_from=ticket.first_response_at_risk_at,
        ),
        resolution=rules.resolution_status(
            facts, ticket.resolution_due_at, policy, now, at_risk_from=ticket.resolution_at_risk_at
        ),
    )


# What the breach scan and the list filters ask, built from the same running-clock expressions as the
# partial indexes, so the planner can answer from those indexes alone.
def first_response_breached(now: datetime) -> Any:
    return and_(first_response_running(), Ticket.first_response_due_at < now)


def resolution_breached(now: datetime) -> Any:
    return and_(resolution_running(), Ticket.resolution_due_at < now)


def sla_breached(now: datetime) -> Any:
    """Either running clock is past its due time."""
    return or_(first_response_breached(now), resolution_breached(now))


def sla_at_risk(now: datetime) -> Any:
    """A running clock has less than a quarter of its target left, but is not breached yet."""
    return or_(
        and_(
            first_response_running(),
            Ticket.first_response_at_risk_at < now,
            Ticket.first_response_due_at >= now,
        ),
        and_(resolution_running(), Ticket.resolution_at_risk_at < now, Ticket.resolution_due_at >= now),
    )


class SlaFilter(StrEnum):
    """The SLA states a ticket list can be narrowed to."""

    breached = "breached"
    at_risk = "at_risk"


def sla_condition(state: SlaFilter, now: datetime) -> Any:
    """Tickets whose running SLA targets are in ``state`` at ``now``, as a condition on the ticket table."""
    return sla_breached(now) if state == SlaFilter.breached else sla_at_risk(now)


class BreachTarget(StrEnum):
    """Which running target a breach scan looks at."""

    any = "any"
    first_response = "first_response"
    resolution = "resolution"


@dataclass(slots=True)
class BreachPage:
    items: list[Ticket]
    next_cursor: str | None


_BREACH_ORDER = {
    BreachTarget.first_response: Ticket.first_response_due_at,
    BreachTarget.resolution: Ticket.resolution_due_at,
}


def breach_query(now: datetime, target: BreachTarget) -> Select[Ticket]:
    """Tickets whose ``target`` (or any running target) is breached at ``now``."""
    condition = {
        BreachTarget.first_response: first_response_breached,
        BreachTarget.resolution: resolution_breached,
    }.get(target, sla_breached)(now)
    return select(Ticket).where(condition)


async def find_sla_breaches(
    session: AsyncSession,
    now: datetime,
    *,
    target: BreachTarget = BreachTarget.any,
    limit: int = 50,
    cursor: str | None = None,
) -> BreachPage:
    """Breached tickets of the workspace: most overdue first for one target, newest first for any."""
    query = breach_query(now, target)
    due_column = _BREACH_ORDER.get(target)
    sort_key = f"sla-{target}"
    if due_column is not None:
        if cursor is not None:
            value, row_id = decode_cursor_as(cursor, sort_key, datetime)
            query = query.where(after_cursor(due_column, Ticket.id, value, row_id, descending=False))
        query = query.order_by(due_column.asc(), Ticket.id.asc())
    else:
        if cursor is not None:
            _, row_id = decode_cursor_as(cursor, sort_key, int)
            query = query.where(Ticket.id < row_id)
        query = query.order_by(Ticket.id.desc())
    rows = list((await session.execute(query.limit(limit + 1))).scalars())

    def next_cursor(last: Ticket) -> str:
        if due_column is not None:
            return encode_cursor(sort_key, getattr(last, due_column.key), last.id)
        return encode_cursor(sort_key, last.id, last.id)

    items, cursor_out = split_page(rows, limit, next_cursor)
    return BreachPage(items, cursor_out)
