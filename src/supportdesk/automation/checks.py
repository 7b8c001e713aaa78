"""Trigger and macro definitions against the workspace: what is checked before one is saved, shared by
triggers and macros, and the JSON form they are stored in. Flushes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.automation.actions import Action, Assign, Notify, categories_named
from supportdesk.automation.conditions import Condition, misplaced_comment_conditions
from supportdesk.automation.models import Macro, Trigger, TriggerEvent
from supportdesk.core.errors import Conflict, InvalidInput
from supportdesk.core.permissions import Role
from supportdesk.db.lookups import name_taken
from supportdesk.people.models import User
from supportdesk.workspaces import service as workspace_service

# Stored conditions and actions are read back through these; they were validated when saved.
CONDITIONS = TypeAdapter(list[Condition])
ACTIONS = TypeAdapter(list[Action])


def dump(items: Sequence[Condition] | Sequence[Action]) -> list[dict[str, Any]]:
    """Conditions or actions in the JSON form they are stored in."""
    return [item.model_dump(mode="json") for item in items]


async def check_categories(
    session: AsyncSession,
    workspace_id: int,
    conditions: Sequence[tuple[str, Sequence[Condition]]],
    actions: Sequence[Action],
) -> None:
    """Refuse a category the conditions (``(location, group)`` pairs) or actions name that the workspace
    does not have."""
    named = categories_named(conditions, actions)
    if not named:
        return
    categories = (await workspace_service.get_workspace(session, workspace_id)).categories
    for location, category in named:
        if category not in categories:
            raise InvalidInput(
                location, f"Unknown category; use one of: {', '.join(categories)}.", reason="unknown-category"
            )


async def active_users(session: AsyncSession, workspace_id: int, user_ids: Sequence[int]) -> dict[int, User]:
    """The active staff users among ``user_ids``, by id."""
    query = select(User).where(
        User.workspace_id == workspace_id, User.id.in_(list(user_ids)), User.is_active.is_(True)
    )
    return {user.id: user for user in (await session.execute(query)).scalars()}


async def check_people(session: AsyncSession, workspace_id: int, actions: Sequence[Action]) -> None:
    """Refuse an action that assigns to, or notifies, someone who is not an active staff user (or
    assigns to a viewer)."""
    wanted = [
        *(action.agent_id for action in actions if isinstance(action, Assign) and action.agent_id),
        *(user_id for action in actions if isinstance(action, Notify) for user_id in action.user_ids),
    ]
    if not wanted:
        return
    users = await active_users(session, workspace_id, wanted)
    for index, action in enumerate(actions):
        if isinstance(action, Assign) and action.agent_id is not None:
            agent = users.get(action.agent_id)
            if agent is None:
                raise InvalidInput(
                    f"actions.{index}.agent_id", "No active staff user has this id.", reason="unknown-agent"
                )
            if agent.role == Role.viewer:
                raise InvalidInput(
                    f"actions.{index}.agent_id", "Viewers cannot be assigned tickets.", reason="not-an-agent"
                )
        if isinstance(action, Notify):
            for position, user_id in enumerate(action.user_ids):
                if user_id not in users:
                    raise InvalidInput(
                        f"actions.{index}.user_ids.{position}",
                        "No active staff user has this id.",
                        reason="unknown-user",
                    )


def check_comment_conditions(event: TriggerEvent, groups: Sequence[tuple[str, Sequence[Condition]]]) -> None:
    """Refuse a condition on the comment's text in a trigger that does not run on a comment."""
    for prefix, conditions in groups:
        for index in misplaced_comment_conditions(event, conditions):
            raise InvalidInput(
                f"{prefix}.{index}.field",
                "Only a trigger on the commented event has a comment to look at.",
                reason="no-comment",
            )


async def check_name(
    session: AsyncSession,
    model: type[Trigger | Macro],
    workspace_id: int,
    name: str,
    error: type[Conflict],
    except_id: int | None = None,
) -> None:
    """Refuse with ``error`` a name another trigger (or macro) of the workspace already has."""
    if await name_taken(session, model, workspace_id, name, except_id):
        raise error(f"Another {model.__tablename__} is called {name!r}")
