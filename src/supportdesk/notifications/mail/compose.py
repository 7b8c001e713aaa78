"""From a template to the message the worker sends. Pure functions.

A :class:`Draft` is what the outbox row holds: written when the change commits, with everything the
workspace decides (wording, addresses, threading). A ticket's e-mail keeps its wording and the values it
is rendered with (a :class:`Composition`), and the worker renders it when it sends: every attempt
renders the same wording with the same values, so it sends the same bytes, and a template edited later
changes only later mail (decision 0056). :func:`complete` adds what the server decides when the message
leaves (the sender address of a workspace without its own, and the Message-ID domain that follows from
it), so a retry after a configuration fix still sends, and sends the same Message-ID.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from supportdesk.jobs.channels import DeliveryFailed
from supportdesk.notifications.mail import threading
from supportdesk.notifications.mail.message import OutgoingEmail
from supportdesk.notifications.mail.models import Audience, EmailKind
from supportdesk.notifications.mail.templates import Rendered, Wording, render_or_default


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
class Composition:
    """What an e-mail about a ticket says before it is rendered: the wording of its kind (the workspace's
    own or the default, as it was when the change happened), the values for its placeholders, and the
    ticket number its subject carries."""

    wording: Wording
    values: Mapping[str, Mapping[str, Any]]
    number: int

    def render(self, kind: EmailKind) -> Rendered:
        rendered = render_or_default(kind, self.wording, self.values)
        subject = threading.with_subject_token(rendered.subject, self.number)
        return Rendered(subject=subject, text=rendered.text, html=rendered.html)


@dataclass(frozen=True, slots=True)
class Draft:
    """One e-mail as its outbox row keeps it: rendered already, or (a ticket's e-mail) its
    :class:`Composition`, which :meth:`rendered` renders."""

    kind: EmailKind
    to: str
    content: Rendered | Composition
    from_address: str | None
    from_name: str | None
    reply_to: str | None
    key: str  # the local part of its Message-ID
    thread: str  # the local part of the ticket's root Message-ID
    thread_topic: str
    thread_index: str
    providers: tuple[str, ...]
    created_at: datetime

    def rendered(self) -> Rendered:
        """The subject and bodies to send."""
        if isinstance(self.content, Rendered):
            return self.content
        return self.content.render(self.kind)

    def render(self) -> Draft:
        """This draft with its content rendered."""
        return replace(self, content=self.rendered())

    def to_payload(self) -> dict[str, Any]:
        content = self.content
        if isinstance(content, Rendered):
            body: dict[str, Any] = {"subject": content.subject, "text": content.text, "html": content.html}
        else:
            wording = content.wording
            body = {
                "wording": {"subject": wording.subject, "text": wording.text, "html": wording.html},
                "values": content.values,
                "number": content.number,
            }
        return {
            "kind": self.kind.value,
            "to": self.to,
            **body,
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
        content: Rendered | Composition
        wording = payload.get("wording")
        if wording is None:
            # Rendered when the change happened: every e-mail written before 0056, and sign-in links.
            content = Rendered(subject=payload["subject"], text=payload["text"], html=payload.get("html"))
        else:
            content = Composition(
                wording=Wording(wording["subject"], wording["text"], wording.get("html")),
                values=payload["values"],
                number=payload["number"],
            )
        return cls(
            kind=EmailKind(payload["kind"]),
            to=payload["to"],
            content=content,
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
    content: Rendered | Composition,
    *,
    identity: Identity,
    thread: Thread,
    to: str,
    dedupe_key: str,
    now: datetime,
    from_name: str,
) -> Draft:
    """The e-mail ``content`` for ``to`` about ``thread``'s ticket: a :class:`Composition`, which the
    worker renders, or an e-mail rendered already (whose subject then gets the ticket's token now).

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
    if isinstance(content, Rendered):
        subject = threading.with_subject_token(content.subject, thread.number)
        content = Rendered(subject=subject, text=content.text, html=content.html)
    return Draft(
        kind=kind,
        to=to,
        content=content,
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
        content=Rendered(subject=" ".join(rendered.subject.split()), text=rendered.text, html=rendered.html),
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
    """The message to send, rendered: the workspace's sender address, or the server's when it has none."""
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
    rendered = draft.rendered()
    return OutgoingEmail(
        from_address=from_address,
        from_name=draft.from_name,
        to=(draft.to,),
        reply_to=draft.reply_to,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=threading.message_id(draft.key, domain),
        sent_at=draft.created_at,
        headers=headers,
    )
