"""The sign-in e-mail: its default wording in text and HTML, and a draft that belongs to no ticket."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from supportdesk.notifications.mail import templates
from supportdesk.notifications.mail.compose import Identity, complete, standalone_draft
from supportdesk.notifications.mail.models import Audience, EmailKind

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
CONTEXT: Mapping[str, Mapping[str, Any]] = {
    "workspace": {"name": "Acme <Support>"},
    "customer": {"name": "Maria", "email": "maria@example.com"},
    "link": {"url": "https://help.example.com/portal/acme/sign-in/abc?x=1&y=2", "minutes": 15},
}


def test_the_default_wording_passes_its_own_check() -> None:
    templates.check(EmailKind.portal_sign_in, templates.DEFAULTS[EmailKind.portal_sign_in])
    assert EmailKind.portal_sign_in.audience is Audience.customer


def test_the_link_is_in_both_bodies_and_escaped_in_the_html() -> None:
    rendered = templates.render(
        EmailKind.portal_sign_in, templates.DEFAULTS[EmailKind.portal_sign_in], CONTEXT
    )

    assert "https://help.example.com/portal/acme/sign-in/abc?x=1&y=2" in rendered.text
    assert "15 minutes" in rendered.text
    assert rendered.html is not None
    assert 'href="https://help.example.com/portal/acme/sign-in/abc?x=1&amp;y=2"' in rendered.html
    assert "Acme &lt;Support&gt;" in rendered.html


def test_the_draft_threads_on_its_own_and_cannot_be_answered() -> None:
    rendered = templates.render(
        EmailKind.portal_sign_in, templates.DEFAULTS[EmailKind.portal_sign_in], CONTEXT
    )
    identity = Identity(
        workspace_id=7,
        from_address=None,
        from_name=None,
        reply_address="help@acme.example.com",
        reply_key="key",
        providers=(),
    )

    draft = standalone_draft(
        EmailKind.portal_sign_in,
        rendered,
        identity=identity,
        to="maria@example.com",
        dedupe_key="mail:portal_sign_in:portal-link:1",
        now=NOW,
        from_name="Acme",
    )
    email = complete(draft, "desk@example.com")

    assert draft.reply_to is None
    assert "[#" not in draft.rendered().subject
    assert "In-Reply-To" not in email.headers
    assert email.headers["Auto-Submitted"] == "auto-generated"
