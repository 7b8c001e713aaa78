"""One outgoing e-mail as the outbox stores it, and the MIME message every provider sends from it.

The message is composed completely when the change that causes it commits (its outbox row holds the
rendered subject and bodies and every header), so a retry sends the same bytes and a template edited
meanwhile changes only later mail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from typing import Any


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """What is sent to whom, with the headers that thread it; ``headers`` never holds the addressing
    headers (From, To, Reply-To, Subject), which have fields of their own."""

    from_address: str
    to: tuple[str, ...]
    subject: str
    text: str
    message_id: str  # with its angle brackets, as it appears in the header
    from_name: str | None = None
    reply_to: str | None = None
    html: str | None = None
    sent_at: datetime | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        """The JSON form kept in the outbox row."""
        return {
            "from_address": self.from_address,
            "from_name": self.from_name,
            "to": list(self.to),
            "reply_to": self.reply_to,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "message_id": self.message_id,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "headers": dict(self.headers),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> OutgoingEmail:
        sent_at = payload.get("sent_at")
        return cls(
            from_address=payload["from_address"],
            from_name=payload.get("from_name"),
            to=tuple(payload["to"]),
            reply_to=payload.get("reply_to"),
            subject=payload["subject"],
            text=payload["text"],
            html=payload.get("html"),
            message_id=payload["message_id"],
            sent_at=datetime.fromisoformat(sent_at) if sent_at else None,
            headers=dict(payload.get("headers") or {}),
        )

    def to_mime(self) -> Message:
        """The message as SMTP and raw-MIME APIs carry it: text, and HTML as its alternative.

        Built with the ``email`` package's plain message classes rather than ``EmailMessage``: that one
        parses and refolds every header it is given, which took most of the time of sending a
        notification. Our headers are made by us, so they are checked here instead: none may hold a
        line break (which would add a header of its own), and text that is not ASCII is encoded.
        """
        for value in (self.from_address, self.reply_to or "", self.subject, self.message_id, *self.to):
            _one_line(value)
        text = MIMEText(self.text, "plain", "utf-8")
        message: Message
        if self.html is None:
            message = text
        else:
            message = MIMEMultipart("alternative")
            message.attach(text)
            message.attach(MIMEText(self.html, "html", "utf-8"))
        name = _one_line(self.from_name or "")
        message["From"] = (
            formataddr((name, self.from_address), charset="utf-8") if name else self.from_address
        )
        message["To"] = ", ".join(self.to)
        if self.reply_to:
            message["Reply-To"] = self.reply_to
        _set(message, "Subject", self.subject)
        message["Message-ID"] = self.message_id
        if self.sent_at is not None:
            message["Date"] = format_datetime(self.sent_at)
        for header, value in self.headers.items():
            _set(message, header, _one_line(value))
        return message


def _one_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"a header value holds a line break: {value!r}")
    return value


def _set(message: Message, name: str, value: str) -> None:
    # ASCII goes as it is; anything else as RFC 2047 encoded words, which the generator folds where the
    # header needs it. The plain message classes take a Header object, though typeshed types them as
    # taking text only.
    message[name] = value if value.isascii() else Header(value, "utf-8")  # type: ignore[assignment]
