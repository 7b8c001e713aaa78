"""/api/v1/workspace: the current workspace's settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from supportdesk.auth.dependencies import Context, ContextDep, allowed
from supportdesk.core.http import model_response
from supportdesk.core.permissions import Action
from supportdesk.notifications.mail.service import check_provider_names
from supportdesk.workspaces import service
from supportdesk.workspaces.schemas import WorkspaceOut, WorkspaceUpdate

router = APIRouter(prefix="/workspace", tags=["workspace"])


@router.get("", response_model=WorkspaceOut, summary="The current workspace")
async def get_workspace(context: ContextDep) -> WorkspaceOut:
    return WorkspaceOut.model_validate(await service.get_workspace(context.session, context.workspace_id))


@router.patch("", response_model=WorkspaceOut, summary="Change the workspace's settings (admins)")
async def update_workspace(
    body: WorkspaceUpdate, context: Annotated[Context, Depends(allowed(Action.manage_workspace))]
) -> Response:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("email_providers"):
        check_provider_names(changes["email_providers"], context.settings)
    workspace = await service.get_workspace(context.session, context.workspace_id)
    workspace = await service.update_settings(context.session, workspace, changes)
    return await context.commit(model_response(WorkspaceOut.model_validate(workspace)))
