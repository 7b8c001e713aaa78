"""Signature headers that a receiver using the Standard Webhooks library accepts, through secret rotation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from supportdesk.webhooks.signing import generate_secret, signature_headers

BODY = b'{"event":"ticket.created","ticket":{"id":42,"subject":"Caf\xc3\xa9 printer"}}'


def _now() -> datetime:
    # Receivers refuse messages more than five minutes from their own clock, so sign with the real time.
    return datetime.now(UTC)


def test_a_new_secret_is_32_random_bytes_in_the_whsec_form() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert generate_secret() != secret


def test_a_receiver_holding_the_secret_accepts_the_message() -> None:
    secret = generate_secret()
    headers = signature_headers("msg_1", _now(), BODY, [secret])
    assert Webhook(secret).verify(BODY, headers) == {
        "event": "ticket.created",
        "ticket": {"id": 42, "subject": "Café printer"},
    }


def test_the_headers_name_the_message_and_its_second() -> None:
    sent_at = datetime(2026, 3, 2, 9, 0, 5, 900_000, tzinfo=UTC)
    headers = signature_headers("msg_abc", sent_at, BODY, [generate_secret()])
    assert headers["webhook-id"] == "msg_abc"
    assert headers["webhook-timestamp"] == str(int(datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC).timestamp()))
    assert headers["webhook-signature"].startswith("v1,")


@pytest.mark.parametrize("receiver_knows", ["retiring", "new"], ids=["old-secret-only", "new-secret-only"])
def test_during_rotation_a_receiver_holding_either_secret_accepts(receiver_knows: str) -> None:
    secrets = {"new": generate_secret(), "retiring": generate_secret()}
    headers = signature_headers("msg_1", _now(), BODY, [secrets["new"], secrets["retiring"]])
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(secrets[receiver_knows]).verify(BODY, headers)


def test_a_receiver_with_another_secret_refuses_the_message() -> None:
    headers = signature_headers("msg_1", _now(), BODY, [generate_secret(), generate_secret()])
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_a_changed_body_or_message_id_no_longer_verifies() -> None:
    secret = generate_secret()
    headers = signature_headers("msg_1", _now(), BODY, [secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"42", b"43"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "msg_2"})


def test_a_message_cannot_be_signed_without_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        signature_headers("msg_1", _now(), BODY, [])


def test_a_time_without_a_zone_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="time zone"):
        signature_headers("msg_1", datetime(2026, 3, 2, 9, 0), BODY, [generate_secret()])
