"""Choosing an agent for a ticket: pure rules over a snapshot of the candidates. No I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from supportdesk.core.permissions import Role
from supportdesk.tickets.models import Priority
from supportdesk.workspaces.models import AssignmentStrategy

# Who automatic assignment hands tickets to. Admins run the desk; they take tickets by hand.
ASSIGNABLE_ROLES: tuple[Role, ...] = (Role.agent, Role.senior_agent)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An active, available agent, with what the strategies weigh."""

    id: int
    role: Role
    skills: Sequence[str] = ()
    open_tickets: int = 0
    capacity: int | None = None  # None: no limit
    last_assignment_seq: int = 0


@dataclass(frozen=True, slots=True)
class AssignmentSettings:
    """A workspace's assignment configuration."""

    strategy: AssignmentStrategy = AssignmentStrategy.round_robin
    category_strategies: Mapping[str, AssignmentStrategy] = field(default_factory=dict)
    agent_capacity: int | None = None


def strategy_for(settings: AssignmentSettings, category: str) -> AssignmentStrategy:
    """The strategy for a ticket of ``category``: the category's own, else the workspace's."""
    return settings.category_strategies.get(category, settings.strategy)


def has_room(candidate: Candidate) -> bool:
    """Whether the agent is below their capacity."""
    return candidate.capacity is None or candidate.open_tickets < candidate.capacity


def _preferring(pool: list[Candidate], wanted: Callable[[Candidate], bool]) -> list[Candidate]:
    preferred = [candidate for candidate in pool if wanted(candidate)]
    return preferred or pool


def choose_agent(
    strategy: AssignmentStrategy,
    candidates: Sequence[Candidate],
    *,
    priority: Priority,
    category: str,
) -> int | None:
    """The id of the agent who should take the ticket, or None when nobody can.

    - round robin: whoever was assigned longest ago (ties: lowest id), so N tickets over K agents leave
      nobody more than one ahead;
    - least loaded: fewest open tickets, then round robin;
    - by priority: critical tickets to senior agents, others to agents, each falling back to the rest;
    - by skill: agents whose skills include the category, falling back to the rest.
    Agents at capacity are never chosen.
    """
    pool = [candidate for candidate in candidates if has_room(candidate)]
    if strategy == AssignmentStrategy.by_priority:
        wants_senior = priority == Priority.critical
        pool = _preferring(pool, lambda candidate: (candidate.role == Role.senior_agent) == wants_senior)
    elif strategy == AssignmentStrategy.by_skill:
        pool = _preferring(pool, lambda candidate: category in candidate.skills)
    if not pool:
        return None
    if strategy == AssignmentStrategy.least_loaded:
        return min(pool, key=lambda c: (c.open_tickets, c.last_assignment_seq, c.id)).id
    return min(pool, key=lambda c: (c.last_assignment_seq, c.id)).id
