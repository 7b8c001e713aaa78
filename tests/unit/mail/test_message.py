"""The MIME message every provider sends: what a mail client reads back from it, whatever the script of
the names and subject, and no header smuggled in through a value."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from supportdesk.notifications.mail.message import OutgoingEmail

pytestmark = pytest.mark.unit


def email(**changes: Any) -> OutgoingEmail:
    values: dict[str, Any] = {
        "from_address": "help@acme.example",
        "from_name": "Acme Support",
        "to": ("maria@example.com",),
        "subject": "[#12] Printer on fire",
        "text": "Hello,\nwe are on it.\n",
        "message_id": "<ticket-77.w3@acme.example>",
        "html": "<p>Hello,</p>",
        "sent_at": datetime(2026, 12, 6, 9, 30, tzinfo=UTC),
        "headers": {"In-Reply-To": "<root@acme.example>", "Thread-Topic": "Printer on fire"},
    }
    return OutgoingEmail(**(values | changes))


def read_back(outgoing: OutgoingEmail) -> EmailMessage:
    parsed = message_from_bytes(outgoing.to_mime().as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_a_client_reads_back_every_header_and_both_bodies() -> None:
    parsed = read_back(email())
    assert parsed["From"] == "Acme Support <help@acme.example>"
    assert parsed["Subject"] == "[#12] Printer on fire"
    assert parsed["Date"] == "Sun, 06 Dec 2026 09:30:00 +0000"
    assert parsed["In-Reply-To"] == "<root@acme.example>"
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed.get_body(("plain",)).get_content() == "Hello,\nwe are on it.\n"  # type: ignore[union-attr]
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Hello,</p>"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "subject", "topic"),
    [
        pytest.param("Søren Kjærgård", "[#12] Drucker brennt, bitte schnell", "Drucker brennt", id="latin"),
        pytest.param("客服中心", "[#12] 打印机着火了", "打印机着火了", id="chinese"),
        pytest.param(
            "Служба поддержки", "[#12] " + " ".join(["Принтер горит"] * 12), "Принтер", id="long-cyrillic"
        ),
    ],
)
def test_text_that_is_not_ascii_is_encoded_and_reads_back_the_same(
    name: str, subject: str, topic: str
) -> None:
    outgoing = email(from_name=name, subject=subject, headers={"Thread-Topic": topic}, text="Grüße, 你好\n")
    raw = outgoing.to_mime().as_bytes()
    assert raw.isascii(), "the message travels as 7-bit text"
    parsed = read_back(outgoing)
    assert parsed["Subject"] == " ".join(subject.split())
    assert parsed["From"].addresses[0].display_name == name
    assert parsed["Thread-Topic"] == topic
    assert parsed.get_body(("plain",)).get_content() == "Grüße, 你好\n"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"subject": "Hello\r\nBcc: victim@example.org"}, id="subject"),
        pytest.param({"headers": {"Thread-Topic": "x\nBcc: victim@example.org"}}, id="extra-header"),
        pytest.param({"to": ("maria@example.com\nBcc: victim@example.org",)}, id="recipient"),
    ],
)
def test_a_value_with_a_line_break_cannot_add_a_header(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="line break"):
        email(**changes).to_mime()


def test_a_text_only_message_is_one_part() -> None:
    parsed = read_back(email(html=None))
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content() == "Hello,\nwe are on it.\n"
