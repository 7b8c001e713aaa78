"""Each e-mail provider against the other side it talks to: a real SMTP server on this machine, the
SendGrid and SES APIs at the HTTP boundary (respx), and a maildir on disk.

Every refusal is checked for what the chain does with it: ``permanent`` only when the message itself is
refused, so that another provider is tried for everything else.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mailbox
import re
import ssl
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from supportdesk.core.clock import FrozenClock
from supportdesk.jobs.channels import DeliveryFailed, Sent
from supportdesk.notifications.mail import smtp as smtp_module
from supportdesk.notifications.mail.message import OutgoingEmail
from supportdesk.notifications.mail.providers import (
    MaildirProvider,
    MailProvider,
    SendGridProvider,
    SesProvider,
    SmtpProvider,
)
from tests.fixtures.smtp import SINK_CREDENTIALS, SmtpSink, closed_port, serving, silent_server
from tests.fixtures.tls import self_signed_certificate

# Generous for loopback on a busy machine; the timeout tests use SHORT on purpose.
TIMEOUT = 5.0
SHORT = 0.2
SENDGRID_SEND = "https://api.sendgrid.com/v3/mail/send"
SES_SEND = "https://email.eu-west-1.amazonaws.com/v2/email/outbound-emails"
SENDGRID_KEY = "SG.test-key.not-real"
SES_KEY_ID = "AKIDEXAMPLE"
SES_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def outgoing(**changes: Any) -> OutgoingEmail:
    """A reply to a customer as the outbox holds it: both bodies, threading headers, non-ASCII text."""
    values: dict[str, Any] = {
        "from_address": "support@acme.example",
        "from_name": "Acme Support",
        "to": ("customer@example.com",),
        "reply_to": "reply+42@acme.example",
        "subject": "Re: Printer on fire — café order [#42]",
        "text": "Hello,\n\nWe have put the fire out.\n",
        "html": "<p>Hello,</p><p>We have put the fire out.</p>",
        "message_id": "<ticket-42.reply-7@acme.example>",
        "sent_at": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        "headers": {
            "In-Reply-To": "<customer-first@example.com>",
            "References": "<customer-first@example.com>",
            "X-Supportdesk-Ticket": "42",
        },
    }
    values.update(changes)
    return OutgoingEmail(**values)


def parsed(data: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(data)


def assert_is_the_message(message: EmailMessage, email: OutgoingEmail) -> None:
    """The received MIME message carries every header and both bodies of ``email``."""
    assert message["From"] == "Acme Support <support@acme.example>"
    assert message["To"] == "customer@example.com"
    assert message["Reply-To"] == "reply+42@acme.example"
    assert message["Subject"] == email.subject
    assert message["Message-ID"] == email.message_id
    assert message["In-Reply-To"] == "<customer-first@example.com>"
    assert message["References"] == "<customer-first@example.com>"
    assert message["X-Supportdesk-Ticket"] == "42"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert text.get_content() == email.text
    assert html.get_content().strip() == email.html


def smtp(port: int, **options: Any) -> SmtpProvider:
    options.setdefault("security", "none")
    options.setdefault("timeout", TIMEOUT)
    return SmtpProvider("relay", "127.0.0.1", port=port, **options)


async def refusal(provider: MailProvider, email: OutgoingEmail | None = None) -> DeliveryFailed:
    """The failure ``provider`` raises for ``email``: it names the provider, and its reason is one line."""
    with pytest.raises(DeliveryFailed) as failed:
        await provider.send(email or outgoing())
    assert failed.value.provider == provider.name
    assert "\n" not in failed.value.reason
    return failed.value


async def api_refusal(
    provider: MailProvider, url: str, status: int, headers: dict[str, str], body: Any
) -> DeliveryFailed:
    """The failure ``provider`` raises when its API at ``url`` answers ``status`` with ``headers`` and
    the JSON ``body``; it carries that status."""
    with respx.mock:
        respx.post(url).respond(status, headers=headers, json=body)
        failed = await refusal(provider)
    assert failed.status_code == status
    return failed


class TestSmtp:
    async def test_the_server_receives_the_message_with_both_bodies_and_the_envelope(
        self, smtp_sink: SmtpSink
    ) -> None:
        email = outgoing(to=("customer@example.com", "colleague@example.com"))

        sent = await smtp(smtp_sink.port).send(email)

        # The message's own Message-ID, not the server's "queued as" text.
        assert sent == Sent(provider="relay", provider_message_id="<ticket-42.reply-7@acme.example>")
        [received] = smtp_sink.received
        assert received.sender == "support@acme.example"
        assert received.recipients == ["customer@example.com", "colleague@example.com"]
        message = received.message()
        assert message["To"] == "customer@example.com, colleague@example.com"
        assert message["Message-ID"] == email.message_id
        assert message["Date"] == "Mon, 02 Mar 2026 09:00:00 +0000"

    async def test_a_burst_of_messages_shares_one_connection(self, smtp_sink: SmtpSink) -> None:
        provider = smtp(smtp_sink.port)
        try:
            for number in range(3):
                await provider.send(outgoing(message_id=f"<burst-{number}@acme.example>"))
        finally:
            await provider.aclose()

        assert [mail.message()["Message-ID"] for mail in smtp_sink.received] == [
            "<burst-0@acme.example>",
            "<burst-1@acme.example>",
            "<burst-2@acme.example>",
        ]
        assert smtp_sink.connections == 1

    async def test_a_connection_the_relay_dropped_is_replaced_and_the_message_sent_once(
        self, smtp_sink: SmtpSink
    ) -> None:
        provider = smtp(smtp_sink.port)
        try:
            await provider.send(outgoing(message_id="<first@acme.example>"))
            smtp_sink.drop_connections()  # the relay closes the idle connection
            sent = await provider.send(outgoing(message_id="<second@acme.example>"))
        finally:
            await provider.aclose()

        assert sent.provider_message_id == "<second@acme.example>"
        assert [mail.message()["Message-ID"] for mail in smtp_sink.received] == [
            "<first@acme.example>",
            "<second@acme.example>",
        ]
        assert smtp_sink.connections == 2

    async def test_a_connection_idle_too_long_is_not_reused(
        self, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        provider = smtp(smtp_sink.port)
        try:
            await provider.send(outgoing())
            monkeypatch.setattr(smtp_module, "IDLE_SECONDS", -1.0)  # every idle connection is too old now
            await provider.send(outgoing())
        finally:
            await provider.aclose()

        assert smtp_sink.connections == 2
        assert len(smtp_sink.received) == 2

    async def test_a_message_to_one_recipient_arrives_whole(self, smtp_sink: SmtpSink) -> None:
        email = outgoing()

        await smtp(smtp_sink.port).send(email)

        [received] = smtp_sink.received
        assert_is_the_message(received.message(), email)

    async def test_a_text_only_message_is_a_single_part(self, smtp_sink: SmtpSink) -> None:
        await smtp(smtp_sink.port).send(outgoing(html=None))

        message = smtp_sink.received[0].message()
        assert message.get_content_type() == "text/plain"
        assert message.get_content() == "Hello,\n\nWe have put the fire out.\n"

    async def test_the_provider_logs_in_when_it_has_credentials(self, smtp_sink: SmtpSink) -> None:
        username, password = SINK_CREDENTIALS

        await smtp(smtp_sink.port, username=username, password=password).send(outgoing())

        assert smtp_sink.logins == [username]
        assert len(smtp_sink.received) == 1

    async def test_a_refused_login_is_the_relays_setup_so_the_next_provider_tries(
        self, smtp_sink: SmtpSink
    ) -> None:
        failed = await refusal(smtp(smtp_sink.port, username="desk", password="wrong-password"))

        assert not failed.permanent
        assert failed.reason.startswith(f"127.0.0.1:{smtp_sink.port} refused the login: 535 ")
        assert smtp_sink.received == []

    async def test_a_server_that_is_down_is_not_the_messages_fault(self) -> None:
        port = closed_port()

        failed = await refusal(smtp(port))

        assert not failed.permanent
        assert failed.reason == f"could not connect to 127.0.0.1:{port}: Connection refused"

    async def test_a_server_that_never_greets_times_out(self) -> None:
        async with silent_server() as port:
            failed = await refusal(smtp(port, timeout=SHORT))

        assert not failed.permanent
        # aiosmtplib counts the wait for the greeting as part of connecting.
        assert failed.reason == f"timed out after 0.2 s connecting to 127.0.0.1:{port}"

    async def test_a_server_that_hangs_after_the_message_times_out(self, smtp_sink: SmtpSink) -> None:
        smtp_sink.hang_after_data()

        failed = await refusal(smtp(smtp_sink.port, timeout=SHORT))

        assert not failed.permanent
        assert failed.reason == f"timed out after 0.2 s waiting for 127.0.0.1:{smtp_sink.port}"

    async def test_an_address_that_needs_smtputf8_is_left_to_a_server_that_offers_it(
        self, smtp_sink: SmtpSink
    ) -> None:
        failed = await refusal(smtp(smtp_sink.port), outgoing(to=("josé@example.com",)))

        assert not failed.permanent
        assert failed.reason.startswith(f"127.0.0.1:{smtp_sink.port} does not offer what sending needs: ")
        assert "SMTPUTF8" in failed.reason

    @pytest.mark.parametrize(
        ("reply", "permanent"),
        [
            pytest.param("550 5.1.1 no such user", True, id="550-no-such-mailbox"),
            pytest.param("551 5.1.6 user not local", True, id="551-user-not-local"),
            pytest.param("552 5.2.2 mailbox full", True, id="552-mailbox-full"),
            pytest.param("553 5.1.3 mailbox name not allowed", True, id="553-name-not-allowed"),
            pytest.param("554 5.7.1 recipient address rejected", True, id="554-recipient-rejected"),
            pytest.param("450 4.2.1 mailbox busy", False, id="450-mailbox-busy"),
            pytest.param("451 4.3.0 try again later", False, id="451-try-later"),
            pytest.param("452 4.3.1 insufficient storage", False, id="452-server-storage"),
            pytest.param("554 5.7.1 Relay access denied", False, id="554-relay-denied-is-our-setup"),
            pytest.param("550 5.7.8 authentication required", False, id="550-authentication-is-our-setup"),
            pytest.param("530 5.7.0 Authentication required", False, id="530-authentication-required"),
            pytest.param("521 5.3.2 does not accept mail", False, id="521-server-refuses-all-mail"),
        ],
    )
    async def test_a_refused_recipient(self, smtp_sink: SmtpSink, reply: str, permanent: bool) -> None:
        smtp_sink.recipient_replies["customer@example.com"] = reply

        failed = await refusal(smtp(smtp_sink.port))

        assert failed.permanent is permanent
        assert failed.reason == (
            f"127.0.0.1:{smtp_sink.port} refused every recipient: customer@example.com: {reply}"
        )
        assert smtp_sink.received == []

    async def test_one_temporary_refusal_among_final_ones_leaves_the_message_for_a_retry(
        self, smtp_sink: SmtpSink
    ) -> None:
        smtp_sink.recipient_replies["customer@example.com"] = "550 5.1.1 no such user"
        smtp_sink.recipient_replies["colleague@example.com"] = "451 4.3.0 try again later"

        failed = await refusal(
            smtp(smtp_sink.port), outgoing(to=("customer@example.com", "colleague@example.com"))
        )

        assert not failed.permanent
        assert "customer@example.com: 550 5.1.1 no such user" in failed.reason
        assert "colleague@example.com: 451 4.3.0 try again later" in failed.reason

    async def test_a_message_some_recipients_took_is_sent_and_not_repeated(
        self, smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture
    ) -> None:
        smtp_sink.recipient_replies["gone@example.com"] = "550 5.1.1 no such user"

        sent = await smtp(smtp_sink.port).send(outgoing(to=("customer@example.com", "gone@example.com")))

        assert sent.provider == "relay"
        [received] = smtp_sink.received
        assert received.recipients == ["customer@example.com"]
        assert "gone@example.com: 550 5.1.1 no such user" in caplog.text

    @pytest.mark.parametrize(
        ("reply", "permanent"),
        [
            pytest.param("554 5.6.0 message content rejected", True, id="554-content-rejected"),
            pytest.param("552 5.3.4 message too big", True, id="552-too-big"),
            pytest.param("550 5.7.1 message looks like spam", True, id="550-policy-refusal"),
            pytest.param("451 4.3.0 local error in processing", False, id="451-local-error"),
            pytest.param("421 4.3.2 shutting down", False, id="421-shutting-down"),
        ],
    )
    async def test_a_refused_message(self, smtp_sink: SmtpSink, reply: str, permanent: bool) -> None:
        smtp_sink.data_reply = reply

        failed = await refusal(smtp(smtp_sink.port))

        assert failed.permanent is permanent
        assert reply.split(" ", 1)[1] in failed.reason

    async def test_an_address_with_a_line_break_is_refused_for_good_before_anything_is_sent(
        self, smtp_sink: SmtpSink
    ) -> None:
        failed = await refusal(
            smtp(smtp_sink.port), outgoing(to=("customer@example.com\r\nBcc: everyone@example.com",))
        )

        assert failed.permanent
        assert smtp_sink.received == []

    @pytest.mark.parametrize(
        ("security", "reason"),
        [
            # A pattern the reason must match; {where} stands for the server's address.
            pytest.param("tls", r"^TLS with {where} failed: ", id="implicit-tls-to-a-plain-server"),
            pytest.param("starttls", r"STARTTLS", id="starttls-required-by-the-provider-but-not-offered"),
        ],
    )
    async def test_tls_the_server_does_not_speak_fails_without_blaming_the_message(
        self, smtp_sink: SmtpSink, security: str, reason: str
    ) -> None:
        failed = await refusal(smtp(smtp_sink.port, security=security))

        assert not failed.permanent
        assert re.search(reason.format(where=re.escape(f"127.0.0.1:{smtp_sink.port}")), failed.reason)
        assert smtp_sink.received == []


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 only, and its key."""
    return self_signed_certificate(tmp_path_factory.mktemp("smtp-tls"), "127.0.0.1", ["127.0.0.1"])


@pytest.fixture
def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def trusting(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """A client context that trusts the test certificate, and checks it as it would any other."""
    return ssl.create_default_context(cafile=certificate[0])


class TestSmtpEncryption:
    @pytest.mark.parametrize("security", ["starttls", "tls"])
    async def test_the_message_travels_encrypted(
        self, server_tls: ssl.SSLContext, trusting: ssl.SSLContext, security: str
    ) -> None:
        async with serving(SmtpSink(), tls=server_tls, starttls=security == "starttls") as sink:
            sent = await smtp(sink.port, security=security, tls_context=trusting).send(outgoing())

        assert sent.provider == "relay"
        assert len(sink.received) == 1

    @pytest.mark.parametrize("security", ["starttls", "tls"])
    async def test_a_certificate_nobody_vouches_for_is_refused_without_blaming_the_message(
        self, server_tls: ssl.SSLContext, security: str
    ) -> None:
        async with serving(SmtpSink(), tls=server_tls, starttls=security == "starttls") as sink:
            failed = await refusal(smtp(sink.port, security=security))

        # A verification failure is a ValueError too, which must not make it the message's fault.
        assert not failed.permanent
        assert failed.reason == f"TLS with 127.0.0.1:{sink.port} failed: CERTIFICATE_VERIFY_FAILED"
        assert sink.received == []

    async def test_a_server_that_requires_starttls_refuses_a_plain_sender_without_blaming_the_message(
        self, server_tls: ssl.SSLContext
    ) -> None:
        async with serving(SmtpSink(), tls=server_tls, starttls=True) as sink:
            failed = await refusal(smtp(sink.port, security="none"))

        assert not failed.permanent
        assert "530" in failed.reason


@pytest.fixture
async def sendgrid(clock: FrozenClock) -> AsyncIterator[SendGridProvider]:
    provider = SendGridProvider("sendgrid", SENDGRID_KEY, timeout=TIMEOUT, clock=clock)
    yield provider
    await provider.aclose()


class TestSendGrid:
    async def test_the_api_gets_the_v3_body_with_our_key_and_answers_with_its_id(
        self, sendgrid: SendGridProvider
    ) -> None:
        with respx.mock:
            route = respx.post(SENDGRID_SEND).respond(202, headers={"X-Message-Id": "sg-4Qr7x"})
            sent = await sendgrid.send(outgoing())

        assert sent == Sent(provider="sendgrid", provider_message_id="sg-4Qr7x", status_code=202)
        request = route.calls.last.request
        assert request.headers["authorization"] == f"Bearer {SENDGRID_KEY}"
        assert request.headers["content-type"] == "application/json"
        assert json.loads(request.content) == {
            "personalizations": [{"to": [{"email": "customer@example.com"}]}],
            "from": {"email": "support@acme.example", "name": "Acme Support"},
            "reply_to": {"email": "reply+42@acme.example"},
            "subject": "Re: Printer on fire — café order [#42]",
            "content": [
                {"type": "text/plain", "value": "Hello,\n\nWe have put the fire out.\n"},
                {"type": "text/html", "value": "<p>Hello,</p><p>We have put the fire out.</p>"},
            ],
            "headers": {
                "In-Reply-To": "<customer-first@example.com>",
                "References": "<customer-first@example.com>",
                "X-Supportdesk-Ticket": "42",
                "Message-ID": "<ticket-42.reply-7@acme.example>",
            },
        }

    async def test_a_plain_message_has_only_what_it_holds(self, sendgrid: SendGridProvider) -> None:
        email = outgoing(
            to=("a@example.com", "b@example.com"), from_name=None, reply_to=None, html=None, headers={}
        )
        with respx.mock:
            route = respx.post(SENDGRID_SEND).respond(202)
            sent = await sendgrid.send(email)

        assert sent.provider_message_id is None
        body = json.loads(route.calls.last.request.content)
        assert body["personalizations"] == [{"to": [{"email": "a@example.com"}, {"email": "b@example.com"}]}]
        assert body["from"] == {"email": "support@acme.example"}
        assert "reply_to" not in body
        assert body["content"] == [{"type": "text/plain", "value": email.text}]
        assert body["headers"] == {"Message-ID": email.message_id}

    async def test_another_base_url_is_called_instead(self, clock: FrozenClock) -> None:
        provider = SendGridProvider(
            "eu", SENDGRID_KEY, base_url="https://api.eu.sendgrid.com", timeout=TIMEOUT, clock=clock
        )
        with respx.mock:
            route = respx.post("https://api.eu.sendgrid.com/v3/mail/send").respond(202)
            await provider.send(outgoing())
        await provider.aclose()

        assert route.called

    @pytest.mark.parametrize(
        ("status", "headers", "body", "permanent", "wait"),
        [
            pytest.param(
                400,
                {},
                {"errors": [{"field": "personalizations.0.to.0.email", "message": "Invalid email"}]},
                True,
                None,
                id="400-bad-request-is-the-message",
            ),
            pytest.param(413, {}, None, True, None, id="413-too-large-is-the-message"),
            pytest.param(
                401,
                {},
                {"errors": [{"message": "The provided authorization grant is invalid"}]},
                False,
                None,
                id="401-bad-key-is-our-setup",
            ),
            pytest.param(
                403,
                {},
                {"errors": [{"message": "access forbidden"}]},
                False,
                None,
                id="403-key-without-mail-send-is-our-setup",
            ),
            pytest.param(429, {"Retry-After": "30"}, None, False, 30, id="429-with-retry-after"),
            pytest.param(
                429,
                # The frozen clock is at 1772442000; the window ends 90 seconds later.
                {"X-RateLimit-Reset": "1772442090"},
                {"errors": [{"message": "too many requests"}]},
                False,
                90,
                id="429-with-rate-limit-reset",
            ),
            pytest.param(500, {}, None, False, None, id="500-server-error"),
            pytest.param(
                503, {"Retry-After": "120"}, None, False, 120, id="503-unavailable-with-retry-after"
            ),
            pytest.param(404, {}, None, False, None, id="404-wrong-url-is-our-setup"),
        ],
    )
    async def test_a_refusal(
        self,
        sendgrid: SendGridProvider,
        status: int,
        headers: dict[str, str],
        body: dict[str, Any] | None,
        permanent: bool,
        wait: int | None,
    ) -> None:
        failed = await api_refusal(sendgrid, SENDGRID_SEND, status, headers, body)

        assert failed.permanent is permanent
        assert failed.retry_after == (timedelta(seconds=wait) if wait is not None else None)
        assert f"HTTP {status}" in failed.reason
        for error in (body or {}).get("errors", []):
            assert error["message"] in failed.reason

    @pytest.mark.parametrize(
        ("error", "reason"),
        [
            pytest.param(
                httpx.ConnectError("Connection refused"), "could not connect to SendGrid", id="refused"
            ),
            pytest.param(
                httpx.ConnectTimeout("slow"), "timed out after 5 s connecting to SendGrid", id="connect"
            ),
            pytest.param(
                httpx.ReadTimeout("slow"),
                "timed out after 5 s waiting for SendGrid to answer",
                id="read-timeout",
            ),
            pytest.param(
                httpx.RemoteProtocolError("closed"), "the connection to SendGrid failed", id="dropped"
            ),
            pytest.param(
                httpx.WriteTimeout("slow"), "timed out after 5 s sending to SendGrid", id="write-timeout"
            ),
            pytest.param(
                httpx.PoolTimeout("busy"),
                "timed out after 5 s waiting for a free connection to SendGrid",
                id="pool-timeout",
            ),
        ],
    )
    async def test_a_transport_error_is_not_the_messages_fault(
        self, sendgrid: SendGridProvider, error: Exception, reason: str
    ) -> None:
        with respx.mock:
            respx.post(SENDGRID_SEND).mock(side_effect=error)
            failed = await refusal(sendgrid)

        assert not failed.permanent
        assert failed.status_code is None
        assert failed.reason.startswith(reason)


@pytest.fixture
async def ses(clock: FrozenClock) -> AsyncIterator[SesProvider]:
    provider = SesProvider(
        "ses",
        region="eu-west-1",
        access_key_id=SES_KEY_ID,
        secret_access_key=SES_SECRET,
        timeout=TIMEOUT,
        clock=clock,
    )
    yield provider
    await provider.aclose()


class TestSes:
    async def test_the_api_gets_the_raw_message_signed_with_sigv4_and_answers_with_its_id(
        self, ses: SesProvider
    ) -> None:
        email = outgoing()
        with respx.mock:
            route = respx.post(SES_SEND).respond(200, json={"MessageId": "0102018f-ses-id-000000"})
            sent = await ses.send(email)

        assert sent == Sent(provider="ses", provider_message_id="0102018f-ses-id-000000", status_code=200)
        request = route.calls.last.request
        body = json.loads(request.content)
        assert body["FromEmailAddress"] == "support@acme.example"
        assert body["Destination"] == {"ToAddresses": ["customer@example.com"]}
        assert set(body) == {"FromEmailAddress", "Destination", "Content"}
        assert_is_the_message(parsed(base64.b64decode(body["Content"]["Raw"]["Data"])), email)

        authorization = request.headers["authorization"]
        day = request.headers["x-amz-date"][:8]
        assert authorization.startswith(
            f"AWS4-HMAC-SHA256 Credential={SES_KEY_ID}/{day}/eu-west-1/ses/aws4_request, SignedHeaders="
        )
        signed = authorization.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
        assert {"host", "content-type", "x-amz-date", "x-amz-content-sha256"} <= set(signed)
        assert request.headers["x-amz-content-sha256"] == hashlib.sha256(request.content).hexdigest()
        assert SES_SECRET not in str(request.headers)

    async def test_temporary_credentials_send_their_session_token(self, clock: FrozenClock) -> None:
        provider = SesProvider(
            "ses",
            region="us-east-1",
            access_key_id=SES_KEY_ID,
            secret_access_key=SES_SECRET,
            session_token="session-token-from-sts",
            endpoint="https://ses.proxy.test/",
            timeout=TIMEOUT,
            clock=clock,
        )
        with respx.mock:
            route = respx.post("https://ses.proxy.test/v2/email/outbound-emails").respond(
                200, json={"MessageId": "m-1"}
            )
            await provider.send(outgoing())
        await provider.aclose()

        request = route.calls.last.request
        assert request.headers["x-amz-security-token"] == "session-token-from-sts"
        assert "/us-east-1/ses/aws4_request" in request.headers["authorization"]
        assert "x-amz-security-token" in request.headers["authorization"]

    @pytest.mark.parametrize(
        ("status", "headers", "body", "permanent"),
        [
            pytest.param(
                400,
                {"x-amzn-ErrorType": "MessageRejected:http://internal.amazon.com/coral/com.amazonaws.sesv2/"},
                {"message": "Email address is not verified."},
                True,
                id="message-rejected-in-the-header",
            ),
            pytest.param(
                400,
                {},
                {"__type": "com.amazonaws.sesv2#BadRequestException", "message": "Illegal address"},
                True,
                id="bad-request-in-the-body",
            ),
            pytest.param(
                400,
                {},
                {"code": "MessageRejected", "message": "Rejected"},
                True,
                id="message-rejected-as-code",
            ),
            pytest.param(
                400,
                {"x-amzn-ErrorType": "AccountSuspendedException"},
                {"message": "Account suspended"},
                False,
                id="account-suspended",
            ),
            pytest.param(
                400,
                {"x-amzn-ErrorType": "SendingPausedException"},
                {"message": "Sending paused"},
                False,
                id="sending-paused",
            ),
            pytest.param(
                400,
                {"x-amzn-ErrorType": "LimitExceededException"},
                {"message": "Maximum sending rate exceeded"},
                False,
                id="limit-exceeded",
            ),
            pytest.param(
                400,
                {"x-amzn-ErrorType": "MailFromDomainNotVerifiedException"},
                {"message": "MAIL FROM domain not verified"},
                False,
                id="mail-from-domain-not-verified",
            ),
            pytest.param(
                403,
                {"x-amzn-ErrorType": "UnrecognizedClientException"},
                {"message": "The security token included in the request is invalid."},
                False,
                id="403-bad-credentials",
            ),
            pytest.param(
                403,
                {"x-amzn-ErrorType": "AccessDeniedException"},
                {"Message": "not authorized to perform ses:SendEmail"},
                False,
                id="403-not-allowed-to-send",
            ),
            pytest.param(
                500, {"x-amzn-ErrorType": "InternalFailure"}, None, False, id="500-internal-failure"
            ),
            pytest.param(503, {}, None, False, id="503-without-details"),
        ],
    )
    async def test_a_refusal(
        self,
        ses: SesProvider,
        status: int,
        headers: dict[str, str],
        body: dict[str, str] | None,
        permanent: bool,
    ) -> None:
        failed = await api_refusal(ses, SES_SEND, status, headers, body)

        assert failed.permanent is permanent
        assert failed.reason.startswith(f"HTTP {status} from SES: ")
        error_type = headers.get("x-amzn-ErrorType", "").split(":")[0]
        assert error_type in failed.reason
        for text in (body or {}).values():
            assert text.rsplit("#", 1)[-1] in failed.reason

    async def test_throttling_carries_the_wait_ses_asks_for(self, ses: SesProvider) -> None:
        failed = await api_refusal(
            ses,
            SES_SEND,
            429,
            {"x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": "20"},
            {"message": "Too many requests"},
        )

        assert not failed.permanent
        assert failed.retry_after == timedelta(seconds=20)
        assert failed.reason == "HTTP 429 from SES: TooManyRequestsException: Too many requests"

    async def test_a_timeout_is_not_the_messages_fault(self, ses: SesProvider) -> None:
        with respx.mock:
            respx.post(SES_SEND).mock(side_effect=httpx.ReadTimeout("slow"))
            failed = await refusal(ses)

        assert not failed.permanent
        assert failed.reason == "timed out after 5 s waiting for SES to answer"


class TestMaildir:
    async def test_each_message_is_a_readable_file_named_after_its_message_id(self, tmp_path: Path) -> None:
        folder = tmp_path / "mail"  # missing: the provider creates it
        provider = MaildirProvider("local", folder)
        email = outgoing()

        sent = await provider.send(email)
        await provider.aclose()

        assert sent.provider == "local"
        key = sent.provider_message_id
        assert key is not None
        assert "ticket-42.reply-7@acme.example" in key
        assert [path.name for path in (folder / "new").iterdir()] == [key]
        assert list((folder / "tmp").iterdir()) == []
        assert stat.S_IMODE((folder / "new" / key).stat().st_mode) == 0o600
        stored = mailbox.Maildir(folder, create=False)
        assert_is_the_message(parsed(stored.get_bytes(key)), email)

    async def test_every_message_gets_a_file_of_its_own(self, tmp_path: Path) -> None:
        provider = MaildirProvider("local", tmp_path)

        first = await provider.send(outgoing())
        second = await provider.send(outgoing())
        odd = await provider.send(outgoing(message_id="<a/b:c d@x>"))

        assert len({first.provider_message_id, second.provider_message_id, odd.provider_message_id}) == 3
        assert odd.provider_message_id is not None
        assert odd.provider_message_id.endswith(".a_b_c_d@x")
        assert len(mailbox.Maildir(tmp_path, create=False)) == 3

    async def test_a_folder_that_cannot_be_written_is_not_the_messages_fault(self, tmp_path: Path) -> None:
        blocker = tmp_path / "mail"
        blocker.write_text("a file where the maildir should be", encoding="utf-8")

        failed = await refusal(MaildirProvider("local", blocker))

        assert not failed.permanent
        assert failed.reason.startswith(f"could not write to the maildir {blocker}")
