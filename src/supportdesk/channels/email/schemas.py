"""Request and response bodies of the mailbox and inbound-mail API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from supportdesk.channels.email.models import InboundOutcome, InboundSource, InboundState
from supportdesk.core.schemas import (
    Category,
    EmailAddress,
    PatchModel,
    RequestModel,
    ResponseModel,
    StrictBoolean,
    Text,
)
from supportdesk.tickets.models import Priority

Name = Annotated[str, Text(strip_whitespace=True, max_length=200)]
SigningKey = Annotated[str, Text(strip_whitespace=True, min_length=8, max_length=200)]


class MailboxCreate(RequestModel):
    address: EmailAddress = Field(description="The address customers write to; unique on this server.")
    name: Name = ""
    default_category: Category | None = None
    default_priority: Priority | None = None
    is_active: StrictBoolean = True
    hook_signing_key: SigningKey | None = Field(
        default=None, description="The provider's webhook signing key, when the provider signs (Mailgun)."
    )


class MailboxUpdate(PatchModel):
    address: EmailAddress | None = None
    name: Name | None = None
    default_category: Category | None = None
    default_priority: Priority | None = None
    is_active: StrictBoolean | None = None
    hook_signing_key: SigningKey | None = None


class MailboxOut(ResponseModel):
    id: int
    address: str
    name: str
    default_category: str | None
    default_priority: Priority | None
    is_active: bool
    has_hook_signing_key: bool
    created_at: datetime
    updated_at: datetime
    version: int


class MailboxWithHook(MailboxOut):
    hook_path: str = Field(
        description="Where a provider posts this mailbox's raw mail (its token is a secret; shown to admins)."
    )


class ThreadReasonOut(ResponseModel):
    rule: str | None = Field(
        description="our-message-id, reply-address, subject-token, same-sender-and-subject or new-ticket."
    )
    evidence: str | None


class InboundMessageOut(ResponseModel):
    id: int
    mailbox_id: int | None
    source: InboundSource
    received_at: datetime
    sender: str | None
    envelope_sender: str | None
    recipients: list[str]
    subject: str | None
    message_id: str | None
    state: InboundState
    outcome: InboundOutcome | None
    thread_reason: ThreadReasonOut
    automated_reason: str | None = Field(description="Why it was recorded but never answered.")
    authenticity: str | None = Field(description="pass, fail or unknown, by a trusted server's checks.")
    ticket_id: int | None
    comment_id: int | None
    raw_size: int
    defects: list[str]
    attempts: int
    last_error: str | None
    processed_at: datetime | None


class InboundMessageDetail(InboundMessageOut):
    text: str = Field(description="The message's text as read, with its quoted history.")
    reply: str = Field(description="What the sender wrote, without the quoted history.")
    quoted: str = Field(description="The quoted history and signature split off the reply.")
    attachments: list[str]
