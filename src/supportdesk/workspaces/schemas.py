"""Request and response bodies of the workspace API."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from supportdesk.core.schemas import (
    Category,
    Integer,
    PatchModel,
    PublishedKeyPattern,
    ResponseModel,
    StrictBoolean,
)
from supportdesk.workspaces.models import AssignmentStrategy

Days = Annotated[int, Integer(ge=1, le=3650)]


class WorkspaceOut(ResponseModel):
    id: int
    slug: str
    name: str
    categories: list[str]
    auto_assign: bool
    assignment_strategy: AssignmentStrategy
    category_strategies: dict[str, AssignmentStrategy]
    agent_capacity: int | None
    escalation_delay_minutes: int
    auto_close_after_days: int | None
    pending_reminder_after_days: int | None


class WorkspaceUpdate(PatchModel):
    """The settings to change; the others keep their values. ``null`` turns a limit or automation off."""

    __nullable__ = frozenset({"agent_capacity", "auto_close_after_days", "pending_reminder_after_days"})

    categories: Annotated[list[Category], Field(min_length=1, max_length=100)] | None = None
    auto_assign: StrictBoolean | None = None
    assignment_strategy: AssignmentStrategy | None = None
    category_strategies: (
        Annotated[dict[Category, AssignmentStrategy], Field(max_length=100), PublishedKeyPattern()] | None
    ) = None
    agent_capacity: Annotated[int, Integer(ge=1, le=10_000)] | None = None
    escalation_delay_minutes: Annotated[int, Integer(ge=0, le=525_600)] | None = None
    auto_close_after_days: Days | None = None
    pending_reminder_after_days: Days | None = None
