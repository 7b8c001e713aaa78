"""Running triggers on ticket events, and applying the actions of triggers and macros to a ticket.

The active triggers of a workspace are kept parsed in the database's caches while its automation
revision holds. Actions change the ticket through the ticket service, so its rules and the audit trail
apply. Flushes; the caller (request or job) commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.assignment import service as assignment_service
from supportdesk.audit.recorder import ACTOR_KEY, CLOCK_KEY, SYSTEM, act_as
from supportdesk.automation import checks
from supportdesk.automation.actions import (
    Action,
    AddNote,
    AddTags,
    Assign,
    Notify,
    RemoveTags,
    SetCategory,
    SetPriority,
    SetStatus,
)
from supportdesk.automation.conditions import Condition, TriggerFacts, conditions_hold
from supportdesk.automation.models import Trigger, TriggerEvent
from supportdesk.core.clock import Clock
from supportdesk.core.errors import SupportdeskError
from supportdesk.db.caches import CacheKey, caches_of
from supportdesk.notifications import service as notification_service
from supportdesk.notifications.models import NotificationKind
from supportdesk.people import service as people_service
from supportdesk.people.models import Staff, Tier, User
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Comment, Ticket
from supportdesk.workspaces import revisions

# Named for the package rather than this module: log settings and tests pick automation's messages by it.
_log = logging.getLogger("supportdesk.automation")
# Set on the session while triggers run: their own changes never start another run.
_RUNNING_KEY = "automation_running"


def ticket_facts(ticket: Ticket, tier: Tier | None, comment: Comment | None = None) -> TriggerFacts:
    """What conditions see of ``ticket`` now (its tags must be loaded)."""
    return TriggerFacts(
        priority=ticket.priority,
        status=ticket.status,
        category=ticket.category,
        tier=tier,
        tags=frozenset(ticket.tags),
        channel=ticket.channel,
        title=ticket.title,
        description=ticket.description,
        comment=comment.content if comment is not None else None,
    )


@contextmanager
def _changes_by_automation(session: AsyncSession, clock: Clock) -> Iterator[None]:
    # A trigger's changes are the system's, not those of the user whose request set it off: the audit
    # trail then tells a person's edits from the automation's.
    info = session.sync_session.info
    saved = {key: info[key] for key in (ACTOR_KEY, CLOCK_KEY) if key in info}
    act_as(session.sync_session, SYSTEM, clock)
    try:
        yield
    finally:
        info.pop(ACTOR_KEY, None)
        info.pop(CLOCK_KEY, None)
        info.update(saved)


@dataclass(frozen=True, slots=True)
class CompiledTrigger:
    """An active trigger with its rules parsed, as the process keeps it between requests."""

    id: int
    name: str
    event: TriggerEvent
    conditions: tuple[Condition, ...]
    any_conditions: tuple[Condition, ...]
    actions: tuple[Action, ...]


@dataclass(frozen=True, slots=True)
class _TriggerSet:
    by_event: Mapping[TriggerEvent, tuple[CompiledTrigger, ...]]


# Per database (db.caches): workspace id -> its active triggers, parsed, while the workspace's automation
# revision is the one they were read at (workspaces.revisions).
TRIGGER_SETS: CacheKey[_TriggerSet] = CacheKey("trigger_sets")


def _compiled(trigger: Trigger) -> CompiledTrigger | None:
    try:
        return CompiledTrigger(
            id=trigger.id,
            name=trigger.name,
            event=trigger.event,
            conditions=tuple(checks.CONDITIONS.validate_python(trigger.conditions)),
            any_conditions=tuple(checks.CONDITIONS.validate_python(trigger.any_conditions)),
            actions=tuple(checks.ACTIONS.validate_python(trigger.actions)),
        )
    except ValidationError as error:
        # Stored rules are validated when saved; this only guards against rows older than a rule change.
        _log.warning("trigger %d (%s) is no longer valid; skipped: %s", trigger.id, trigger.name, error)
        return None


# The workspace is named even though scoped sessions add it: jobs and tools may run unscoped.
_ACTIVE_TRIGGERS = (
    select(Trigger)
    .where(Trigger.workspace_id == bindparam("workspace_id"), Trigger.is_active.is_(True))
    .order_by(Trigger.event, Trigger.position, Trigger.id)
)


async def active_triggers(
    session: AsyncSession, workspace_id: int, event: TriggerEvent
) -> tuple[CompiledTrigger, ...]:
    """The workspace's active, valid triggers for ``event``, in the order they run (position, then id);
    read from the database only when they changed since this process last read them."""
    revision = (await revisions.current(session, workspace_id)).automation
    cache = caches_of(session).revision_cache(TRIGGER_SETS)
    cached = cache.get(workspace_id, revision)
    if cached is None:
        grouped: dict[TriggerEvent, list[CompiledTrigger]] = {}
        rows = await session.execute(_ACTIVE_TRIGGERS, {"workspace_id": workspace_id})
        for trigger in rows.scalars():
            if (compiled := _compiled(trigger)) is not None:
                grouped.setdefault(compiled.event, []).append(compiled)
        cached = _TriggerSet({key: tuple(value) for key, value in grouped.items()})
        cache.put(workspace_id, revision, cached)
    return cached.by_event.get(event, ())


async def _reload(session: AsyncSession, ticket: Ticket) -> None:
    # Rolling back a savepoint expires what changed inside it; load it again, tags included (they are
    # lazy="raise" and would not load on access).
    state = inspect(ticket)
    if state.expired_attributes:
        columns = [attribute.key for attribute in state.mapper.column_attrs]
        await session.refresh(ticket, attribute_names=[*columns, "tag_rows"])


async def run_triggers(
    session: AsyncSession,
    clock: Clock,
    ticket: Ticket,
    event: TriggerEvent,
    *,
    actor: Staff | None,
    comment: Comment | None = None,
) -> list[int]:
    """Run the workspace's active triggers for ``event`` on ``ticket``, in position order (then id);
    returns the ids of those whose conditions held.

    One pass: each trigger sees the ticket as the triggers before it left it, and what the actions
    change never runs triggers again. An action the ticket refuses (an impossible status change, a
    deactivated agent...) is skipped and logged; the others still apply and the caller's request
    goes on. Changes are applied through the ticket service, so its rules and the audit trail apply;
    the audit trail names the system as their author. ``ticket`` needs its tags loaded (as
    ``get_ticket`` and ``create_ticket`` leave it).
    """
    if session.info.get(_RUNNING_KEY):
        return []
    triggers = await active_triggers(session, ticket.workspace_id, event)
    if not triggers:
        return []
    tier = await people_service.customer_tier(session, ticket.customer_id)
    fired: list[int] = []
    session.info[_RUNNING_KEY] = True
    try:
        with _changes_by_automation(session, clock):
            for trigger in triggers:
                if not conditions_hold(
                    trigger.conditions, ticket_facts(ticket, tier, comment), any_of=trigger.any_conditions
                ):
                    continue
                fired.append(trigger.id)
                message = f'Trigger "{trigger.name}": ticket #{ticket.number} "{ticket.title}"'
                for index, action in enumerate(trigger.actions):
                    try:
                        async with session.begin_nested():
                            await apply_action(session, clock, ticket, action, actor=actor, message=message)
                    except SupportdeskError as error:
                        _log.warning(
                            "trigger %d (%s) skipped action %d (%s) on ticket %d: %s: %s",
                            trigger.id,
                            trigger.name,
                            index,
                            action.type,
                            ticket.id,
                            error.code,
                            error.detail,
                        )
                        await _reload(session, ticket)
    finally:
        session.info.pop(_RUNNING_KEY, None)
    return fired


# --- actions -------------------------------------------------------------------------------------


async def _change(
    session: AsyncSession, clock: Clock, ticket: Ticket, name: str, value: Any, *, actor: Staff | None
) -> None:
    current = ticket.tags if name == "tags" else getattr(ticket, name)
    if (sorted(value) if name == "tags" else value) == current:
        return  # nothing to do; a closed ticket is not refused for it
    await ticket_service.update_ticket(session, clock, ticket, {name: value}, actor=actor)


async def _assign_automatically(session: AsyncSession, clock: Clock, ticket: Ticket) -> None:
    if ticket.assigned_agent_id is not None:
        return  # automatic assignment fills the queue; it does not take tickets from their agents
    if await assignment_service.assign_automatically(session, clock, ticket) is None:
        _log.info("no agent was available to take ticket %d", ticket.id)


async def _notify(session: AsyncSession, clock: Clock, ticket: Ticket, action: Notify, message: str) -> None:
    recipients: dict[int, None] = {}
    if action.assignee and ticket.assigned_agent_id is not None:
        recipients[ticket.assigned_agent_id] = None
    if action.roles:
        query = (
            select(User.id)
            .where(
                User.workspace_id == ticket.workspace_id,
                User.is_active.is_(True),
                User.role.in_(list(action.roles)),
            )
            .order_by(User.id)
        )
        recipients.update(dict.fromkeys((await session.execute(query)).scalars()))
    if action.user_ids:
        # People deactivated since the rule was saved are left out.
        active = await checks.active_users(session, ticket.workspace_id, action.user_ids)
        recipients.update(dict.fromkeys(user_id for user_id in action.user_ids if user_id in active))
    notes = [
        notification_service.Note(
            user_id=user_id,
            kind=NotificationKind.trigger,
            message=action.message or message,
            ticket_id=ticket.id,
            priority=ticket.priority.value,
        )
        for user_id in recipients
    ]
    await notification_service.record(session, clock, ticket.workspace_id, notes)


async def apply_action(
    session: AsyncSession, clock: Clock, ticket: Ticket, action: Action, *, actor: Staff | None, message: str
) -> None:
    """Apply one action to ``ticket`` in ``actor``'s name; ``message`` is what a notification says when
    the action gives no message of its own. Raises what the ticket refuses."""
    match action:
        case SetPriority(value=value):
            await _change(session, clock, ticket, "priority", value, actor=actor)
        case SetStatus(value=value):
            await _change(session, clock, ticket, "status", value, actor=actor)
        case SetCategory(value=value):
            await _change(session, clock, ticket, "category", value, actor=actor)
        case AddTags(tags=tags):
            await _change(
                session, clock, ticket, "tags", list(dict.fromkeys([*ticket.tags, *tags])), actor=actor
            )
        case RemoveTags(tags=tags):
            kept = [tag for tag in ticket.tags if tag not in tags]
            await _change(session, clock, ticket, "tags", kept, actor=actor)
        case Assign(strategy="auto"):
            await _assign_automatically(session, clock, ticket)
        case Assign(agent_id=agent_id):
            await _change(session, clock, ticket, "assigned_agent_id", agent_id, actor=actor)
        case AddNote(content=content):
            # Notes are written in the name of the user who set things off, or the desk's own when mail
            # or a visitor did.
            await ticket_service.add_comment(
                session, clock, ticket, actor=actor, content=content, is_public=False
            )
        case Notify():
            await _notify(session, clock, ticket, action, message)
