"""/api/v1/email-templates: the wording of each e-mail the workspace sends (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from supportdesk.auth.dependencies import Context, allowed
from supportdesk.core.http import model_response
from supportdesk.core.permissions import Action
from supportdesk.notifications.mail import service, templates
from supportdesk.notifications.mail.models import EmailKind
from supportdesk.notifications.mail.schemas import (
    EmailPreviewOut,
    EmailTemplateIn,
    EmailTemplateOut,
    template_out,
)
from supportdesk.notifications.mail.templates import Wording

router = APIRouter(prefix="/email-templates", tags=["e-mail"])

Managing = Annotated[Context, Depends(allowed(Action.manage_workspace))]


@router.get("", response_model=list[EmailTemplateOut], summary="Every kind of e-mail and its wording")
async def list_templates(context: Managing) -> list[EmailTemplateOut]:
    own = {row.kind: row for row in await service.own_templates(context.session)}
    return [template_out(kind, own.get(kind)) for kind in EmailKind]


@router.get("/{kind}", response_model=EmailTemplateOut, summary="The wording of one kind of e-mail")
async def get_template(kind: EmailKind, context: Managing) -> EmailTemplateOut:
    return template_out(kind, await service.own_template(context.session, kind))


@router.put(
    "/{kind}", response_model=EmailTemplateOut, summary="Give one kind of e-mail the workspace's wording"
)
async def put_template(kind: EmailKind, body: EmailTemplateIn, context: Managing) -> Response:
    wording = templates.checked(kind, Wording(body.subject, body.text_body, body.html_body))
    saved = await service.save_template(context.session, context.clock, context.workspace_id, kind, wording)
    return await context.commit(model_response(template_out(kind, saved)))


@router.delete("/{kind}", status_code=204, summary="Go back to the default wording of one kind of e-mail")
async def reset_template(kind: EmailKind, context: Managing) -> Response:
    await service.reset_template(context.session, context.workspace_id, kind)
    return await context.commit(Response(status_code=204))


@router.post(
    "/{kind}/preview",
    response_model=EmailPreviewOut,
    summary="Render a wording (the body's, or the one in use) with sample values",
)
async def preview_template(
    kind: EmailKind, context: Managing, body: EmailTemplateIn | None = None
) -> EmailPreviewOut:
    if body is not None:
        wording = templates.checked(kind, Wording(body.subject, body.text_body, body.html_body))
    else:
        own = await service.own_template(context.session, kind)
        wording = Wording(own.subject, own.text_body, own.html_body) if own else templates.DEFAULTS[kind]
    workspace = await service.mail_setup(context.session, context.workspace_id)
    sample = {**templates.SAMPLE, "workspace": {"name": workspace.workspace_name}}
    rendered = templates.render(kind, wording, sample)
    return EmailPreviewOut(subject=rendered.subject, text=rendered.text, html=rendered.html)
