"""What each e-mail says: the default wording of every kind, the placeholders each kind offers, and the
rendering of a subject, a text body and an HTML body. No I/O.

A workspace may replace any kind's wording (an ``EmailTemplate`` row); its templates use the same
sandboxed language as macro replies (:mod:`supportdesk.core.templates`), checked when saved. HTML bodies
escape every value they insert and are placed in one fixed layout, so a template holds only its message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from supportdesk.core.errors import InvalidInput
from supportdesk.core.templates import TemplateLanguage, TemplateRefused
from supportdesk.notifications.mail.models import EmailKind

__all__ = [
    "DEFAULTS",
    "LANGUAGES",
    "PLACEHOLDERS",
    "Rendered",
    "TemplateRefused",
    "Wording",
    "check",
    "checked",
    "render",
    "render_or_default",
]

_TICKET = frozenset({"number", "title", "status", "priority"})
_CUSTOMER_ROOTS: dict[str, frozenset[str]] = {
    "workspace": frozenset({"name"}),
    "ticket": _TICKET,
    "customer": frozenset({"name", "email"}),
}
_STAFF_ROOTS: dict[str, frozenset[str]] = {
    "workspace": frozenset({"name"}),
    "ticket": _TICKET,
    "recipient": frozenset({"name"}),
    "notification": frozenset({"message"}),
}
PLACEHOLDERS: Mapping[EmailKind, Mapping[str, frozenset[str]]] = {
    EmailKind.ticket_received: _CUSTOMER_ROOTS,
    EmailKind.agent_reply: _CUSTOMER_ROOTS
    | {"agent": frozenset({"name"}), "comment": frozenset({"content"})},
    EmailKind.status_changed: _CUSTOMER_ROOTS | {"previous": frozenset({"status"})},
    EmailKind.satisfaction_request: _CUSTOMER_ROOTS,
    EmailKind.ticket_assigned: _STAFF_ROOTS,
    EmailKind.sla_breached: _STAFF_ROOTS,
    EmailKind.ticket_escalated: _STAFF_ROOTS,
    EmailKind.portal_sign_in: {
        "workspace": frozenset({"name"}),
        "customer": frozenset({"name", "email"}),
        "link": frozenset({"url", "minutes"}),
    },
}
LANGUAGES: Mapping[EmailKind, TemplateLanguage] = {
    kind: TemplateLanguage(noun=f"the {kind.value} template", placeholders=roots)
    for kind, roots in PLACEHOLDERS.items()
}

# What every placeholder shows when a template is checked or previewed.
SAMPLE: Mapping[str, Mapping[str, Any]] = {
    "workspace": {"name": "Acme Support"},
    "ticket": {
        "number": 1042,
        "title": "Cannot export my invoices",
        "status": "resolved",
        "priority": "high",
    },
    "customer": {"name": "Maria Lopez", "email": "maria@example.com"},
    "agent": {"name": "Sam Carter"},
    "comment": {"content": "Thanks for waiting. The export works again.\nCould you try once more?"},
    "previous": {"status": "open"},
    "recipient": {"name": "Sam Carter"},
    "notification": {"message": "Ticket #1042 was assigned to you: Cannot export my invoices"},
    "link": {"url": "https://help.example.com/portal/acme/sign-in/abc123", "minutes": 15},
}


@dataclass(frozen=True, slots=True)
class Wording:
    """One kind's templates: subject, text body and (optionally) HTML body."""

    subject: str
    text: str
    html: str | None


_GREETING = "Hello{% if customer.name %} {{ customer.name }}{% endif %},"
_SIGN_OFF = "{{ workspace.name }}"
_REPLY_ABOVE = "Reply to this e-mail to add to your request."
_WHY_STAFF = "You get this e-mail because e-mail notifications are on in your profile."


def _staff_wording(what: str) -> Wording:
    # Staff mail repeats the in-app notification, with the ticket's state; only the subject differs.
    return Wording(
        subject=f"[#{{{{ ticket.number }}}}] {what}: {{{{ ticket.title }}}}",
        text=(
            "{{ notification.message }}\n\n"
            "Priority: {{ ticket.priority }}\nStatus: {{ ticket.status }}\n\n"
            f"{_WHY_STAFF}\n"
        ),
        html=(
            "<p>{{ notification.message }}</p>\n"
            "<p>Priority: {{ ticket.priority }}<br>Status: {{ ticket.status }}</p>\n"
            f"<p>{_WHY_STAFF}</p>\n"
        ),
    )


DEFAULTS: Mapping[EmailKind, Wording] = {
    EmailKind.ticket_received: Wording(
        subject="[#{{ ticket.number }}] {{ ticket.title }}",
        text=(
            f"{_GREETING}\n\n"
            'we have received your request "{{ ticket.title }}" and given it the number '
            "{{ ticket.number }}. Someone from our team will answer you soon.\n\n"
            f"{_REPLY_ABOVE}\n\n{_SIGN_OFF}\n"
        ),
        html=(
            f"<p>{_GREETING}</p>\n"
            "<p>we have received your request <strong>{{ ticket.title }}</strong> and given it the number "
            "{{ ticket.number }}. Someone from our team will answer you soon.</p>\n"
            f"<p>{_REPLY_ABOVE}</p>\n"
        ),
    ),
    EmailKind.agent_reply: Wording(
        subject="Re: [#{{ ticket.number }}] {{ ticket.title }}",
        text=f"{{{{ comment.content }}}}\n\n-- \n{{{{ agent.name }}}}, {_SIGN_OFF}\n\n{_REPLY_ABOVE}\n",
        html=(
            '<div style="white-space: pre-wrap">{{ comment.content }}</div>\n'
            "<p>{{ agent.name }}</p>\n"
            f"<p>{_REPLY_ABOVE}</p>\n"
        ),
    ),
    EmailKind.status_changed: Wording(
        subject="[#{{ ticket.number }}] {{ ticket.title }}: now {{ ticket.status }}",
        text=(
            f"{_GREETING}\n\n"
            'your request "{{ ticket.title }}" (number {{ ticket.number }}) changed from '
            "{{ previous.status }} to {{ ticket.status }}.\n\n"
            f"{_REPLY_ABOVE}\n\n{_SIGN_OFF}\n"
        ),
        html=(
            f"<p>{_GREETING}</p>\n"
            "<p>your request <strong>{{ ticket.title }}</strong> (number {{ ticket.number }}) changed "
            "from {{ previous.status }} to <strong>{{ ticket.status }}</strong>.</p>\n"
            f"<p>{_REPLY_ABOVE}</p>\n"
        ),
    ),
    EmailKind.satisfaction_request: Wording(
        subject="[#{{ ticket.number }}] How did we do? {{ ticket.title }}",
        text=(
            f"{_GREETING}\n\n"
            'we have marked your request "{{ ticket.title }}" (number {{ ticket.number }}) as resolved. '
            "Were you happy with the help you got? Answer this e-mail with a word or two: it goes "
            "straight to the team. If the problem is not solved, say so and the request opens again.\n\n"
            f"{_SIGN_OFF}\n"
        ),
        html=(
            f"<p>{_GREETING}</p>\n"
            "<p>we have marked your request <strong>{{ ticket.title }}</strong> (number "
            "{{ ticket.number }}) as resolved.</p>\n"
            "<p>Were you happy with the help you got? Answer this e-mail with a word or two: it goes "
            "straight to the team. If the problem is not solved, say so and the request opens again.</p>\n"
        ),
    ),
    EmailKind.portal_sign_in: Wording(
        subject="Your link to sign in to {{ workspace.name }}",
        text=(
            f"{_GREETING}\n\n"
            "here is your link to sign in and see your requests:\n\n"
            "{{ link.url }}\n\n"
            "It works once, for {{ link.minutes }} minutes. If you did not ask for it, you can ignore "
            "this e-mail: nobody can sign in without the link.\n\n"
            f"{_SIGN_OFF}\n"
        ),
        html=(
            f"<p>{_GREETING}</p>\n"
            "<p>here is your link to sign in and see your requests:</p>\n"
            '<p><a href="{{ link.url }}">Sign in to {{ workspace.name }}</a></p>\n'
            "<p>It works once, for {{ link.minutes }} minutes. If you did not ask for it, you can ignore "
            "this e-mail: nobody can sign in without the link.</p>\n"
        ),
    ),
    EmailKind.ticket_assigned: _staff_wording("Assigned to you"),
    EmailKind.sla_breached: _staff_wording("SLA breached"),
    EmailKind.ticket_escalated: _staff_wording("Escalated"),
}

_LAYOUT = (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>\n'
    '<body style="font-family: -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif; '
    'font-size: 15px; line-height: 1.5; color: #1f2933; max-width: 640px; margin: 0 auto; padding: 16px">\n'
    "{body}"
    '<hr style="border: 0; border-top: 1px solid #d9e2ec; margin: 24px 0 8px">\n'
    '<p style="font-size: 13px; color: #627d98">{workspace}</p>\n'
    "</body></html>\n"
)


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str | None


def _shown(value: Any) -> Any:
    # A value the ticket does not have (a customer without a name) is empty text, never "None".
    return "" if value is None else value


def check(kind: EmailKind, wording: Wording) -> None:
    """Refuse a wording its kind's language does not allow; raises
    :class:`~supportdesk.core.templates.TemplateRefused`."""
    language = LANGUAGES[kind]
    language.check(wording.subject, SAMPLE)
    language.check(wording.text, SAMPLE)
    if wording.html is not None:
        language.check(wording.html, SAMPLE, html=True)


def checked(kind: EmailKind, wording: Wording) -> Wording:
    """``wording``, once its kind's language allows each part; a refused part raises
    :class:`~supportdesk.core.errors.InvalidInput` naming the part as the API's body names it."""
    for field, source, html in (
        ("subject", wording.subject, False),
        ("text_body", wording.text, False),
        ("html_body", wording.html, True),
    ):
        if source is None:
            continue
        try:
            LANGUAGES[kind].check(source, SAMPLE, html=html)
        except TemplateRefused as refused:
            raise InvalidInput(field, refused.message, reason=refused.reason) from None
    return wording


def render(kind: EmailKind, wording: Wording, context: Mapping[str, Mapping[str, Any]]) -> Rendered:
    """The e-mail's subject and bodies for ``context`` (missing roots render as empty values)."""
    language = LANGUAGES[kind]
    values = {
        root: {name: _shown(context.get(root, {}).get(name)) for name in names}
        for root, names in language.placeholders.items()
    }
    subject = language.render(wording.subject, values)
    text = language.render(wording.text, values)
    html = None
    if wording.html is not None:
        body = language.render(wording.html, values, html=True)
        html = _LAYOUT.format(
            title=escape(" ".join(subject.split())),
            body=body,
            workspace=escape(str(values["workspace"]["name"])),
        )
    return Rendered(subject=subject, text=text, html=html)


def render_or_default(kind: EmailKind, wording: Wording, values: Mapping[str, Mapping[str, Any]]) -> Rendered:
    """:func:`render`, or the default wording of ``kind`` where ``wording`` cannot render these values.

    A workspace's own template was checked when saved, but a value can still trip it (a filter on an
    empty one): the default wording says the same, and the recipient is told either way. The outcome
    depends only on the wording and the values, so every attempt at sending one e-mail renders the
    same."""
    try:
        return render(kind, wording, values)
    except TemplateRefused:
        return render(kind, DEFAULTS[kind], values)
