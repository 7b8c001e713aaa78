"""/api/v1/workspace: the current workspace's settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field

from supportdesk.auth.dependencies import Context, ContextDep, allowed
from supportdesk.core.permissions import Action
from supportdesk.core.schemas import (
    Category,
    Integer,
    PatchModel,
    PublishedKeyPattern,
    ResponseModel,
    StrictBoolean,
)
from supportdesk.workspaces import service
from supportdesk.workspaces.models import AssignmentStrategy

router = APIRouter(prefix="/workspace", tags=["workspace"])


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


@router.get("", response_model=WorkspaceOut, summary="The current workspace")
async def get_workspace(context: ContextDep) -> WorkspaceOut:
    return WorkspaceOut.model_validate(await service.get_workspace(context.session, context.workspace_id))


@router.patch("", response_model=WorkspaceOut, summary="Change the workspace's settings (admins)")
async def update_workspace(
    body: WorkspaceUpdate, context: Annotated[Context, Depends(allowed(Action.manage_workspace))]
) -> WorkspaceOut:
    workspace = await service.get_workspace(context.session, context.workspace_id)
    workspace = await service.update_settings(context.session, workspace, body.model_dump(exclude_unset=True))
    await context.session.commit()
    return WorkspaceOut.model_validate(workspace)
