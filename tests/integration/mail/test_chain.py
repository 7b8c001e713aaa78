"""The chain of providers a workspace sends through: the next provider is tried after any failure that
is not the message's fault, and only then.

Providers talk to their real other side: a closed port or the SMTP server of tests/fixtures/smtp.py, and
SendGrid and SES at the HTTP boundary (respx), whose routes also tell which APIs were never called.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import respx

from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.jobs.channels import DeliveryFailed, Sent
from supportdesk.notifications.mail.providers import (
    MaildirProvider,
    MailProvider,
    ProviderChain,
    SendGridProvider,
    SesProvider,
    SmtpProvider,
    build_providers,
    chain_of,
    close_providers,
)
from tests.fixtures.smtp import SmtpSink, closed_port
from tests.integration.mail.test_providers import outgoing

TIMEOUT = 5.0
PRIMARY = "https://primary.sendgrid.test"
FALLBACK = "https://fallback.sendgrid.test"
SES_ENDPOINT = "https://ses.test"
PRIMARY_SEND = f"{PRIMARY}/v3/mail/send"
FALLBACK_SEND = f"{FALLBACK}/v3/mail/send"


@pytest.fixture
async def sendgrids(clock: FrozenClock) -> AsyncIterator[tuple[SendGridProvider, SendGridProvider]]:
    """Two SendGrid accounts, ``primary`` and ``fallback``, at addresses of their own."""
    primary = SendGridProvider("primary", "SG.primary", base_url=PRIMARY, timeout=TIMEOUT, clock=clock)
    fallback = SendGridProvider("fallback", "SG.fallback", base_url=FALLBACK, timeout=TIMEOUT, clock=clock)
    yield primary, fallback
    await primary.aclose()
    await fallback.aclose()


@pytest.fixture
def primary(sendgrids: tuple[SendGridProvider, SendGridProvider]) -> SendGridProvider:
    """The primary SendGrid account alone, for chains that mix it with other kinds of provider."""
    return sendgrids[0]


@pytest.fixture
async def ses(clock: FrozenClock) -> AsyncIterator[SesProvider]:
    provider = SesProvider(
        "ses",
        region="eu-west-1",
        access_key_id="AKIDEXAMPLE",
        secret_access_key="not-a-real-secret",
        endpoint=SES_ENDPOINT,
        timeout=TIMEOUT,
        clock=clock,
    )
    yield provider
    await provider.aclose()


def smtp_down() -> SmtpProvider:
    return SmtpProvider("smtp", "127.0.0.1", port=closed_port(), security="none", timeout=TIMEOUT)


async def chain_failure(chain: ProviderChain) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as failed:
        await chain.send_email_with_fallback(outgoing())
    return failed.value


class TestFallback:
    async def test_a_primary_error_hands_the_message_to_the_fallback(
        self, sendgrids: tuple[SendGridProvider, SendGridProvider]
    ) -> None:
        with respx.mock:
            primary = respx.post(PRIMARY_SEND).respond(500, text="internal error")
            fallback = respx.post(FALLBACK_SEND).respond(202, headers={"X-Message-Id": "fb-1"})

            sent = await ProviderChain(sendgrids).send_email_with_fallback(outgoing())

        assert sent == Sent(provider="fallback", provider_message_id="fb-1", status_code=202)
        assert primary.call_count == 1
        assert fallback.call_count == 1

    async def test_the_first_provider_that_takes_the_message_is_the_last_one_tried(
        self, sendgrids: tuple[SendGridProvider, SendGridProvider]
    ) -> None:
        with respx.mock(assert_all_called=False) as router:
            primary = router.post(PRIMARY_SEND).respond(202, headers={"X-Message-Id": "p-1"})
            fallback = router.post(FALLBACK_SEND).respond(202)

            sent = await ProviderChain(sendgrids).send_email_with_fallback(outgoing())

        assert sent.provider == "primary"
        assert primary.call_count == 1
        assert not fallback.called

    async def test_a_message_the_primary_refuses_for_good_is_not_offered_to_the_fallback(
        self, sendgrids: tuple[SendGridProvider, SendGridProvider]
    ) -> None:
        with respx.mock(assert_all_called=False) as router:
            router.post(PRIMARY_SEND).respond(
                400, json={"errors": [{"message": "Does not contain a valid address.", "field": "to"}]}
            )
            fallback = router.post(FALLBACK_SEND).respond(202)

            failed = await chain_failure(ProviderChain(sendgrids))

        assert failed.permanent
        assert failed.provider == "primary"
        assert failed.status_code == 400
        assert failed.reason == "HTTP 400 from SendGrid: to: Does not contain a valid address."
        assert not fallback.called

    async def test_an_smtp_server_that_is_down_hands_over_to_sendgrid(
        self, primary: SendGridProvider
    ) -> None:
        with respx.mock:
            respx.post(PRIMARY_SEND).respond(202, headers={"X-Message-Id": "sg-2"})

            sent = await ProviderChain([smtp_down(), primary]).send_email_with_fallback(outgoing())

        assert sent.provider == "primary"
        assert sent.provider_message_id == "sg-2"

    async def test_a_working_smtp_server_after_a_failing_api(
        self, primary: SendGridProvider, smtp_sink: SmtpSink
    ) -> None:
        relay = SmtpProvider("relay", "127.0.0.1", port=smtp_sink.port, security="none", timeout=TIMEOUT)
        with respx.mock:
            respx.post(PRIMARY_SEND).respond(401, json={"errors": [{"message": "bad key"}]})

            sent = await ProviderChain([primary, relay]).send_email_with_fallback(outgoing())

        assert sent == Sent(provider="relay", provider_message_id="<ticket-42.reply-7@acme.example>")
        assert len(smtp_sink.received) == 1

    async def test_a_permanent_refusal_after_a_failure_still_stops_the_chain(
        self, primary: SendGridProvider, tmp_path: Path
    ) -> None:
        maildir = MaildirProvider("local", tmp_path / "mail")
        with respx.mock:
            respx.post(PRIMARY_SEND).respond(413)

            failed = await chain_failure(ProviderChain([smtp_down(), primary, maildir]))

        assert failed.permanent
        assert failed.provider == "primary"
        assert not (tmp_path / "mail").exists()


class TestEveryProviderFailed:
    async def test_the_failure_names_every_provider_and_is_retried_after_the_longest_wait(
        self, primary: SendGridProvider, ses: SesProvider
    ) -> None:
        smtp = smtp_down()
        with respx.mock:
            respx.post(PRIMARY_SEND).respond(503, headers={"Retry-After": "30"}, text="busy")
            respx.post(f"{SES_ENDPOINT}/v2/email/outbound-emails").respond(
                429,
                headers={"x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": "120"},
                json={"message": "Maximum sending rate exceeded."},
            )

            failed = await chain_failure(ProviderChain([smtp, primary, ses]))

        assert not failed.permanent
        assert failed.retry_after == timedelta(seconds=120)
        assert failed.provider == "ses"
        assert failed.status_code == 429
        assert failed.reason == (
            f"smtp: could not connect to 127.0.0.1:{smtp.port}: Connection refused; "
            "primary: HTTP 503 from SendGrid: busy; "
            "ses: HTTP 429 from SES: TooManyRequestsException: Maximum sending rate exceeded."
        )

    async def test_without_any_hint_there_is_no_wait(
        self, sendgrids: tuple[SendGridProvider, SendGridProvider]
    ) -> None:
        with respx.mock:
            respx.post(PRIMARY_SEND).respond(500)
            respx.post(FALLBACK_SEND).respond(502)

            failed = await chain_failure(ProviderChain(sendgrids))

        assert not failed.permanent
        assert failed.retry_after is None
        assert failed.provider == "fallback"
        assert failed.reason.startswith("primary: HTTP 500 from SendGrid")
        assert "; fallback: HTTP 502 from SendGrid" in failed.reason

    async def test_a_chain_of_one_fails_the_same_way(self, primary: SendGridProvider) -> None:
        with respx.mock:
            respx.post(PRIMARY_SEND).respond(429, headers={"Retry-After": "45"})

            failed = await chain_failure(ProviderChain([primary]))

        assert not failed.permanent
        assert failed.retry_after == timedelta(seconds=45)
        assert failed.reason.startswith("primary: HTTP 429 from SendGrid")

    def test_a_chain_needs_a_provider(self) -> None:
        with pytest.raises(ValueError, match="at least one provider"):
            ProviderChain([])


def settings_with(**values: object) -> Settings:
    return Settings.model_validate(values)


class TestBuildingTheProviders:
    async def test_without_configuration_mail_goes_to_the_local_maildir(self, tmp_path: Path) -> None:
        providers = build_providers(settings_with(mail_dir=tmp_path / "mail"))

        assert list(providers) == ["local"]
        local = providers["local"]
        assert isinstance(local, MaildirProvider)
        assert local.path == tmp_path / "mail"

        sent = await chain_of(providers, []).send_email_with_fallback(outgoing())

        assert sent.provider == "local"
        assert len(list((tmp_path / "mail" / "new").iterdir())) == 1
        await close_providers(providers)

    def test_a_production_desk_without_providers_says_where_its_mail_goes(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        settings = settings_with(env="production", secret_key="s" * 32, mail_dir=tmp_path / "mail")

        providers = build_providers(settings)

        assert list(providers) == ["local"]
        assert f"mail is kept in the maildir {tmp_path / 'mail'} and not sent" in caplog.text

    async def test_each_configured_provider_is_built_by_name_in_configuration_order(
        self, tmp_path: Path
    ) -> None:
        settings = settings_with(
            mail_timeout_seconds=3,
            mail_providers=[
                {"kind": "sendgrid", "name": "sendgrid", "api_key": "SG.key"},
                {
                    "kind": "smtp",
                    "name": "relay",
                    "host": "mail.example.com",
                    "username": "desk",
                    "password": "secret",
                },
                {
                    "kind": "ses",
                    "name": "ses",
                    "region": "eu-west-1",
                    "access_key_id": "AKIDEXAMPLE",
                    "secret_access_key": "secret",
                },
                {"kind": "maildir", "name": "archive", "path": str(tmp_path)},
            ],
        )

        providers = build_providers(settings)

        assert list(providers) == ["sendgrid", "relay", "ses", "archive"]
        assert [type(provider) for provider in providers.values()] == [
            SendGridProvider,
            SmtpProvider,
            SesProvider,
            MaildirProvider,
        ]
        relay = providers["relay"]
        assert isinstance(relay, SmtpProvider)
        assert (relay.port, relay.security, relay.timeout) == (587, "starttls", 3)
        # The secrets are used but never shown.
        assert "secret" not in repr(providers)
        await close_providers(providers)

    async def test_a_configured_sendgrid_sends_with_its_key(self) -> None:
        providers = build_providers(
            settings_with(mail_providers=[{"kind": "sendgrid", "name": "sg", "api_key": "SG.from-settings"}])
        )
        with respx.mock:
            route = respx.post("https://api.sendgrid.com/v3/mail/send").respond(202)
            sent = await chain_of(providers, ["sg"]).send_email_with_fallback(outgoing())
        await close_providers(providers)

        assert sent.provider == "sg"
        assert route.calls.last.request.headers["authorization"] == "Bearer SG.from-settings"


class TestChainOf:
    @pytest.fixture
    def providers(self, tmp_path: Path) -> dict[str, MailProvider]:
        return {name: MaildirProvider(name, tmp_path / name) for name in ("first", "second", "third")}

    @pytest.mark.parametrize(
        ("names", "expected"),
        [
            pytest.param([], ("first", "second", "third"), id="no-names-means-all-in-configuration-order"),
            pytest.param(["third", "first"], ("third", "first"), id="the-workspaces-order"),
            pytest.param(["second"], ("second",), id="one-provider"),
            pytest.param(["second", "second", "first"], ("second", "first"), id="a-repeated-name-once"),
        ],
    )
    def test_the_chain_for_the_names(
        self, providers: dict[str, MailProvider], names: list[str], expected: tuple[str, ...]
    ) -> None:
        assert chain_of(providers, names).names == expected

    def test_an_unknown_name_is_a_key_error_carrying_the_name(
        self, providers: dict[str, MailProvider]
    ) -> None:
        with pytest.raises(KeyError) as missing:
            chain_of(providers, ["first", "postmark"])

        assert missing.value.args == ("postmark",)
