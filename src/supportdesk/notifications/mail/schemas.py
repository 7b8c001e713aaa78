"""Request and response bodies of the e-mail templates API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from supportdesk.core.schemas import RequestModel, ResponseModel, Text
from supportdesk.notifications.mail import templates
from supportdesk.notifications.mail.models import Audience, EmailKind, EmailTemplate

Subject = Annotated[str, Text(strip_whitespace=True, min_length=1, max_length=500)]
TextBody = Annotated[str, Text(strip_whitespace=False, min_length=1, max_length=20_000)]
HtmlBody = Annotated[str, Text(strip_whitespace=False, min_length=1, max_length=50_000)]


class EmailTemplateOut(ResponseModel):
    """One kind of e-mail as the workspace sends it: its own wording, or the default."""

    kind: EmailKind
    audience: Audience
    customized: bool
    subject: str
    text_body: str
    # None: sent as plain text only.
    html_body: str | None
    placeholders: list[str]
    updated_at: datetime | None


def template_out(kind: EmailKind, own: EmailTemplate | None) -> EmailTemplateOut:
    """One kind of e-mail as the workspace sends it: its own wording (``own``), or the default."""
    wording = (
        templates.Wording(own.subject, own.text_body, own.html_body) if own else templates.DEFAULTS[kind]
    )
    names = templates.PLACEHOLDERS[kind]
    return EmailTemplateOut(
        kind=kind,
        audience=kind.audience,
        customized=own is not None,
        subject=wording.subject,
        text_body=wording.text,
        html_body=wording.html,
        placeholders=[f"{root}.{name}" for root, fields in names.items() for name in sorted(fields)],
        updated_at=own.updated_at if own else None,
    )


class EmailTemplateIn(RequestModel):
    """A workspace's wording of one kind of e-mail. The HTML body holds the message only; the desk
    places it in its layout. Without one the e-mail is plain text."""

    subject: Subject
    text_body: TextBody
    html_body: HtmlBody | None = None


class EmailPreviewOut(ResponseModel):
    """An e-mail as it would be sent, rendered with sample values."""

    subject: str
    text: str
    html: str | None
