"""The e-mail admin pages, for admins only: the workspace's sender, reply address and chain of mail
providers, and its own wording of each kind of e-mail.

The pages act through what the API uses: the workspace's settings through the workspace service, after
the check that every provider named is one this server configures (``PATCH /api/v1/workspace``), and
the wording through the e-mail template checks and service (``/api/v1/email-templates``). The
providers themselves are the server's configuration: a page names each with its kind and says whether
its secret is set, never what it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import SecretStr

from supportdesk.auth.dependencies import Context, get_context
from supportdesk.config import Settings
from supportdesk.core.permissions import Action
from supportdesk.notifications.mail import service as mail_service
from supportdesk.notifications.mail import templates
from supportdesk.notifications.mail.models import EmailKind, EmailTemplate
from supportdesk.notifications.mail.providers import LOCAL_PROVIDER
from supportdesk.notifications.mail.schemas import EmailTemplateIn, template_out
from supportdesk.web import admin_parts as parts
from supportdesk.web.pages import WEB_PREFIX, PageRoute, checked_form, text
from supportdesk.workspaces import service as workspace_service
from supportdesk.workspaces.models import Workspace
from supportdesk.workspaces.schemas import WorkspaceUpdate

EMAIL_PATH = f"{WEB_PREFIX}/admin/email"
_NOTICES = {
    "settings": "The e-mail settings were saved.",
    "template": "The wording was saved; e-mails of this kind use it from now on.",
    "reset": "This kind of e-mail uses the default wording again.",
}
_MESSAGES = {
    "email_from_address": "Enter an e-mail address, like help@example.com, or leave it empty.",
    "email_from_name": "Enter a name of up to 200 characters, or leave it empty.",
    "email_reply_address": "Enter an e-mail address, like replies@example.com, or leave it empty.",
    "email_providers": "Name up to 10 providers, separated by commas.",
    "subject": "Enter a subject of up to 500 characters.",
    "text_body": "Enter the text of the e-mail.",
    "html_body": "Enter the HTML body, or leave it empty to send plain text only.",
}

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=PageRoute)
SignedIn = Annotated[Context, Depends(get_context)]


@dataclass(slots=True)
class SenderForm:
    """The sender settings as shown: what was typed and why it was refused."""

    email_enabled: bool = True
    email_from_address: str = ""
    email_from_name: str = ""
    email_reply_address: str = ""
    email_providers: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, workspace: Workspace) -> SenderForm:
        return cls(
            workspace.email_enabled,
            workspace.email_from_address or "",
            workspace.email_from_name or "",
            workspace.email_reply_address or "",
            ", ".join(workspace.email_providers),
        )

    def body(self) -> dict[str, Any]:
        """The form as the API's body gives it: an empty address or name is null (the server's own)."""
        providers = [name.strip() for name in self.email_providers.split(",") if name.strip()]
        return {
            "email_enabled": self.email_enabled,
            "email_from_address": self.email_from_address or None,
            "email_from_name": self.email_from_name or None,
            "email_reply_address": self.email_reply_address or None,
            "email_providers": providers,
        }


@dataclass(frozen=True, slots=True)
class ProviderFacts:
    """A configured provider as the page names it; of its secret, only whether it is set."""

    name: str
    kind: str
    secret: str


def _providers(settings: Settings) -> list[ProviderFacts]:
    if not settings.mail_providers:
        return [ProviderFacts(LOCAL_PROVIDER, "maildir", "none needed")]
    found = []
    for config in settings.mail_providers:
        secrets = [
            getattr(config, name)
            for name, info in type(config).model_fields.items()
            if "Secret" in repr(info.annotation)
        ]
        state = "set" if any(isinstance(value, SecretStr) for value in secrets) else "not set"
        found.append(ProviderFacts(config.name, config.kind, state if secrets else "none needed"))
    return found


async def _settings_page(
    request: Request, context: Context, *, form: SenderForm | None = None, status_code: int = 200
) -> HTMLResponse:
    workspace = await workspace_service.get_workspace(context.session, context.workspace_id)
    own = {row.kind: row for row in await mail_service.own_templates(context.session)}
    return await parts.admin_page(
        request,
        context,
        "admin_email.html",
        status_code=status_code,
        form=form or SenderForm.of(workspace),
        providers=_providers(context.settings),
        server_sender=context.settings.mail_from,
        wordings=[template_out(kind, own.get(kind)) for kind in EmailKind],
        notice=parts.notice(request, _NOTICES),
    )


@router.get("/admin/email")
async def email_page(request: Request, context: SignedIn) -> Response:
    """The workspace's sender, reply address and providers, and each kind of e-mail's wording."""
    context.require(Action.manage_workspace)
    return await _settings_page(request, context)


@router.post("/admin/email")
async def save_settings(request: Request, context: SignedIn) -> Response:
    """Save the sender settings, as ``PATCH /api/v1/workspace`` does with the e-mail fields."""
    posted = await checked_form(request, context.settings)
    context.require(Action.manage_workspace)
    typed = parts.field_text(
        posted, "email_from_address", "email_from_name", "email_reply_address", "email_providers"
    )
    form = SenderForm(parts.ticked(posted, "email_enabled"), **typed)

    async def save() -> Workspace:
        changes = WorkspaceUpdate.model_validate(form.body()).model_dump(exclude_unset=True)
        if changes["email_providers"]:
            mail_service.check_provider_names(changes["email_providers"], context.settings)
        workspace = await workspace_service.get_workspace(context.session, context.workspace_id)
        return await workspace_service.update_settings(context.session, workspace, changes)

    async def refused(status_code: int, errors: dict[str, str], _detail: str) -> Response:
        form.errors = errors
        return await _settings_page(request, context, form=form, status_code=status_code)

    done = await parts.attempt(context, save, refused, messages=_MESSAGES, fallback="email_from_address")
    if isinstance(done, Response):
        return done
    return await context.commit(parts.saved(EMAIL_PATH, "settings"))


# --- the wording of each kind of e-mail ---------------------------------------------------------


@dataclass(slots=True)
class WordingForm:
    """A kind's wording as shown: what was typed and why it was refused."""

    subject: str = ""
    text_body: str = ""
    html_body: str = ""
    errors: dict[str, str] = field(default_factory=dict)


async def _template_page(
    request: Request,
    context: Context,
    kind: EmailKind,
    *,
    form: WordingForm | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    wording = template_out(kind, await mail_service.own_template(context.session, kind))
    shown = form or WordingForm(wording.subject, wording.text_body, wording.html_body or "")
    return await parts.admin_page(
        request,
        context,
        "admin_email_template.html",
        status_code=status_code,
        wording=wording,
        form=shown,
        notice=parts.notice(request, _NOTICES),
    )


@router.get("/admin/email/templates/{kind}")
async def template_page(kind: EmailKind, request: Request, context: SignedIn) -> Response:
    """One kind of e-mail: its wording (the workspace's own or the default) and its placeholders."""
    context.require(Action.manage_workspace)
    return await _template_page(request, context, kind)


@router.post("/admin/email/templates/{kind}")
async def save_template(kind: EmailKind, request: Request, context: SignedIn) -> Response:
    """Give one kind of e-mail the workspace's wording, as ``PUT /api/v1/email-templates/{kind}``."""
    posted = await checked_form(request, context.settings)
    context.require(Action.manage_workspace)

    # Bodies are kept exactly as typed, as the API keeps them; only the subject loses its spaces.
    form = WordingForm(text(posted, "subject").strip(), text(posted, "text_body"), text(posted, "html_body"))

    async def save() -> EmailTemplate:
        body = EmailTemplateIn.model_validate(
            {"subject": form.subject, "text_body": form.text_body, "html_body": form.html_body or None}
        )
        wording = templates.checked(kind, templates.Wording(body.subject, body.text_body, body.html_body))
        return await mail_service.save_template(
            context.session, context.clock, context.workspace_id, kind, wording
        )

    async def refused(status_code: int, errors: dict[str, str], _detail: str) -> Response:
        form.errors = errors
        return await _template_page(request, context, kind, form=form, status_code=status_code)

    done = await parts.attempt(context, save, refused, messages=_MESSAGES, fallback="subject")
    if isinstance(done, Response):
        return done
    return await context.commit(parts.saved(f"{EMAIL_PATH}/templates/{kind.value}", "template"))


@router.post("/admin/email/templates/{kind}/reset")
async def reset_template(kind: EmailKind, request: Request, context: SignedIn) -> Response:
    """Go back to the default wording, as ``DELETE /api/v1/email-templates/{kind}`` does."""
    await checked_form(request, context.settings)
    context.require(Action.manage_workspace)

    await mail_service.reset_template(context.session, context.workspace_id, kind)
    return await context.commit(parts.saved(f"{EMAIL_PATH}/templates/{kind.value}", "reset"))
