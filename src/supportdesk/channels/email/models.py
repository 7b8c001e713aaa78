"""Mailboxes the desk reads, and every message that arrived in one, kept from the moment it arrived."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.db.base import Base, BigIntId, WorkspaceScoped
from supportdesk.db.types import JSONType, enum_column, json_default_list
from supportdesk.tickets.models import Priority


def new_hook_token() -> str:
    """The secret part of a mailbox's inbound hook URL."""
    return secrets.token_urlsafe(24)


class ImapSecurity(StrEnum):
    """How the connection to an IMAP server is protected."""

    tls = "tls"  # TLS from the first byte (port 993)
    starttls = "starttls"  # a plain connection that must switch to TLS before logging in (port 143)
    none = "none"  # no encryption; only for a server on the same host or network


class Mailbox(WorkspaceScoped, Base):
    """An address customers write to; what arrives there becomes the workspace's tickets and replies.

    Addresses are unique across the server: the SMTP listener and the hook find the workspace by the
    address a message was sent to. Mail to ``local+anything@domain`` arrives in ``local@domain`` (the
    per-ticket reply addresses the desk hands out are of that form).
    """

    __tablename__ = "mailbox"
    __table_args__ = (UniqueConstraint("address"), Index("ix_mailbox_workspace", "workspace_id", "id"))
    __audited__ = True
    # Secrets never reach the audit trail, and the poller's bookkeeping changes with every message read.
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset(
        {
            "updated_at",
            "version",
            "hook_token",
            "hook_signing_key",
            "imap_password",
            "imap_uidvalidity",
            "imap_last_uid",
            "imap_polled_at",
            "imap_error",
            "imap_error_at",
        }
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200), default="")
    # What a ticket opened from this mailbox starts with; the workspace's defaults when unset.
    default_category: Mapped[str | None] = mapped_column(String(64), default=None)
    default_priority: Mapped[Priority | None] = mapped_column(
        enum_column(Priority, "ticket_priority"), default=None
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The inbound hook's URL names the mailbox by this token; a provider's own signature, when the
    # provider signs (Mailgun), is checked with the signing key as well.
    hook_token: Mapped[str] = mapped_column(String(64), default=new_hook_token)
    hook_signing_key: Mapped[str | None] = mapped_column(String(200), default=None)
    # A mailbox with an IMAP host is also read from that server (channels.email.imap). The password has
    # to be sent to the server as it is, so it is kept as it was given, like the hook's signing key, and
    # never shown again. No port means the protocol's own: 993 with TLS, 143 otherwise.
    imap_host: Mapped[str | None] = mapped_column(String(253), default=None)
    imap_port: Mapped[int | None] = mapped_column(Integer, default=None)
    imap_security: Mapped[ImapSecurity] = mapped_column(
        enum_column(ImapSecurity, "imap_security"), default=ImapSecurity.tls
    )
    imap_username: Mapped[str | None] = mapped_column(String(254), default=None)
    imap_password: Mapped[str | None] = mapped_column(String(200), default=None)
    imap_folder: Mapped[str] = mapped_column(String(200), default="INBOX")
    # How far the poller has read: the folder's UIDVALIDITY and the highest UID handed to intake. UIDs
    # are 32-bit unsigned numbers, too large for a signed INTEGER.
    imap_uidvalidity: Mapped[int | None] = mapped_column(BigIntId, default=None)
    imap_last_uid: Mapped[int | None] = mapped_column(BigIntId, default=None)
    # When a pass over the folder last succeeded, and what went wrong since (for admins).
    imap_polled_at: Mapped[datetime | None] = mapped_column(default=None)
    imap_error: Mapped[str | None] = mapped_column(String(2000), default=None)
    imap_error_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class InboundSource(StrEnum):
    smtp = "smtp"
    lmtp = "lmtp"
    imap = "imap"
    http = "http"


class InboundState(StrEnum):
    """Where an arrived message is: waiting for (or between) processing attempts, done, or set aside."""

    received = "received"
    processed = "processed"  # it became a ticket, a reply, or was recorded without an answer
    quarantined = "quarantined"  # processing failed for good; an admin can process it again


class InboundOutcome(StrEnum):
    """What processing made of a message."""

    new_ticket = "new-ticket"
    reply = "reply"
    follow_up = "follow-up"  # a reply to a closed ticket, opened as a new ticket linked to it
    automated = "automated"  # a bounce, auto-reply or loop: recorded, never answered
    duplicate = "duplicate"  # the same Message-ID arrived before (another recipient, a redelivery)


class InboundMessage(WorkspaceScoped, Base):
    """One message as it arrived, and what became of it. Its bytes are in the file store under
    ``raw_sha256``, written before this row, so a message is never accepted without being kept."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        Index("ix_inbound_message_workspace_state", "workspace_id", "state", "id"),
        Index("ix_inbound_message_workspace_ticket", "workspace_id", "ticket_id", "id"),
        Index("ix_inbound_message_workspace_sender", "workspace_id", "sender", "received_at"),
        Index("ix_inbound_message_workspace_message_id", "workspace_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    mailbox_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("mailbox.id", ondelete="SET NULL"), default=None
    )
    source: Mapped[InboundSource] = mapped_column(enum_column(InboundSource, "inbound_source"))
    # The SMTP envelope (or what the hook or mailbox said of it): who the server was told sent it and
    # to whom it was delivered, which is not always what the headers say.
    envelope_sender: Mapped[str | None] = mapped_column(String(320), default=None)
    recipients: Mapped[list[str]] = mapped_column(JSONType, default=json_default_list)
    raw_sha256: Mapped[str] = mapped_column(String(64))
    raw_size: Mapped[int] = mapped_column(BigIntId)
    # From the headers, once read; the first three are kept at arrival for listing and de-duplication.
    message_id: Mapped[str | None] = mapped_column(String(500), default=None)
    sender: Mapped[str | None] = mapped_column(String(254), default=None)
    subject: Mapped[str | None] = mapped_column(String(300), default=None)
    received_at: Mapped[datetime]
    state: Mapped[InboundState] = mapped_column(
        enum_column(InboundState, "inbound_state"), default=InboundState.received
    )
    outcome: Mapped[InboundOutcome | None] = mapped_column(
        enum_column(InboundOutcome, "inbound_outcome"), default=None
    )
    # Which threading rule placed the message and its evidence (channels.email.rules), or why it was
    # never answered; set by processing.
    thread_rule: Mapped[str | None] = mapped_column(String(32), default=None)
    thread_evidence: Mapped[str | None] = mapped_column(String(1000), default=None)
    automated_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    authenticity: Mapped[str | None] = mapped_column(String(16), default=None)
    # What reading it found wrong or left out (mislabelled charsets, dropped attachments).
    defects: Mapped[list[Any]] = mapped_column(JSONType, default=json_default_list)
    ticket_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("ticket.id", ondelete="SET NULL"), default=None
    )
    comment_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("comment.id", ondelete="SET NULL"), default=None
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(2000), default=None)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)
