"""What each e-mail says: the default wording of every kind renders in its own language, values are
escaped in HTML and nowhere else, and a workspace's own template is refused when it asks for more than
its kind offers."""

from __future__ import annotations

import pytest

from supportdesk.notifications.mail import templates
from supportdesk.notifications.mail.models import Audience, EmailKind
from supportdesk.notifications.mail.templates import TemplateRefused, Wording

pytestmark = pytest.mark.unit

HOSTILE = '<script>alert("x")</script> & co'


@pytest.mark.parametrize("kind", list(EmailKind), ids=str)
def test_every_default_wording_is_valid_in_its_kinds_language(kind: EmailKind) -> None:
    templates.check(kind, templates.DEFAULTS[kind])


@pytest.mark.parametrize(
    "kind", [kind for kind in EmailKind if "ticket" in templates.PLACEHOLDERS[kind]], ids=str
)
def test_every_default_subject_names_the_ticket(kind: EmailKind) -> None:
    rendered = templates.render(kind, templates.DEFAULTS[kind], templates.SAMPLE)
    assert "[#1042]" in rendered.subject
    assert "Cannot export my invoices" in rendered.subject


def test_the_sign_in_mail_is_about_no_ticket_and_names_the_workspace() -> None:
    kind = EmailKind.portal_sign_in
    rendered = templates.render(kind, templates.DEFAULTS[kind], templates.SAMPLE)
    assert "ticket" not in templates.PLACEHOLDERS[kind]
    assert rendered.subject == "Your link to sign in to Acme Support"


def test_a_reply_shows_the_agents_words_and_name() -> None:
    rendered = templates.render(
        EmailKind.agent_reply, templates.DEFAULTS[EmailKind.agent_reply], templates.SAMPLE
    )
    assert "The export works again.\nCould you try once more?" in rendered.text
    assert "Sam Carter" in rendered.text
    assert rendered.html is not None
    assert "The export works again." in rendered.html


def test_html_escapes_what_it_inserts_and_text_keeps_it_as_written() -> None:
    context = {**templates.SAMPLE, "ticket": {**templates.SAMPLE["ticket"], "title": HOSTILE}}
    rendered = templates.render(
        EmailKind.ticket_received, templates.DEFAULTS[EmailKind.ticket_received], context
    )
    assert HOSTILE in rendered.text
    assert rendered.html is not None
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in rendered.html


def test_the_html_body_sits_in_the_layout_with_the_workspaces_name() -> None:
    context = {**templates.SAMPLE, "workspace": {"name": "Acme <Support>"}}
    rendered = templates.render(
        EmailKind.ticket_received, templates.DEFAULTS[EmailKind.ticket_received], context
    )
    assert rendered.html is not None
    assert rendered.html.startswith("<!DOCTYPE html>")
    assert "Acme &lt;Support&gt;" in rendered.html


def test_a_value_the_ticket_lacks_is_empty_text() -> None:
    context = {**templates.SAMPLE, "customer": {"name": None, "email": "maria@example.com"}}
    rendered = templates.render(
        EmailKind.ticket_received, templates.DEFAULTS[EmailKind.ticket_received], context
    )
    assert rendered.text.startswith("Hello,\n")
    assert "None" not in rendered.text


def test_a_wording_without_html_is_sent_as_text_only() -> None:
    wording = Wording("{{ ticket.title }}", "Thanks, {{ customer.name }}.", None)
    rendered = templates.render(EmailKind.ticket_received, wording, templates.SAMPLE)
    assert (rendered.subject, rendered.text, rendered.html) == (
        "Cannot export my invoices",
        "Thanks, Maria Lopez.",
        None,
    )


@pytest.mark.parametrize(
    ("kind", "source", "reason"),
    [
        pytest.param(
            EmailKind.ticket_received,
            "{{ comment.content }}",
            "unknown-placeholder",
            id="no-comment-on-receipt",
        ),
        pytest.param(
            EmailKind.ticket_assigned,
            "{{ customer.email }}",
            "unknown-placeholder",
            id="staff-mail-has-no-customer",
        ),
        pytest.param(
            EmailKind.agent_reply, "{{ ticket.customer_id }}", "unknown-placeholder", id="a-field-not-offered"
        ),
        pytest.param(
            EmailKind.agent_reply,
            "{{ comment.content.__class__ }}",
            "unsupported-template",
            id="reaching-inside",
        ),
        pytest.param(
            EmailKind.agent_reply, "{% for x in ticket %}{% endfor %}", "unsupported-template", id="a-loop"
        ),
        pytest.param(EmailKind.agent_reply, "{{ ticket.title ", "template-syntax", id="unclosed"),
    ],
)
def test_a_template_asking_for_more_than_its_kind_offers_is_refused(
    kind: EmailKind, source: str, reason: str
) -> None:
    with pytest.raises(TemplateRefused) as refused:
        templates.check(kind, Wording(source, "body", None))
    assert refused.value.reason == reason


def test_what_each_kind_offers_follows_its_audience() -> None:
    for kind in EmailKind:
        roots = set(templates.PLACEHOLDERS[kind])
        if kind.audience is Audience.customer:
            assert "customer" in roots
            assert "recipient" not in roots
        else:
            assert "recipient" in roots
            assert "customer" not in roots
    assert "comment" in templates.PLACEHOLDERS[EmailKind.agent_reply]


def test_a_template_that_fails_only_when_rendered_is_refused_when_saved() -> None:
    with pytest.raises(TemplateRefused) as refused:
        templates.check(
            EmailKind.ticket_received, Wording("{{ ticket.title > ticket.number }}", "body", None)
        )
    assert refused.value.reason == "template-error"
