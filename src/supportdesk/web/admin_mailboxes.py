"""The mail-in admin pages: the mailboxes customers write to (admins), and the arrived e-mails that could
not be processed, which may be processed again.

The pages act through the mailbox and inbound services the API uses (``/api/v1/admin/mailboxes`` and
``/api/v1/admin/inbound-messages``), with the same permissions and rules: an address is a mailbox once
on the server, a default category is one of the workspace's, and only a quarantined e-mail is processed
again. Secrets (the provider's signing key, the IMAP password) are never shown: a page says only
whether each is set, and leaving its field empty keeps it. The hook's URL names the mailbox by a secret
token, so it is shown once, in the answer to the form that made the mailbox or a new token.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from supportdesk.auth.dependencies import Context, get_context
from supportdesk.channels.email import mailboxes, service
from supportdesk.channels.email.models import ImapSecurity, InboundState, Mailbox
from supportdesk.channels.email.schemas import MailboxCreate, MailboxUpdate, mailbox_out, message_out
from supportdesk.core.permissions import Action
from supportdesk.tickets.models import Priority
from supportdesk.web import admin_parts as parts
from supportdesk.web.pages import WEB_PREFIX, PageRoute, checked_form
from supportdesk.workspaces import service as workspace_service

MAILBOXES_PATH = f"{WEB_PREFIX}/admin/mailboxes"
INBOUND_PATH = f"{WEB_PREFIX}/admin/inbound"
_NOTICES = {
    "changed": "The mailbox was changed.",
    "deleted": "The mailbox was deleted; what arrived there stays.",
    "reprocessed": "The e-mail is processed again, in the background.",
}
_MESSAGES = {
    "address": "Enter an e-mail address, like help@example.com.",
    "name": "Enter a name of up to 200 characters.",
    "default_category": "Choose one of the categories.",
    "default_priority": "Choose one of the priorities.",
    "hook_signing_key": "A signing key has 8 to 200 characters.",
    "imap_host": "Enter a host name or address, like imap.example.com.",
    "imap_port": "Enter a port from 1 to 65535, or leave it empty for the protocol's own.",
    "imap_security": "Choose one of the ways.",
    "imap_username": "Enter the user name on one line, up to 254 characters.",
    "imap_password": "Enter the password on one line, up to 200 characters.",
    "imap_folder": "Enter the folder's name on one line, up to 200 characters.",
}
# How a refusal finds its field; the ticket rules name a mailbox's default category as a ticket's own.
_RULES: dict[str, Any] = {
    "messages": _MESSAGES,
    "fallback": "address",
    "names": {"category": "default_category"},
}
# Fields whose empty value is left out of the body: the secrets (kept as they are) and the choices whose
# default the service knows.
_KEPT_WHEN_EMPTY = frozenset(
    {"hook_signing_key", "imap_password", "default_category", "default_priority", "imap_folder"}
)
# Fields an edit may empty, which sends null: no IMAP server, or the protocol's own port.
_CLEARED_WHEN_EMPTY = frozenset({"imap_host", "imap_port"})

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=PageRoute)
SignedIn = Annotated[Context, Depends(get_context)]


@dataclass(slots=True)
class MailboxForm:
    """The form that adds or changes a mailbox, as shown: what was typed (never a secret) and why it
    was refused."""

    address: str = ""
    name: str = ""
    default_category: str = ""
    default_priority: str = ""
    hook_signing_key: str = ""
    imap_host: str = ""
    imap_port: str = ""
    imap_security: str = ImapSecurity.tls.value
    imap_username: str = ""
    imap_password: str = ""
    imap_folder: str = "INBOX"
    is_active: bool = True
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def posted(cls, form: FormData) -> MailboxForm:
        names = [item.name for item in fields(cls) if item.name not in {"is_active", "errors"}]
        return cls(**parts.field_text(form, *names), is_active=parts.ticked(form, "is_active"))

    @classmethod
    def of(cls, mailbox: Mailbox) -> MailboxForm:
        view = mailbox_out(mailbox)
        return cls(
            address=view.address,
            name=view.name,
            default_category=view.default_category or "",
            default_priority=view.default_priority.value if view.default_priority else "",
            imap_host=view.imap_host or "",
            imap_port=str(view.imap_port or ""),
            imap_security=view.imap_security.value,
            imap_username=view.imap_username or "",
            imap_folder=view.imap_folder,
            is_active=view.is_active,
        )

    def body(self, *, editing: bool) -> dict[str, Any]:
        """The form as the API's body gives it; an edit sends null for an emptied IMAP host or port."""
        body: dict[str, Any] = {"is_active": self.is_active}
        for name in _MESSAGES:
            typed = getattr(self, name)
            if typed:
                body[name] = parts.typed_number(typed) if name == "imap_port" else typed
            elif name == "name" or (editing and name in _CLEARED_WHEN_EMPTY):
                body[name] = "" if name == "name" else None
        return body

    def without_secrets(self) -> MailboxForm:
        """The form to show again: a secret typed is never sent back to the browser."""
        self.hook_signing_key = self.imap_password = ""
        return self


async def _choices(context: Context, mailbox: Mailbox | None = None) -> dict[str, Any]:
    workspace = await workspace_service.get_workspace(context.session, context.workspace_id)
    # A default once chosen can be changed but not taken away, as with the API.
    keeps_category = mailbox is not None and mailbox.default_category is not None
    keeps_priority = mailbox is not None and mailbox.default_priority is not None
    return {
        "category_options": parts.options(
            workspace.categories, None if keeps_category else "The workspace's default"
        ),
        "priority_options": parts.options(Priority, None if keeps_priority else "The workspace's default"),
        "security_options": parts.options(ImapSecurity),
    }


async def _list_page(
    request: Request,
    context: Context,
    *,
    form: MailboxForm | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    found = await mailboxes.list_mailboxes(context.session)
    return await parts.admin_page(
        request,
        context,
        "admin_mailboxes.html",
        status_code=status_code,
        # As the API lists them, with whether each secret is set; the hook's token is not printed.
        mailboxes=[mailbox_out(mailbox) for mailbox in found],
        form=form or MailboxForm(),
        notice=parts.notice(request, _NOTICES),
        **await _choices(context),
    )


async def _mailbox_page(
    request: Request,
    context: Context,
    mailbox: Mailbox,
    *,
    form: MailboxForm | None = None,
    hook_url: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return await parts.admin_page(
        request,
        context,
        "admin_mailboxes_mailbox.html",
        status_code=status_code,
        mailbox=mailbox_out(mailbox),
        form=form or MailboxForm.of(mailbox),
        hook_url=hook_url,
        notice=parts.notice(request, _NOTICES),
        **await _choices(context, mailbox),
    )


def _hook_url(request: Request, mailbox: Mailbox) -> str:
    return str(request.base_url).rstrip("/") + mailbox_out(mailbox).hook_path


async def _mailbox(context: Context, mailbox_id: int) -> Mailbox:
    # Another workspace's mailbox is not found, as in the API.
    return await mailboxes.get_mailbox(context.session, parts.in_range(mailbox_id, "mailbox"))


@router.get("/admin/mailboxes")
async def mailboxes_page(request: Request, context: SignedIn) -> Response:
    """The workspace's mailboxes and the form that adds one."""
    context.require(Action.manage_workspace)
    return await _list_page(request, context)


@router.post("/admin/mailboxes")
async def add_mailbox(request: Request, context: SignedIn) -> Response:
    """Add a mailbox, as ``POST /api/v1/admin/mailboxes`` does; the answer shows its hook's URL, once."""
    posted = await checked_form(request, context.settings)
    context.require(Action.manage_workspace)
    form = MailboxForm.posted(posted)

    async def create() -> Mailbox:
        body = MailboxCreate.model_validate(form.body(editing=False))
        return await mailboxes.create_mailbox(
            context.session, context.clock, workspace_id=context.workspace_id, **body.model_dump()
        )

    async def refused(status_code: int, errors: dict[str, str], _detail: str) -> Response:
        form.errors = errors
        return await _list_page(request, context, form=form.without_secrets(), status_code=status_code)

    mailbox = await parts.attempt(context, create, refused, **_RULES)
    if isinstance(mailbox, Response):
        return mailbox
    page = await _mailbox_page(
        request, context, mailbox, hook_url=_hook_url(request, mailbox), status_code=201
    )
    return await context.commit(page)


@router.get("/admin/mailboxes/{mailbox_id:int}")
async def mailbox_page(mailbox_id: int, request: Request, context: SignedIn) -> Response:
    """One mailbox: its settings, its hook and how its IMAP folder was last read."""
    context.require(Action.manage_workspace)
    return await _mailbox_page(request, context, await _mailbox(context, mailbox_id))


@router.post("/admin/mailboxes/{mailbox_id:int}")
async def change_mailbox(mailbox_id: int, request: Request, context: SignedIn) -> Response:
    """Change a mailbox, as ``PATCH /api/v1/admin/mailboxes/{id}`` does; an empty secret is kept."""
    posted = await checked_form(request, context.settings)
    context.require(Action.manage_workspace)
    mailbox = await _mailbox(context, mailbox_id)
    form = MailboxForm.posted(posted)

    async def update() -> Mailbox:
        body = MailboxUpdate.model_validate(form.body(editing=True))
        return await mailboxes.update_mailbox(
            context.session, context.clock, mailbox, dict(body.model_dump(exclude_unset=True))
        )

    async def refused(status_code: int, errors: dict[str, str], _detail: str) -> Response:
        form.errors = errors
        fresh = await _mailbox(context, mailbox_id)
        return await _mailbox_page(
            request, context, fresh, form=form.without_secrets(), status_code=status_code
        )

    done = await parts.attempt(context, update, refused, **_RULES)
    if isinstance(done, Response):
        return done
    return await context.commit(parts.saved(f"{MAILBOXES_PATH}/{mailbox_id}", "changed"))


@router.post("/admin/mailboxes/{mailbox_id:int}/rotate-hook-token")
async def rotate_hook_token(mailbox_id: int, request: Request, context: SignedIn) -> Response:
    """Give the mailbox's hook a new URL, shown once; the old one stops working at once."""
    await checked_form(request, context.settings)
    context.require(Action.manage_workspace)
    mailbox = await _mailbox(context, mailbox_id)
    mailbox = await mailboxes.rotate_hook_token(context.session, context.clock, mailbox)
    page = await _mailbox_page(request, context, mailbox, hook_url=_hook_url(request, mailbox))
    return await context.commit(page)


@router.post("/admin/mailboxes/{mailbox_id:int}/delete")
async def delete_mailbox(mailbox_id: int, request: Request, context: SignedIn) -> Response:
    """Delete a mailbox, as ``DELETE /api/v1/admin/mailboxes/{id}`` does."""
    await checked_form(request, context.settings)
    context.require(Action.manage_workspace)
    await mailboxes.delete_mailbox(context.session, await _mailbox(context, mailbox_id))
    return await context.commit(parts.saved(MAILBOXES_PATH, "deleted"))


# --- arrived e-mails that could not be processed ------------------------------------------------


async def _inbound_page(
    request: Request, context: Context, *, problem: str | None = None, status_code: int = 200
) -> HTMLResponse:
    chosen = request.query_params.get("state", InboundState.quarantined.value)
    state = InboundState(chosen) if chosen in set(InboundState) else None
    found = await service.list_messages(context.session, state=state, limit=100)
    return await parts.admin_page(
        request,
        context,
        "admin_mailboxes_inbound.html",
        status_code=status_code,
        messages=[message_out(message) for message in found],
        state=state.value if state else "",
        state_options=parts.options(InboundState, "Every state"),
        problem=problem,
        notice=parts.notice(request, _NOTICES),
    )


@router.get("/admin/inbound")
async def inbound_page(request: Request, context: SignedIn) -> Response:
    """The arrived e-mails, newest first: the quarantined ones unless another state is chosen, each with
    why it could not be processed."""
    context.require(Action.manage_deliveries)
    return await _inbound_page(request, context)


@router.post("/admin/inbound/{message_id:int}/reprocess")
async def reprocess(message_id: int, request: Request, context: SignedIn) -> Response:
    """Process a quarantined e-mail again, as ``POST /api/v1/admin/inbound-messages/{id}/reprocess``."""
    await checked_form(request, context.settings)
    context.require(Action.manage_deliveries)
    message = await service.get_message(context.session, parts.in_range(message_id, "inbound message"))

    async def refused(status_code: int, _errors: dict[str, str], detail: str) -> Response:
        return await _inbound_page(request, context, problem=detail, status_code=status_code)

    done = await parts.attempt(
        context, partial(service.reprocess, context.session, context.clock, message), refused
    )
    if isinstance(done, Response):
        return done
    return await context.commit(parts.saved(INBOUND_PATH, "reprocessed"))
