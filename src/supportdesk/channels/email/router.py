"""Mail in over HTTP: mailboxes (admins), arrived messages and why each went where it went, and the hook
a mail provider posts raw messages to."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import Field
from starlette.datastructures import UploadFile

from supportdesk.auth.dependencies import Context, allowed
from supportdesk.channels.email import intake, mailboxes, reader, service
from supportdesk.channels.email.models import InboundSource, InboundState
from supportdesk.channels.email.schemas import (
    InboundMessageDetail,
    InboundMessageOut,
    MailboxCreate,
    MailboxUpdate,
    MailboxWithHook,
    mailbox_out,
    message_out,
)
from supportdesk.config import Settings
from supportdesk.core.clock import Clock
from supportdesk.core.errors import InvalidInput, NotFound, SupportdeskError
from supportdesk.core.http import (
    IfMatch,
    created_headers,
    model_response,
    named_fields,
    parse_if_match,
    versioned_response,
)
from supportdesk.core.permissions import Action
from supportdesk.core.schemas import ObjectId, ResponseModel, Text
from supportdesk.tickets import service as ticket_service

mailboxes_router = APIRouter(prefix="/admin/mailboxes", tags=["mail in"])
inbound_router = APIRouter(prefix="/admin/inbound-messages", tags=["mail in"])
ticket_emails_router = APIRouter(prefix="/tickets", tags=["mail in"])
hook_router = APIRouter(prefix="/mail", tags=["mail in"])

HOOK_PATHS = re.compile(r"^/api/v1/mail/inbound/[A-Za-z0-9_-]+$")
# A signed hook call older than this is refused, so a captured one cannot be replayed later.
_SIGNATURE_WINDOW_SECONDS = 15 * 60

Managing = Annotated[Context, Depends(allowed(Action.manage_workspace))]
Watching = Annotated[Context, Depends(allowed(Action.manage_deliveries))]
Viewing = Annotated[Context, Depends(allowed(Action.view_ticket))]


@mailboxes_router.get("", response_model=list[MailboxWithHook], summary="List the mailboxes (admins)")
async def list_mailboxes(context: Managing) -> list[MailboxWithHook]:
    return [mailbox_out(mailbox) for mailbox in await mailboxes.list_mailboxes(context.session)]


@mailboxes_router.post("", status_code=201, response_model=MailboxWithHook, summary="Add a mailbox (admins)")
async def create_mailbox(body: MailboxCreate, context: Managing) -> Response:
    mailbox = await mailboxes.create_mailbox(
        context.session, context.clock, workspace_id=context.workspace_id, **body.model_dump()
    )
    headers = created_headers(mailbox.version, f"/api/v1/admin/mailboxes/{mailbox.id}")
    return await context.commit(model_response(mailbox_out(mailbox), status_code=201, headers=headers))


@mailboxes_router.get("/{mailbox_id:int}", response_model=MailboxWithHook, summary="Get a mailbox (admins)")
async def get_mailbox(mailbox_id: ObjectId, context: Managing) -> Response:
    mailbox = await mailboxes.get_mailbox(context.session, mailbox_id)
    return versioned_response(mailbox_out(mailbox), mailbox.version)


@mailboxes_router.patch("/{mailbox_id:int}", response_model=MailboxWithHook, summary="Change a mailbox")
async def update_mailbox(
    mailbox_id: ObjectId, body: MailboxUpdate, context: Managing, if_match: IfMatch = None
) -> Response:
    expected = parse_if_match(if_match)
    mailbox = await mailboxes.get_mailbox(context.session, mailbox_id)
    mailbox = await mailboxes.update_mailbox(
        context.session, context.clock, mailbox, named_fields(body), expected_version=expected
    )
    return await context.commit(versioned_response(mailbox_out(mailbox), mailbox.version))


@mailboxes_router.post(
    "/{mailbox_id:int}/rotate-hook-token",
    response_model=MailboxWithHook,
    summary="Give the mailbox's hook a new URL; the old one stops working",
)
async def rotate_hook_token(mailbox_id: ObjectId, context: Managing) -> Response:
    mailbox = await mailboxes.get_mailbox(context.session, mailbox_id)
    mailbox = await mailboxes.rotate_hook_token(context.session, context.clock, mailbox)
    return await context.commit(versioned_response(mailbox_out(mailbox), mailbox.version))


@mailboxes_router.delete("/{mailbox_id:int}", status_code=204, summary="Delete a mailbox (admins)")
async def delete_mailbox(mailbox_id: ObjectId, context: Managing) -> Response:
    mailbox = await mailboxes.get_mailbox(context.session, mailbox_id)
    await mailboxes.delete_mailbox(context.session, mailbox)
    return await context.commit(Response(status_code=204))


# --- arrived messages ---------------------------------------------------------------------------


@inbound_router.get("", response_model=list[InboundMessageOut], summary="Arrived e-mails, newest first")
async def list_inbound(
    context: Watching,
    state: InboundState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[InboundMessageOut]:
    """Every e-mail that arrived, with what became of it; ``state=quarantined`` lists those that could
    not be processed, with the reason."""
    found = await service.list_messages(context.session, state=state, limit=limit)
    return [message_out(message) for message in found]


@inbound_router.get("/{message_id:int}", response_model=InboundMessageDetail, summary="One arrived e-mail")
async def get_inbound(message_id: ObjectId, context: Watching, request: Request) -> InboundMessageDetail:
    """The message as the desk read it, the quoted history it split off included."""
    message = await service.get_message(context.session, message_id)
    settings: Settings = request.app.state.settings
    raw = await service.read_raw(request.app.state.file_store, message.raw_sha256)
    parsed = await reader.read_here(raw, service.inbound_rules(settings).limits)
    return InboundMessageDetail.model_validate(
        {
            **message_out(message).model_dump(),
            "text": parsed.text,
            "reply": parsed.reply,
            "quoted": parsed.quoted,
            "attachments": [item.filename for item in parsed.attachments],
        }
    )


@inbound_router.get(
    "/{message_id:int}/raw",
    summary="The e-mail exactly as it arrived",
    response_class=Response,
    responses={200: {"content": {"message/rfc822": {}}, "description": "The message's bytes"}},
)
async def get_inbound_raw(message_id: ObjectId, context: Watching, request: Request) -> Response:
    message = await service.get_message(context.session, message_id)
    raw = await service.read_raw(request.app.state.file_store, message.raw_sha256)
    # A download, never shown as a page: the bytes are a stranger's.
    headers = {"Content-Disposition": f'attachment; filename="message-{message.id}.eml"'}
    return Response(raw, media_type="message/rfc822", headers=headers)


@inbound_router.post(
    "/{message_id:int}/reprocess",
    response_model=InboundMessageOut,
    summary="Process a quarantined e-mail again",
)
async def reprocess_inbound(message_id: ObjectId, context: Watching) -> Response:
    message = await service.get_message(context.session, message_id)
    message = await service.reprocess(context.session, context.clock, message)
    return await context.commit(model_response(message_out(message), status_code=200))


@ticket_emails_router.get(
    "/{ticket_id:int}/emails",
    response_model=list[InboundMessageOut],
    summary="The e-mails that arrived on a ticket, and why each was threaded here",
)
async def ticket_emails(ticket_id: ObjectId, context: Viewing) -> list[InboundMessageOut]:
    ticket = await ticket_service.read_ticket(context.session, ticket_id)
    found = await service.list_messages(context.session, ticket_id=ticket.id, limit=500)
    return [message_out(message) for message in reversed(found)]


# --- the provider's hook ------------------------------------------------------------------------


class HookRefused(SupportdeskError):
    status_code = 401
    code = "hook-signature-invalid"
    title = "The hook call's signature does not check out"


def mailgun_signature_valid(key: str, timestamp: str, token: str, signature: str, now: float) -> bool:
    """Mailgun signs ``timestamp + token`` with HMAC-SHA256 under the account's webhook signing key."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > _SIGNATURE_WINDOW_SECONDS:
        return False
    expected = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.lower())


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _raw_from_form(
    request: Request, mailbox: intake.MailboxRef, clock: Clock
) -> tuple[bytes, list[str], str | None]:
    # The form's files are closed when it is done with, whatever is refused on the way.
    async with request.form(max_files=5, max_fields=100) as form:
        if mailbox.signing_key is not None:
            valid = mailgun_signature_valid(
                mailbox.signing_key,
                _text(form, "timestamp"),
                _text(form, "token"),
                _text(form, "signature"),
                clock.now().timestamp(),
            )
            if not valid:
                raise HookRefused("The signature, timestamp or token is missing, stale or wrong")
        field = form.get("body-mime") or form.get("email")
        if isinstance(field, UploadFile):
            raw = await field.read()
        elif isinstance(field, str):
            raw = field.encode("utf-8", "surrogateescape")
        else:
            raise InvalidInput(
                "email", "Send the raw message in the email or body-mime field.", reason="missing"
            )
        return raw, _envelope_recipients(form), _envelope_sender(form)


def _envelope_recipients(form: Any) -> list[str]:
    """Who the provider delivered the message to: Mailgun's ``recipient`` (comma-separated) or
    SendGrid's ``envelope`` (``{"to": [...], "from": ...}``)."""
    if _text(form, "recipient"):
        return [item.strip() for item in _text(form, "recipient").split(",") if item.strip()]
    envelope = _sendgrid_envelope(form)
    found = envelope.get("to", [])
    return [item for item in found if isinstance(item, str)] if isinstance(found, list) else []


def _envelope_sender(form: Any) -> str | None:
    sender = _sendgrid_envelope(form).get("from")
    return sender if isinstance(sender, str) else _text(form, "sender") or None


def _sendgrid_envelope(form: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(_text(form, "envelope") or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


@hook_router.post(
    "/inbound/{token}",
    status_code=202,
    summary="Take a raw e-mail from a mail provider (SendGrid, Mailgun, SES or any MTA)",
    responses={202: {"description": "Kept; it is processed in the background"}},
)
async def inbound_hook(
    token: Annotated[str, Text(min_length=1, max_length=64), Path(description="The mailbox's hook token")],
    request: Request,
) -> Response:
    """The raw message as the body (``Content-Type: message/rfc822``), or a form with it in ``email``
    (SendGrid's inbound parse, raw) or ``body-mime`` (Mailgun, whose signature is checked when the
    mailbox has the signing key). The token in the path names the mailbox; it is a secret. 202 means the
    message is kept: a provider that gets anything else tries again."""
    database = request.app.state.database
    clock: Clock = request.app.state.clock
    mailbox = await intake.mailbox_for_token(database, token)
    if mailbox is None:
        raise NotFound("No such mailbox hook")
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raw, recipients, sender = await _raw_from_form(request, mailbox, clock)
    elif mailbox.signing_key is not None:
        # A signing key asks for the provider's signed form; a bare body carries no signature.
        raise HookRefused("This mailbox takes only signed calls")
    else:
        raw, recipients, sender = await request.body(), [], None
    if not raw.strip():
        raise InvalidInput("body", "The message is empty.", reason="empty")
    kept = await intake.accept(
        database,
        clock,
        request.app.state.file_store,
        raw,
        source=InboundSource.http,
        mailboxes=[mailbox],
        recipients=recipients or [mailbox.address],
        envelope_sender=sender,
    )
    return model_response(HookAccepted(accepted=kept), status_code=202)


class HookAccepted(ResponseModel):
    accepted: list[int] = Field(description="The ids of the kept messages, one per workspace.")
