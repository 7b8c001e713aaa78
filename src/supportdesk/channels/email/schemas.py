"""Request and response bodies of the mailbox and inbound-mail API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from supportdesk.channels.email.models import (
    ImapSecurity,
    InboundMessage,
    InboundOutcome,
    InboundSource,
    InboundState,
    Mailbox,
)
from supportdesk.core.schemas import (
    Category,
    EmailAddress,
    Integer,
    PatchModel,
    RequestModel,
    ResponseModel,
    StrictBoolean,
    Text,
)
from supportdesk.tickets.models import Priority

Name = Annotated[str, Text(strip_whitespace=True, max_length=200)]
SigningKey = Annotated[str, Text(strip_whitespace=True, min_length=8, max_length=200)]
# Text that goes into IMAP commands is taken exactly as it is sent (never stripped), so that the published
# pattern says precisely what is accepted: a host name or address, and one line without NUL (a line
# break would end the IMAP command and start another).
ImapHost = Annotated[
    str, Text(strip_whitespace=False, min_length=1, max_length=253, pattern=r"^[A-Za-z0-9._:-]+$")
]
ImapPort = Annotated[int, Integer(ge=1, le=65535)]
_ONE_LINE = r"^[^\r\n\x00]+$"
ImapUsername = Annotated[str, Text(strip_whitespace=False, min_length=1, max_length=254, pattern=_ONE_LINE)]
ImapPassword = Annotated[str, Text(strip_whitespace=False, min_length=1, max_length=200, pattern=_ONE_LINE)]
ImapFolder = Annotated[str, Text(strip_whitespace=False, min_length=1, max_length=200, pattern=_ONE_LINE)]

_IMAP_HOST = "The IMAP server to read this mailbox from; null (the default) reads nothing."
_IMAP_PORT = "The server's port; null means 993 with tls, 143 otherwise."
_IMAP_LOGIN_NOTE = "The IMAP password; never shown again (has_imap_password says whether one is set)."
_IMAP_FOLDER = "The folder read; its messages are never changed, flagged or deleted."


class MailboxCreate(RequestModel):
    address: EmailAddress = Field(description="The address customers write to; unique on this server.")
    name: Name = ""
    default_category: Category | None = None
    default_priority: Priority | None = None
    is_active: StrictBoolean = True
    hook_signing_key: SigningKey | None = Field(
        default=None, description="The provider's webhook signing key, when the provider signs (Mailgun)."
    )
    imap_host: ImapHost | None = Field(default=None, description=_IMAP_HOST)
    imap_port: ImapPort | None = Field(default=None, description=_IMAP_PORT)
    imap_security: ImapSecurity = ImapSecurity.tls
    imap_username: ImapUsername | None = None
    imap_password: ImapPassword | None = Field(default=None, description=_IMAP_LOGIN_NOTE)
    imap_folder: ImapFolder = Field(default="INBOX", description=_IMAP_FOLDER)


class MailboxUpdate(PatchModel):
    # A null host stops reading the mailbox over IMAP; a null port goes back to the protocol's own.
    __nullable__ = frozenset({"imap_host", "imap_port"})

    address: EmailAddress | None = None
    name: Name | None = None
    default_category: Category | None = None
    default_priority: Priority | None = None
    is_active: StrictBoolean | None = None
    hook_signing_key: SigningKey | None = None
    imap_host: ImapHost | None = Field(default=None, description=_IMAP_HOST)
    imap_port: ImapPort | None = Field(default=None, description=_IMAP_PORT)
    imap_security: ImapSecurity | None = None
    imap_username: ImapUsername | None = None
    imap_password: ImapPassword | None = Field(default=None, description=_IMAP_LOGIN_NOTE)
    imap_folder: ImapFolder | None = Field(default=None, description=_IMAP_FOLDER)


class MailboxOut(ResponseModel):
    id: int
    address: str
    name: str
    default_category: str | None
    default_priority: Priority | None
    is_active: bool
    has_hook_signing_key: bool
    imap_host: str | None
    imap_port: int | None
    imap_security: ImapSecurity
    imap_username: str | None
    has_imap_password: bool
    imap_folder: str
    imap_uidvalidity: int | None = Field(description="The folder's UIDVALIDITY when it was last read.")
    imap_last_uid: int | None = Field(description="The highest UID read from the folder.")
    imap_polled_at: datetime | None = Field(description="When the folder was last read without an error.")
    imap_error: str | None = Field(description="Why the last attempt to read the folder failed, if it did.")
    imap_error_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class MailboxWithHook(MailboxOut):
    hook_path: str = Field(
        description="Where a provider posts this mailbox's raw mail (its token is a secret; shown to admins)."
    )


# Secrets are never sent back: the answer says only whether one is set.
_SECRETS = {"has_hook_signing_key": "hook_signing_key", "has_imap_password": "imap_password"}


def mailbox_out(mailbox: Mailbox) -> MailboxWithHook:
    """A mailbox as admins see it: whether each secret is set, never the secret itself."""
    return MailboxWithHook.model_validate(
        {
            **{name: getattr(mailbox, name) for name in MailboxOut.model_fields if name not in _SECRETS},
            **{name: getattr(mailbox, secret) is not None for name, secret in _SECRETS.items()},
            "hook_path": f"/api/v1/mail/inbound/{mailbox.hook_token}",
        }
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


def message_out(message: InboundMessage) -> InboundMessageOut:
    """An arrived e-mail as admins see it, with why it was threaded where it went."""
    fields = {
        name: getattr(message, name) for name in InboundMessageOut.model_fields if name != "thread_reason"
    }
    reason = ThreadReasonOut(rule=message.thread_rule, evidence=message.thread_evidence)
    return InboundMessageOut.model_validate({**fields, "thread_reason": reason})
