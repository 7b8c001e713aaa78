"""/api/v1/workspace: the current workspace's settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field

from supportdesk.auth.dependencies import Context, ContextDep, allowed
from supportdesk.core.permissions import Action
from supportdesk.core.schemas import Category, RequestModel, ResponseModel
from supportdesk.workspaces import service

router = APIRouter(prefix="/workspace", tags=["workspace"])


class WorkspaceOut(ResponseModel):
    id: int
    slug: str
    name: str
    categories: list[str]


class WorkspaceUpdate(RequestModel):
    categories: Annotated[list[Category], Field(min_length=1, max_length=100)]


@router.get("", response_model=WorkspaceOut, summary="The current workspace")
async def get_workspace(context: ContextDep) -> WorkspaceOut:
    return WorkspaceOut.model_validate(await service.get_workspace(context.session, context.workspace_id))


@router.patch("", response_model=WorkspaceOut, summary="Change the workspace's settings (admins)")
async def update_workspace(
    body: WorkspaceUpdate, context: Annotated[Context, Depends(allowed(Action.manage_workspace))]
) -> WorkspaceOut:
    workspace = await service.get_workspace(context.session, context.workspace_id)
    workspace = await service.set_categories(context.session, workspace, body.categories)
    await context.session.commit()
    return WorkspaceOut.model_validate(workspace)
