"""From a rendered template to the message the worker sends. Pure functions.

A :class:`Draft` is what the outbox row holds: written when the change commits, with everything the
workspace decides (wording, addresses, threading). :func:`complete` adds what the server decides when the
message leaves (the sender address of a workspace without its own, and the Message-ID domain that
follows from it), so a retry after a configuration fix still sends, and sends the same Message-ID.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from supportdesk.jobs.channels import DeliveryFailed
from supportdesk.notifications.mail import threading
from supportdesk.notifications.mail.message import OutgoingEmail
from supportdesk.notifications.mail.models import Audience, EmailKind
from supportdesk.notifications.mail.templates import Rendered


@dataclass(frozen=True, slots=True)
class Identity:
    """How a workspace's e-mail presents itself: sender, reply address, and the providers it goes by."""

    workspace_id: int
    from_address: str | None
    from_name: str | None
    reply_address: str | None
    reply_key: str
    providers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Thread:
    """The ticket a message belongs to, as threading needs it."""

    ticket_id: int
    number: int
    title: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Draft:
    """One e-mail as its outbox row keeps it."""

    kind: EmailKind
    to: str
    subject: str
    text: str
    html: str | None
    from_address: str | None
    from_name: str | None
    reply_to: str | None
    key: str  # the local part of its Message-ID
    thread: str  # the local part of the ticket's root Message-ID
    thread_topic: str
    thread_index: str
    providers: tuple[str, ...]
    created_at: datetime

    def to_payload(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "from_address": self.from_address,
            "from_name": self.from_name,
            "reply_to": self.reply_to,
            "key": self.key,
            "thread": self.thread,
            "thread_topic": self.thread_topic,
            "thread_index": self.thread_index,
            "providers": list(self.providers),
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Draft:
        return cls(
            kind=EmailKind(payload["kind"]),
            to=payload["to"],
            subject=payload["subject"],
            text=payload["text"],
            html=payload.get("html"),
            from_address=payload.get("from_address"),
            from_name=payload.get("from_name"),
            reply_to=payload.get("reply_to"),
            key=payload["key"],
            thread=payload["thread"],
            thread_topic=payload["thread_topic"],
            thread_index=payload["thread_index"],
            providers=tuple(payload.get("providers") or ()),
            created_at=datetime.fromisoformat(payload["created_at"]),
        )


def draft(
    kind: EmailKind,
    rendered: Rendered,
    *,
    identity: Identity,
    thread: Thread,
    to: str,
    dedupe_key: str,
    now: datetime,
    from_name: str,
) -> Draft:
    """The e-mail ``rendered`` for ``to`` about ``thread``'s ticket.

    The acknowledgement of a new ticket is the conversation's first message and carries the root
    Message-ID; every other message refers to it. Customers reply to the ticket's own address when the
    workspace has a reply address; staff notifications are answered in the desk, not by mail.
    """
    root = threading.root_key(identity.workspace_id, thread.ticket_id)
    key = (
        root
        if kind is EmailKind.ticket_received
        else threading.message_key(identity.workspace_id, dedupe_key)
    )
    reply_to = None
    if identity.reply_address and kind.audience is Audience.customer:
        reply_to = threading.ticket_reply_address(
            identity.reply_address, identity.reply_key, identity.workspace_id, thread.ticket_id
        )
    return Draft(
        kind=kind,
        to=to,
        subject=threading.with_subject_token(rendered.subject, thread.number),
        text=rendered.text,
        html=rendered.html,
        from_address=identity.from_address,
        from_name=identity.from_name or from_name,
        reply_to=reply_to,
        key=key,
        thread=root,
        thread_topic=" ".join(thread.title.split()),
        thread_index=threading.thread_index(root, thread.created_at, now),
        providers=identity.providers,
        created_at=now,
    )


def standalone_draft(
    kind: EmailKind,
    rendered: Rendered,
    *,
    identity: Identity,
    to: str,
    dedupe_key: str,
    now: datetime,
    from_name: str,
) -> Draft:
    """The e-mail ``rendered`` for ``to`` about no ticket (a sign-in link): its own conversation, with no
    subject token and no reply address, since nothing answers it."""
    key = threading.message_key(identity.workspace_id, dedupe_key)
    return Draft(
        kind=kind,
        to=to,
        subject=" ".join(rendered.subject.split()),
        text=rendered.text,
        html=rendered.html,
        from_address=identity.from_address,
        from_name=identity.from_name or from_name,
        reply_to=None,
        key=key,
        thread=key,
        thread_topic=" ".join(rendered.subject.split()),
        thread_index=threading.thread_index(key, now, now),
        providers=identity.providers,
        created_at=now,
    )


# Notifications are machine-made (RFC 3834): auto-responders must not answer them. An agent's reply is
# a person's message, but out-of-office answers to it are noise all the same (Outlook honours this).
_AUTOMATIC = frozenset(set(EmailKind) - {EmailKind.agent_reply})


def complete(draft: Draft, default_from: str) -> OutgoingEmail:
    """The message to send: the workspace's sender address, or the server's when it has none."""
    from_address = draft.from_address or default_from
    local, at, domain = from_address.rpartition("@")
    if not (local and at and domain):
        # A configuration mistake, not the message's: it waits for its retries while it is fixed.
        raise DeliveryFailed(f"the sender address {from_address!r} is not an e-mail address")
    headers = {
        "Thread-Topic": draft.thread_topic,
        "Thread-Index": draft.thread_index,
        "X-Auto-Response-Suppress": "OOF, AutoReply",
    }
    if draft.key != draft.thread:
        root = threading.message_id(draft.thread, domain)
        headers["In-Reply-To"] = root
        headers["References"] = root
    if draft.kind in _AUTOMATIC:
        headers["Auto-Submitted"] = "auto-generated"
    return OutgoingEmail(
        from_address=from_address,
        from_name=draft.from_name,
        to=(draft.to,),
        reply_to=draft.reply_to,
        subject=draft.subject,
        text=draft.text,
        html=draft.html,
        message_id=threading.message_id(draft.key, domain),
        sent_at=draft.created_at,
        headers=headers,
    )
