"""Macro replies: placeholders are filled in, missing customer values are empty, and a template that
names an unknown placeholder or does more than fill in text is refused when it is saved."""

from __future__ import annotations

import pytest

from supportdesk.automation.templates import (
    ReplyTemplateError,
    ReplyValues,
    check_reply_template,
    render_reply,
)

VALUES = ReplyValues(
    customer_name="Maria Lopez",
    customer_email="maria@example.com",
    ticket_number=42,
    ticket_title="Cannot export",
    agent_name="Sam Agent",
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("Hi {{ customer.name }},", "Hi Maria Lopez,", id="customer-name"),
        pytest.param(
            "We wrote to {{customer.email}}.", "We wrote to maria@example.com.", id="customer-email"
        ),
        pytest.param("Re: #{{ ticket.number }} {{ ticket.title }}", "Re: #42 Cannot export", id="ticket"),
        pytest.param("-- {{ agent.name }}", "-- Sam Agent", id="agent-name"),
        pytest.param("{{ customer['name'] }}", "Maria Lopez", id="subscript-form"),
        pytest.param("{{ customer.name | upper }}", "MARIA LOPEZ", id="text-filter"),
        pytest.param(
            "{% if customer.name %}Dear {{ customer.name }}{% else %}Hello{% endif %}",
            "Dear Maria Lopez",
            id="if-block",
        ),
        pytest.param("No placeholders at all.", "No placeholders at all.", id="plain-text"),
        pytest.param("Line one\n\nLine two\n", "Line one\n\nLine two\n", id="lines-kept"),
        pytest.param("<b>{{ customer.name }}</b> & co", "<b>Maria Lopez</b> & co", id="not-html-escaped"),
    ],
)
def test_placeholders_are_filled_in(template: str, expected: str) -> None:
    check_reply_template(template)
    assert render_reply(template, VALUES) == expected


def test_missing_customer_values_are_empty_text() -> None:
    template = "Hi {{ customer.name }} <{{ customer.email }}>, about #{{ ticket.number }}"
    no_customer = ReplyValues(ticket_number=7, ticket_title="Hello", agent_name="Sam")
    assert render_reply(template, no_customer) == "Hi  <>, about #7"


def test_a_missing_name_can_fall_back_in_the_template() -> None:
    template = "Hi {{ customer.name or 'there' }}"
    check_reply_template(template)
    assert render_reply(template, ReplyValues()) == "Hi there"


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        pytest.param("Hi {{ customer.phone }}", "unknown-placeholder", id="unknown-attribute"),
        pytest.param("Hi {{ name }}", "unknown-placeholder", id="unknown-name"),
        pytest.param("{{ customer }}", "unknown-placeholder", id="a-whole-object"),
        pytest.param("{{ ticket.status }}", "unknown-placeholder", id="a-ticket-field-not-offered"),
        pytest.param("{% if agent.email %}x{% endif %}", "unknown-placeholder", id="unknown-in-a-condition"),
        pytest.param("{{ customer.__class__ }}", "unknown-placeholder", id="dunder"),
        pytest.param("Hi {{ customer.name ", "template-syntax", id="unclosed-placeholder"),
        pytest.param("{% if %}", "template-syntax", id="broken-block"),
        pytest.param("{% for c in customer %}{% endfor %}", "unsupported-template", id="loop"),
        pytest.param("{{ customer.name.upper() }}", "unsupported-template", id="method-call"),
        pytest.param("{{ 9 ** 9 ** 9 }}", "unsupported-template", id="arithmetic"),
        pytest.param("{{ customer.name | wordwrap }}", "unsupported-template", id="filter-not-offered"),
        pytest.param("{% set x = 1 %}", "unsupported-template", id="assignment"),
        pytest.param("{% include 'other' %}", "unsupported-template", id="include"),
    ],
)
def test_an_invalid_template_is_refused(template: str, reason: str) -> None:
    with pytest.raises(ReplyTemplateError) as refused:
        check_reply_template(template)
    assert refused.value.reason == reason


def test_the_refusal_names_the_placeholders_to_use() -> None:
    with pytest.raises(ReplyTemplateError) as refused:
        check_reply_template("{{ customer.phone }}")
    assert "customer.phone" in refused.value.message
    assert "customer.name" in refused.value.message
