"""The headers that keep a ticket's e-mails in one conversation in every mail client. Pure functions.

Every ticket has a root Message-ID that nobody needs to store: it is made from the workspace and
ticket ids. The acknowledgement carries it as its own Message-ID; everything sent later names it in
In-Reply-To and References, which is how Gmail, Apple Mail and Thunderbird thread. Outlook threads by
Thread-Index, whose first 22 bytes name the conversation (a time and a GUID, both made here from the
ticket, so every message of the ticket shares them), and shows Thread-Topic as the conversation's name.

Replies find their ticket by the subject token (``[#123]``) and, where the workspace has a reply
address, by a per-ticket address (``help+123.5f2c9a1e@acme.test``) signed with the workspace's key, so a
ticket cannot be reached by guessing its number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from datetime import UTC, datetime

# FILETIME counts 100-nanosecond intervals since 1601-01-01.
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_NAMESPACE = uuid.UUID("0b9f3c52-6d1e-4c55-9d2a-2f0c6f1d8e41")
_SIGNATURE_LENGTH = 8


def _filetime(at: datetime) -> int:
    delta = at - _FILETIME_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def root_key(workspace_id: int, ticket_id: int) -> str:
    """The local part of a ticket's root Message-ID."""
    return f"ticket-{ticket_id}.w{workspace_id}"


def message_key(workspace_id: int, dedupe_key: str) -> str:
    """The local part of the Message-ID of one outbox message: the same for every attempt to send it."""
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:24]
    return f"{digest}.w{workspace_id}"


def message_id(key: str, domain: str) -> str:
    """A Message-ID header value."""
    return f"<{key}@{domain}>"


def thread_index(root: str, started_at: datetime, sent_at: datetime) -> str:
    """Outlook's Thread-Index for a message of the conversation ``root`` begun at ``started_at``.

    The first message gets the 22-byte header block; later ones add one 5-byte child block with the
    time since the start, so Outlook orders them and still sees one conversation.
    """
    header = _filetime(started_at).to_bytes(8, "big")[:6] + uuid.uuid5(_NAMESPACE, root).bytes
    if sent_at <= started_at:
        return base64.b64encode(header).decode()
    delta = _filetime(sent_at) - _filetime(started_at)
    # The child block: one bit saying which bits of the difference follow, 31 bits of it, and a byte
    # of random and sequence bits that this desk keeps at zero, so the value is the same on a retry.
    near = delta < 1 << 49
    block = (delta >> 18) & 0x7FFF_FFFF if near else (1 << 31) | ((delta >> 23) & 0x7FFF_FFFF)
    return base64.b64encode(header + block.to_bytes(4, "big") + b"\x00").decode()


def subject_token(number: int) -> str:
    return f"[#{number}]"


def with_subject_token(subject: str, number: int) -> str:
    """The subject with the ticket's token, added in front when the template left it out."""
    subject = " ".join(subject.split())  # a header is one line
    token = subject_token(number)
    return subject if token in subject else f"{token} {subject}".strip()


def _signature(key: str, workspace_id: int, ticket_id: int) -> str:
    mac = hmac.new(key.encode(), f"reply:{workspace_id}:{ticket_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:_SIGNATURE_LENGTH]


def ticket_reply_address(reply_address: str, key: str, workspace_id: int, ticket_id: int) -> str:
    """The reply address of one ticket: the workspace's address with the ticket and its signature after
    a plus sign."""
    local, _, domain = reply_address.rpartition("@")
    return f"{local}+{ticket_id}.{_signature(key, workspace_id, ticket_id)}@{domain}"


_PLUS_PART = re.compile(rf"\+(\d{{1,18}})\.([0-9a-f]{{{_SIGNATURE_LENGTH}}})@")


def ticket_of_reply_address(address: str, key: str, workspace_id: int) -> int | None:
    """The ticket a per-ticket reply address names, or ``None`` when it names none or its signature is
    wrong."""
    found = _PLUS_PART.search(address.lower())
    if found is None:
        return None
    ticket_id = int(found.group(1))
    expected = _signature(key, workspace_id, ticket_id)
    return ticket_id if hmac.compare_digest(expected, found.group(2)) else None
