"""From a rendered template to the message sent: who it is from, where replies go, and the headers that
thread it and keep auto-responders quiet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest

from supportdesk.jobs.channels import DeliveryFailed
from supportdesk.notifications.mail import templates, threading
from supportdesk.notifications.mail.compose import Composition, Draft, Identity, Thread, complete, draft
from supportdesk.notifications.mail.models import EmailKind
from supportdesk.notifications.mail.templates import Rendered, Wording

pytestmark = pytest.mark.unit

CREATED = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
THREAD = Thread(ticket_id=77, number=12, title="Printer  on fire", created_at=CREATED)
RENDERED = Rendered(subject="Printer on fire", text="Hello", html="<p>Hello</p>")
KEY = "5b0d1b8e2f4a4c3e9d7f6a5b4c3d2e1f"


def identity(**changes: object) -> Identity:
    values: dict[str, object] = {
        "workspace_id": 3,
        "from_address": "help@acme.test",
        "from_name": None,
        "reply_address": "replies@acme.test",
        "reply_key": KEY,
        "providers": ("smtp", "sendgrid"),
    }
    values.update(changes)
    return Identity(**values)  # type: ignore[arg-type]


def drafted(kind: EmailKind, *, at: timedelta = timedelta(0), **changes: object) -> Draft:
    return draft(
        kind,
        RENDERED,
        identity=identity(**changes),
        thread=THREAD,
        to="maria@example.com",
        dedupe_key=f"mail:{kind.value}:ticket:77",
        now=CREATED + at,
        from_name="Acme Support",
    )


def test_the_acknowledgement_starts_the_conversation() -> None:
    email = complete(drafted(EmailKind.ticket_received), "desk@example.net")
    assert email.message_id == "<ticket-77.w3@acme.test>"
    assert "In-Reply-To" not in email.headers
    assert "References" not in email.headers
    assert email.subject == "[#12] Printer on fire"
    assert email.headers["Thread-Topic"] == "Printer on fire"


def test_every_later_message_refers_to_the_conversations_start() -> None:
    first = complete(drafted(EmailKind.ticket_received), "desk@example.net")
    reply = complete(drafted(EmailKind.agent_reply, at=timedelta(hours=2)), "desk@example.net")
    assert reply.message_id != first.message_id
    assert reply.headers["In-Reply-To"] == first.message_id
    assert reply.headers["References"] == first.message_id
    assert reply.headers["Thread-Index"].startswith(first.headers["Thread-Index"][:28])


def test_customers_reply_to_the_tickets_own_address() -> None:
    email = complete(drafted(EmailKind.agent_reply), "desk@example.net")
    assert email.reply_to is not None
    assert threading.ticket_of_reply_address(email.reply_to, KEY, 3) == 77


def test_without_a_reply_address_customers_reply_to_the_sender() -> None:
    email = complete(drafted(EmailKind.agent_reply, reply_address=None), "desk@example.net")
    assert email.reply_to is None
    assert email.to_mime()["Reply-To"] is None


def test_staff_notifications_have_no_reply_address() -> None:
    assert complete(drafted(EmailKind.ticket_assigned), "desk@example.net").reply_to is None


@pytest.mark.parametrize(
    ("kind", "automatic"),
    [
        pytest.param(EmailKind.ticket_received, True, id="acknowledgement"),
        pytest.param(EmailKind.status_changed, True, id="status-change"),
        pytest.param(EmailKind.sla_breached, True, id="breach-to-staff"),
        pytest.param(EmailKind.agent_reply, False, id="a-persons-reply"),
    ],
)
def test_machine_made_mail_says_so_and_asks_for_no_out_of_office_answers(
    kind: EmailKind, automatic: bool
) -> None:
    email = complete(drafted(kind), "desk@example.net")
    assert (email.headers.get("Auto-Submitted") == "auto-generated") is automatic
    assert email.headers["X-Auto-Response-Suppress"] == "OOF, AutoReply"


def test_a_workspace_without_a_sender_address_sends_from_the_servers() -> None:
    email = complete(drafted(EmailKind.ticket_received, from_address=None), "desk@example.net")
    assert email.from_address == "desk@example.net"
    assert email.from_name == "Acme Support", "named after the workspace"
    assert email.message_id == "<ticket-77.w3@example.net>"


def test_a_server_sender_address_that_is_no_address_holds_the_message_for_a_retry() -> None:
    with pytest.raises(DeliveryFailed) as failed:
        complete(drafted(EmailKind.ticket_received, from_address=None), "desk")
    assert not failed.value.permanent
    assert "'desk' is not an e-mail address" in str(failed.value)


def test_the_stored_draft_sends_the_same_message_on_every_attempt() -> None:
    stored = drafted(EmailKind.agent_reply, at=timedelta(minutes=5))
    again = Draft.from_payload(stored.to_payload())
    assert again == stored
    assert complete(again, "desk@example.net") == complete(stored, "desk@example.net")


def test_the_mime_message_parses_with_its_threading_headers_and_both_bodies() -> None:
    email = complete(drafted(EmailKind.agent_reply, at=timedelta(minutes=5)), "desk@example.net")
    parsed = message_from_bytes(email.to_mime().as_bytes(), policy=policy.default)
    assert parsed["Message-ID"] == email.message_id
    assert parsed["In-Reply-To"] == "<ticket-77.w3@acme.test>"
    assert parsed["From"] == "Acme Support <help@acme.test>"
    assert parsed.get_body(("plain",)).get_content().strip() == "Hello"  # type: ignore[union-attr]
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Hello</p>"  # type: ignore[union-attr]


VALUES: dict[str, dict[str, object]] = {
    "workspace": {"name": "Acme Support"},
    "ticket": {"number": 12, "title": "Printer on fire", "status": "open", "priority": "high"},
    "customer": {"name": "Maria", "email": "maria@example.com"},
}


def composed(wording: Wording, values: dict[str, dict[str, object]] = VALUES) -> Draft:
    return draft(
        EmailKind.ticket_received,
        Composition(wording=wording, values=values, number=12),
        identity=identity(),
        thread=THREAD,
        to="maria@example.com",
        dedupe_key="mail:ticket_received:ticket:77:created",
        now=CREATED,
        from_name="Acme Support",
    )


def test_a_tickets_email_is_kept_unrendered_and_rendered_when_it_is_sent() -> None:
    stored = composed(templates.DEFAULTS[EmailKind.ticket_received])
    payload = stored.to_payload()
    assert "subject" not in payload, "the outbox row keeps the wording and values, not the text"
    assert payload["wording"]["subject"] == templates.DEFAULTS[EmailKind.ticket_received].subject

    email = complete(Draft.from_payload(payload), "desk@example.net")
    assert email.subject == "[#12] Printer on fire"
    assert email.text.startswith("Hello Maria,")
    assert email.html is not None
    assert "<strong>Printer on fire</strong>" in email.html


def test_every_attempt_renders_the_same_bytes_from_the_stored_wording() -> None:
    own = Wording(subject="Got it: {{ ticket.title }}", text="Dear {{ customer.name }}.", html=None)
    stored = composed(own).to_payload()
    first = complete(Draft.from_payload(stored), "desk@example.net")
    again = complete(Draft.from_payload(dict(stored)), "desk@example.net")
    assert first == again
    assert first.to_mime().as_bytes() == again.to_mime().as_bytes()
    assert (first.subject, first.text) == ("[#12] Got it: Printer on fire", "Dear Maria.")


def test_a_wording_these_values_trip_is_sent_in_the_default_wording() -> None:
    tripping = Wording(subject="{{ ticket.number > 'x' }}", text="Hi", html=None)
    email = complete(Draft.from_payload(composed(tripping).to_payload()), "desk@example.net")
    assert email.subject == "[#12] Printer on fire"
    assert email.text.startswith("Hello Maria,")


def test_an_email_rendered_when_the_change_happened_is_sent_as_it_was() -> None:
    rendered = drafted(EmailKind.ticket_received).to_payload()
    assert rendered["subject"] == "[#12] Printer on fire", "written rendered, as before 0056"
    email = complete(Draft.from_payload(rendered), "desk@example.net")
    assert (email.subject, email.text) == ("[#12] Printer on fire", "Hello")
