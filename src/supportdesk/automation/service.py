"""Triggers and macros: keeping them, running triggers on ticket events, applying macros.

Services flush; the caller (request or job) commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import bindparam, case, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.assignment import service as assignment_service
from supportdesk.audit.recorder import ACTOR_KEY, CLOCK_KEY, SYSTEM, act_as
from supportdesk.automation import rules
from supportdesk.automation.models import Macro, Trigger, TriggerEvent
from supportdesk.automation.rules import Action, Condition, TriggerFacts
from supportdesk.core.clock import Clock
from supportdesk.core.errors import Conflict, InvalidInput, SupportdeskError
from supportdesk.core.http import require_version
from supportdesk.core.permissions import Role
from supportdesk.db.lookups import get_in_workspace, name_taken
from supportdesk.notifications import service as notification_service
from supportdesk.notifications.models import NotificationKind
from supportdesk.people import service as people_service
from supportdesk.people.models import Customer, Staff, Tier, User
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Comment, Ticket, TicketStatus
from supportdesk.workspaces import revisions
from supportdesk.workspaces import service as workspace_service

_log = logging.getLogger("supportdesk.automation")
_CONDITIONS = TypeAdapter(list[Condition])
_ACTIONS = TypeAdapter(list[Action])
# Set on the session while triggers run: their own changes never start another run.
_RUNNING_KEY = "automation_running"


class TriggerExists(Conflict):
    code = "trigger-exists"
    title = "Another trigger has this name"


class MacroExists(Conflict):
    code = "macro-exists"
    title = "Another macro has this name"


class MacroOutdated(Conflict):
    code = "macro-outdated"
    title = "The macro's stored actions are no longer valid; edit the macro"


def _dump(items: Sequence[Condition] | Sequence[Action]) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json") for item in items]


# --- checking definitions against the workspace ---------------------------------------------------


async def _check_categories(
    session: AsyncSession,
    workspace_id: int,
    conditions: Sequence[tuple[str, Sequence[Condition]]],
    actions: Sequence[Action],
) -> None:
    named = rules.categories_named(conditions, actions)
    if not named:
        return
    categories = (await workspace_service.get_workspace(session, workspace_id)).categories
    for location, category in named:
        if category not in categories:
            raise InvalidInput(
                location, f"Unknown category; use one of: {', '.join(categories)}.", reason="unknown-category"
            )


async def _active_users(session: AsyncSession, workspace_id: int, user_ids: Sequence[int]) -> dict[int, User]:
    query = select(User).where(
        User.workspace_id == workspace_id, User.id.in_(list(user_ids)), User.is_active.is_(True)
    )
    return {user.id: user for user in (await session.execute(query)).scalars()}


async def _check_people(session: AsyncSession, workspace_id: int, actions: Sequence[Action]) -> None:
    wanted = [
        *(action.agent_id for action in actions if isinstance(action, rules.Assign) and action.agent_id),
        *(user_id for action in actions if isinstance(action, rules.Notify) for user_id in action.user_ids),
    ]
    if not wanted:
        return
    users = await _active_users(session, workspace_id, wanted)
    for index, action in enumerate(actions):
        if isinstance(action, rules.Assign) and action.agent_id is not None:
            agent = users.get(action.agent_id)
            if agent is None:
                raise InvalidInput(
                    f"actions.{index}.agent_id", "No active staff user has this id.", reason="unknown-agent"
                )
            if agent.role is Role.viewer:
                raise InvalidInput(
                    f"actions.{index}.agent_id", "Viewers cannot be assigned tickets.", reason="not-an-agent"
                )
        if isinstance(action, rules.Notify):
            for position, user_id in enumerate(action.user_ids):
                if user_id not in users:
                    raise InvalidInput(
                        f"actions.{index}.user_ids.{position}",
                        "No active staff user has this id.",
                        reason="unknown-user",
                    )


def _check_comment_conditions(event: TriggerEvent, groups: Sequence[tuple[str, Sequence[Condition]]]) -> None:
    for prefix, conditions in groups:
        for index in rules.misplaced_comment_conditions(event, conditions):
            raise InvalidInput(
                f"{prefix}.{index}.field",
                "Only a trigger on the commented event has a comment to look at.",
                reason="no-comment",
            )


async def _check_name(
    session: AsyncSession,
    model: type[Trigger | Macro],
    workspace_id: int,
    name: str,
    except_id: int | None = None,
) -> None:
    if await name_taken(session, model, workspace_id, name, except_id):
        error = TriggerExists if model is Trigger else MacroExists
        raise error(f"Another {model.__tablename__} is called {name!r}")


# --- triggers ------------------------------------------------------------------------------------


# Events in the order they happen to a ticket, for listing.
_EVENT_ORDER = case({event.value: rank for rank, event in enumerate(TriggerEvent)}, value=Trigger.event)


async def list_triggers(session: AsyncSession, *, event: TriggerEvent | None = None) -> list[Trigger]:
    """The workspace's triggers in the order they run."""
    query = select(Trigger).order_by(_EVENT_ORDER, Trigger.position, Trigger.id)
    if event is not None:
        query = query.where(Trigger.event == event)
    return list((await session.execute(query)).scalars())


async def get_trigger(session: AsyncSession, trigger_id: int) -> Trigger:
    """The trigger with ``trigger_id`` in the session's workspace."""
    return await get_in_workspace(session, Trigger, trigger_id, "trigger")


async def create_trigger(
    session: AsyncSession,
    clock: Clock,
    *,
    workspace_id: int,
    name: str,
    event: TriggerEvent,
    actions: Sequence[Action],
    conditions: Sequence[Condition] = (),
    any_conditions: Sequence[Condition] = (),
    is_active: bool = True,
    position: int = 0,
) -> Trigger:
    """Add a trigger; categories and people it names must exist in the workspace."""
    groups = (("conditions", conditions), ("any_conditions", any_conditions))
    _check_comment_conditions(event, groups)
    await _check_categories(session, workspace_id, groups, actions)
    await _check_people(session, workspace_id, actions)
    await _check_name(session, Trigger, workspace_id, name)
    now = clock.now()
    trigger = Trigger(
        workspace_id=workspace_id,
        name=name,
        event=event,
        conditions=_dump(conditions),
        any_conditions=_dump(any_conditions),
        actions=_dump(actions),
        is_active=is_active,
        position=position,
        created_at=now,
        updated_at=now,
    )
    session.add(trigger)
    await session.flush()
    await revisions.bump(session, workspace_id, revisions.Covered.automation)
    return trigger


async def update_trigger(
    session: AsyncSession,
    clock: Clock,
    trigger: Trigger,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> Trigger:
    """Apply a partial update; ``changes`` holds validated values (conditions and actions as models).

    Only what changes is checked against the workspace, so a trigger naming a category that was since
    removed can still be renamed or switched off.
    """
    require_version(trigger.version, expected_version)
    groups = [(key, changes[key]) for key in ("conditions", "any_conditions") if key in changes]
    if "event" in changes or groups:
        event = changes.get("event", trigger.event)
        every_group = [
            (key, changes[key] if key in changes else _CONDITIONS.validate_python(getattr(trigger, key)))
            for key in ("conditions", "any_conditions")
        ]
        _check_comment_conditions(event, every_group)
    actions: Sequence[Action] = changes.get("actions", ())
    await _check_categories(session, trigger.workspace_id, groups, actions)
    await _check_people(session, trigger.workspace_id, actions)
    if "name" in changes and changes["name"] != trigger.name:
        await _check_name(session, Trigger, trigger.workspace_id, changes["name"], except_id=trigger.id)
    for key, value in changes.items():
        setattr(trigger, key, _dump(value) if key in {"conditions", "any_conditions", "actions"} else value)
    if session.sync_session.is_modified(trigger):
        trigger.updated_at = clock.now()
        await revisions.bump(session, trigger.workspace_id, revisions.Covered.automation)
    await session.flush()
    return trigger


async def delete_trigger(session: AsyncSession, trigger: Trigger) -> None:
    """Delete a trigger."""
    await session.delete(trigger)
    await session.flush()
    await revisions.bump(session, trigger.workspace_id, revisions.Covered.automation)


# --- running triggers ----------------------------------------------------------------------------


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
    revision: int
    by_event: Mapping[TriggerEvent, tuple[CompiledTrigger, ...]]


# Per process: workspace id -> its active triggers, parsed, while the workspace's automation revision is
# the one they were read at (workspaces.revisions).
_trigger_sets: dict[int, _TriggerSet] = {}


def _compiled(trigger: Trigger) -> CompiledTrigger | None:
    try:
        return CompiledTrigger(
            id=trigger.id,
            name=trigger.name,
            event=trigger.event,
            conditions=tuple(_CONDITIONS.validate_python(trigger.conditions)),
            any_conditions=tuple(_CONDITIONS.validate_python(trigger.any_conditions)),
            actions=tuple(_ACTIONS.validate_python(trigger.actions)),
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
    cached = _trigger_sets.get(workspace_id)
    if cached is None or cached.revision != revision:
        grouped: dict[TriggerEvent, list[CompiledTrigger]] = {}
        rows = await session.execute(_ACTIVE_TRIGGERS, {"workspace_id": workspace_id})
        for trigger in rows.scalars():
            if (compiled := _compiled(trigger)) is not None:
                grouped.setdefault(compiled.event, []).append(compiled)
        cached = _TriggerSet(revision, {key: tuple(value) for key, value in grouped.items()})
        _trigger_sets[workspace_id] = cached
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
    actor: Staff,
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
                if not rules.conditions_hold(
                    trigger.conditions, ticket_facts(ticket, tier, comment), any_of=trigger.any_conditions
                ):
                    continue
                fired.append(trigger.id)
                message = f'Trigger "{trigger.name}": ticket #{ticket.number} "{ticket.title}"'
                for index, action in enumerate(trigger.actions):
                    try:
                        async with session.begin_nested():
                            await _apply_action(session, clock, ticket, action, actor=actor, message=message)
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
    session: AsyncSession, clock: Clock, ticket: Ticket, name: str, value: Any, *, actor: Staff
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


async def _notify(
    session: AsyncSession, clock: Clock, ticket: Ticket, action: rules.Notify, message: str
) -> None:
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
        active = await _active_users(session, ticket.workspace_id, action.user_ids)
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


async def _apply_action(
    session: AsyncSession, clock: Clock, ticket: Ticket, action: Action, *, actor: Staff, message: str
) -> None:
    match action:
        case rules.SetPriority(value=value):
            await _change(session, clock, ticket, "priority", value, actor=actor)
        case rules.SetStatus(value=value):
            await _change(session, clock, ticket, "status", value, actor=actor)
        case rules.SetCategory(value=value):
            await _change(session, clock, ticket, "category", value, actor=actor)
        case rules.AddTags(tags=tags):
            await _change(
                session, clock, ticket, "tags", list(dict.fromkeys([*ticket.tags, *tags])), actor=actor
            )
        case rules.RemoveTags(tags=tags):
            kept = [tag for tag in ticket.tags if tag not in tags]
            await _change(session, clock, ticket, "tags", kept, actor=actor)
        case rules.Assign(strategy="auto"):
            await _assign_automatically(session, clock, ticket)
        case rules.Assign(agent_id=agent_id):
            await _change(session, clock, ticket, "assigned_agent_id", agent_id, actor=actor)
        case rules.AddNote(content=content):
            # A comment needs an author: notes are written in the name of the user who set things off.
            await ticket_service.add_comment(
                session, clock, ticket, actor=actor, content=content, is_public=False
            )
        case rules.Notify():
            await _notify(session, clock, ticket, action, message)


# --- macros --------------------------------------------------------------------------------------


def _check_not_empty(actions: Sequence[Any], reply: str | None) -> None:
    if not actions and reply is None:
        raise InvalidInput("actions", "A macro needs actions, a reply or both.", reason="empty-macro")


async def list_macros(session: AsyncSession) -> list[Macro]:
    """The workspace's macros by name."""
    return list((await session.execute(select(Macro).order_by(Macro.name, Macro.id))).scalars())


async def get_macro(session: AsyncSession, macro_id: int) -> Macro:
    """The macro with ``macro_id`` in the session's workspace."""
    return await get_in_workspace(session, Macro, macro_id, "macro")


async def create_macro(
    session: AsyncSession,
    clock: Clock,
    *,
    workspace_id: int,
    name: str,
    actions: Sequence[Action] = (),
    reply: str | None = None,
    reply_public: bool = True,
) -> Macro:
    """Add a macro; its reply template was checked by the schema."""
    _check_not_empty(actions, reply)
    await _check_categories(session, workspace_id, (), actions)
    await _check_people(session, workspace_id, actions)
    await _check_name(session, Macro, workspace_id, name)
    now = clock.now()
    macro = Macro(
        workspace_id=workspace_id,
        name=name,
        actions=_dump(actions),
        reply=reply,
        reply_public=reply_public,
        created_at=now,
        updated_at=now,
    )
    session.add(macro)
    await session.flush()
    return macro


async def update_macro(
    session: AsyncSession,
    clock: Clock,
    macro: Macro,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> Macro:
    """Apply a partial update; ``changes`` holds validated values (actions as models)."""
    require_version(macro.version, expected_version)
    actions: Sequence[Action] = changes.get("actions", ())
    _check_not_empty(changes.get("actions", macro.actions), changes.get("reply", macro.reply))
    await _check_categories(session, macro.workspace_id, (), actions)
    await _check_people(session, macro.workspace_id, actions)
    if "name" in changes and changes["name"] != macro.name:
        await _check_name(session, Macro, macro.workspace_id, changes["name"], except_id=macro.id)
    for key, value in changes.items():
        setattr(macro, key, _dump(value) if key == "actions" else value)
    if session.sync_session.is_modified(macro):
        macro.updated_at = clock.now()
    await session.flush()
    return macro


async def delete_macro(session: AsyncSession, macro: Macro) -> None:
    """Delete a macro."""
    await session.delete(macro)
    await session.flush()


async def _reply_values(session: AsyncSession, ticket: Ticket, agent: Staff) -> rules.ReplyValues:
    customer = await session.get(Customer, ticket.customer_id) if ticket.customer_id is not None else None
    return rules.ReplyValues(
        customer_name=(customer.name if customer else None) or "",
        customer_email=(customer.email if customer else ticket.customer_email) or "",
        ticket_number=ticket.number,
        ticket_title=ticket.title,
        agent_name=agent.name,
    )


async def apply_macro(
    session: AsyncSession,
    clock: Clock,
    ticket: Ticket,
    macro: Macro,
    *,
    actor: Staff,
    expected_version: int | None = None,
) -> Ticket:
    """Post the macro's reply as ``actor``, then apply its actions in order; then run the triggers
    as for any reply and change: ``commented`` for the reply, ``updated`` if the actions changed
    the ticket.

    All or nothing: the first action the ticket refuses raises, and the caller does not commit.
    """
    require_version(ticket.version, expected_version)
    if ticket.status is TicketStatus.closed:
        raise ticket_service.TicketClosed()
    try:
        actions = _ACTIONS.validate_python(macro.actions)
    except ValidationError:
        raise MacroOutdated() from None
    reply: Comment | None = None
    if macro.reply is not None:
        try:
            content = rules.render_reply(macro.reply, await _reply_values(session, ticket, actor))
        except rules.ReplyTemplateError as error:
            raise InvalidInput("reply", error.message, reason=error.reason) from None
        if not content.strip():
            raise InvalidInput("reply", "The reply is empty for this ticket.", reason="empty-reply")
        reply = await ticket_service.add_comment(
            session, clock, ticket, actor=actor, content=content, is_public=macro.reply_public
        )
    version = ticket.version
    message = f'{actor.name} applied "{macro.name}" to ticket #{ticket.number} "{ticket.title}"'
    for action in actions:
        await _apply_action(session, clock, ticket, action, actor=actor, message=message)
    # A macro is a way to reply and change a ticket, not a way around the workspace's triggers.
    if reply is not None:
        await run_triggers(session, clock, ticket, TriggerEvent.commented, actor=actor, comment=reply)
    if ticket.version != version:
        await run_triggers(session, clock, ticket, TriggerEvent.updated, actor=actor)
    return ticket
