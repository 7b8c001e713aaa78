"""Keeping triggers: listing, reading, adding, changing and deleting them. Every change bumps the
workspace's automation revision, so the engine reads the active triggers again.

Services flush; the caller (request or job) commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.automation import checks
from supportdesk.automation.actions import Action
from supportdesk.automation.conditions import Condition
from supportdesk.automation.models import Trigger, TriggerEvent
from supportdesk.core.clock import Clock
from supportdesk.core.errors import Conflict
from supportdesk.core.http import require_version
from supportdesk.db.lookups import get_in_workspace
from supportdesk.workspaces import revisions


class TriggerExists(Conflict):
    code = "trigger-exists"
    title = "Another trigger has this name"


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
    checks.check_comment_conditions(event, groups)
    await checks.check_categories(session, workspace_id, groups, actions)
    await checks.check_people(session, workspace_id, actions)
    await checks.check_name(session, Trigger, workspace_id, name, TriggerExists)
    now = clock.now()
    trigger = Trigger(
        workspace_id=workspace_id,
        name=name,
        event=event,
        conditions=checks.dump(conditions),
        any_conditions=checks.dump(any_conditions),
        actions=checks.dump(actions),
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
            (
                key,
                changes[key] if key in changes else checks.CONDITIONS.validate_python(getattr(trigger, key)),
            )
            for key in ("conditions", "any_conditions")
        ]
        checks.check_comment_conditions(event, every_group)
    actions: Sequence[Action] = changes.get("actions", ())
    await checks.check_categories(session, trigger.workspace_id, groups, actions)
    await checks.check_people(session, trigger.workspace_id, actions)
    if "name" in changes and changes["name"] != trigger.name:
        await checks.check_name(
            session, Trigger, trigger.workspace_id, changes["name"], TriggerExists, except_id=trigger.id
        )
    for key, value in changes.items():
        stored = checks.dump(value) if key in {"conditions", "any_conditions", "actions"} else value
        setattr(trigger, key, stored)
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
