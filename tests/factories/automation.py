"""Factories for triggers and macros; conditions and actions are given in their JSON shape."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from pydantic import TypeAdapter

from supportdesk.automation import macros as automation_macros
from supportdesk.automation import triggers as automation_triggers
from supportdesk.automation.actions import Action
from supportdesk.automation.conditions import Condition
from supportdesk.automation.models import Macro, Trigger, TriggerEvent
from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.workspaces.models import Workspace

TriggerFactory = Callable[..., Awaitable[Trigger]]
MacroFactory = Callable[..., Awaitable[Macro]]
_counter = itertools.count(1)
_conditions = TypeAdapter(list[Condition])
_actions = TypeAdapter(list[Action])
JSON = dict[str, Any]


@pytest.fixture
def trigger_factory(database: Database, clock: FrozenClock, workspace: Workspace) -> TriggerFactory:
    """Make a trigger: ``await trigger_factory(event=TriggerEvent.commented, conditions=[{...}])``."""

    async def make(
        *,
        workspace: Workspace = workspace,
        name: str | None = None,
        event: TriggerEvent = TriggerEvent.created,
        conditions: Sequence[JSON] = (),
        any_conditions: Sequence[JSON] = (),
        actions: Sequence[JSON] = ({"type": "add_tags", "tags": ["triggered"]},),
        is_active: bool = True,
        position: int = 0,
    ) -> Trigger:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            return await automation_triggers.create_trigger(
                session,
                clock,
                workspace_id=workspace.id,
                name=name or f"Trigger {next(_counter)}",
                event=event,
                conditions=_conditions.validate_python(list(conditions)),
                any_conditions=_conditions.validate_python(list(any_conditions)),
                actions=_actions.validate_python(list(actions)),
                is_active=is_active,
                position=position,
            )

    return make


@pytest.fixture
def macro_factory(database: Database, clock: FrozenClock, workspace: Workspace) -> MacroFactory:
    """Make a macro: ``await macro_factory(actions=[{...}], reply="Hi {{ customer.name }}")``."""

    async def make(
        *,
        workspace: Workspace = workspace,
        name: str | None = None,
        actions: Sequence[JSON] = ({"type": "add_tags", "tags": ["macro"]},),
        reply: str | None = None,
        reply_public: bool = True,
    ) -> Macro:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            return await automation_macros.create_macro(
                session,
                clock,
                workspace_id=workspace.id,
                name=name or f"Macro {next(_counter)}",
                actions=_actions.validate_python(list(actions)),
                reply=reply,
                reply_public=reply_public,
            )

    return make
