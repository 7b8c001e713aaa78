"""The outbound mail settings: SUPPORTDESK_MAIL_PROVIDERS read as a JSON list of providers, what is
refused and how the refusal reads, and secrets that never show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from supportdesk.config import (
    MaildirProviderSettings,
    SendGridProviderSettings,
    SesProviderSettings,
    Settings,
    SmtpProviderSettings,
    load_settings,
)
from supportdesk.config.errors import SettingsError

SMTP = {
    "kind": "smtp",
    "name": "relay",
    "host": "smtp.example.com",
    "port": 2525,
    "username": "desk@example.com",
    "password": "smtp-password-1",
    "security": "tls",
}
SENDGRID = {"kind": "sendgrid", "name": "sendgrid", "api_key": "SG.sendgrid-key-2"}
SES = {
    "kind": "ses",
    "name": "ses-eu",
    "region": "eu-west-1",
    "access_key_id": "AKIDEXAMPLE",
    "secret_access_key": "ses-secret-3",
    "session_token": "ses-session-4",
}
MAILDIR = {"kind": "maildir", "name": "archive", "path": "/var/mail/desk"}
SECRETS = ("smtp-password-1", "SG.sendgrid-key-2", "ses-secret-3", "ses-session-4")


def _with_providers(monkeypatch: pytest.MonkeyPatch, value: Any) -> Settings:
    monkeypatch.setenv("SUPPORTDESK_MAIL_PROVIDERS", value if isinstance(value, str) else json.dumps(value))
    return load_settings()


def _refusal(monkeypatch: pytest.MonkeyPatch, value: Any) -> str:
    with pytest.raises(SettingsError) as raised:
        _with_providers(monkeypatch, value)
    message = str(raised.value)
    assert message.startswith("SUPPORTDESK_MAIL_PROVIDERS: ")
    assert "\n" not in message
    return message


class TestDefaults:
    def test_no_provider_a_fifteen_second_timeout_and_a_maildir_beside_the_desk(self) -> None:
        settings = load_settings()
        assert settings.mail_providers == ()
        assert settings.mail_timeout_seconds == 15
        assert settings.mail_dir == Path("./mail")

    def test_the_other_mail_settings_are_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SUPPORTDESK_MAIL_TIMEOUT_SECONDS", "2.5")
        monkeypatch.setenv("SUPPORTDESK_MAIL_DIR", "/srv/desk/mail")
        settings = load_settings()
        assert settings.mail_timeout_seconds == 2.5
        assert settings.mail_dir == Path("/srv/desk/mail")

    @pytest.mark.parametrize(
        ("value", "wording"),
        [
            pytest.param("0", "greater than 0", id="zero"),
            pytest.param("121", "less than or equal to 120", id="over-two-minutes"),
            pytest.param("soon", "valid number", id="not-a-number"),
        ],
    )
    def test_a_timeout_out_of_bounds_is_refused(
        self, monkeypatch: pytest.MonkeyPatch, value: str, wording: str
    ) -> None:
        monkeypatch.setenv("SUPPORTDESK_MAIL_TIMEOUT_SECONDS", value)
        with pytest.raises(SettingsError) as raised:
            load_settings()
        assert str(raised.value).startswith("SUPPORTDESK_MAIL_TIMEOUT_SECONDS: ")
        assert wording in str(raised.value)


class TestProviders:
    def test_a_json_list_becomes_one_typed_entry_per_provider_in_order(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings = _with_providers(monkeypatch, [SMTP, SENDGRID, SES, MAILDIR])

        smtp, sendgrid, ses, maildir = settings.mail_providers
        assert isinstance(smtp, SmtpProviderSettings)
        assert (smtp.name, smtp.host, smtp.port, smtp.security) == ("relay", "smtp.example.com", 2525, "tls")
        assert smtp.username == "desk@example.com"
        assert smtp.password is not None
        assert smtp.password.get_secret_value() == "smtp-password-1"
        assert isinstance(sendgrid, SendGridProviderSettings)
        assert sendgrid.api_key.get_secret_value() == "SG.sendgrid-key-2"
        assert sendgrid.base_url == "https://api.sendgrid.com"
        assert isinstance(ses, SesProviderSettings)
        assert (ses.region, ses.access_key_id, ses.endpoint) == ("eu-west-1", "AKIDEXAMPLE", None)
        assert ses.secret_access_key.get_secret_value() == "ses-secret-3"
        assert isinstance(maildir, MaildirProviderSettings)
        assert maildir.path == "/var/mail/desk"

    def test_the_smallest_smtp_entry_uses_starttls_without_a_login(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings = _with_providers(monkeypatch, [{"kind": "smtp", "name": "mx", "host": "localhost"}])

        [smtp] = settings.mail_providers
        assert isinstance(smtp, SmtpProviderSettings)
        assert (smtp.port, smtp.security, smtp.username, smtp.password) == (None, "starttls", None, None)

    def test_the_dotenv_file_can_hold_the_list(self, tmp_path: Path) -> None:
        (tmp_path / ".env").write_text(
            f"SUPPORTDESK_MAIL_PROVIDERS='{json.dumps([SENDGRID])}'\n", encoding="utf-8"
        )

        [sendgrid] = load_settings().mail_providers
        assert sendgrid.name == "sendgrid"

    def test_an_empty_list_configures_none(self, monkeypatch: pytest.MonkeyPatch) -> None:
        assert _with_providers(monkeypatch, []).mail_providers == ()

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            pytest.param(
                "https://api.eu.sendgrid.com/", "https://api.eu.sendgrid.com", id="trailing-slash-dropped"
            ),
            pytest.param("http://127.0.0.1:8025", "http://127.0.0.1:8025", id="plain-http-for-a-local-stub"),
        ],
    )
    def test_api_addresses_can_be_changed(
        self, monkeypatch: pytest.MonkeyPatch, url: str, expected: str
    ) -> None:
        settings = _with_providers(monkeypatch, [{**SENDGRID, "base_url": url}, {**SES, "endpoint": url}])
        sendgrid, ses = settings.mail_providers
        assert isinstance(sendgrid, SendGridProviderSettings)
        assert isinstance(ses, SesProviderSettings)
        assert (sendgrid.base_url, ses.endpoint) == (expected, expected)


class TestSecrets:
    def test_no_secret_shows_in_the_settings_repr_or_their_json(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings = _with_providers(monkeypatch, [SMTP, SENDGRID, SES])

        shown = repr(settings) + str(settings) + settings.model_dump_json()
        for secret in SECRETS:
            assert secret not in shown
        assert "**********" in shown

    def test_no_secret_shows_when_another_field_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        message = _refusal(monkeypatch, [{**SES, "region": "Europe"}, SMTP, SENDGRID])

        for secret in SECRETS:
            assert secret not in message


class TestRefusals:
    def test_two_providers_with_one_name(self, monkeypatch: pytest.MonkeyPatch) -> None:
        message = _refusal(monkeypatch, [SMTP, {**SENDGRID, "name": "relay"}])

        assert message == (
            "SUPPORTDESK_MAIL_PROVIDERS: each provider needs a name of its own: "
            "'relay' is used more than once"
        )

    def test_an_unknown_kind(self, monkeypatch: pytest.MonkeyPatch) -> None:
        message = _refusal(monkeypatch, [SMTP, {"kind": "mailgun", "name": "mg", "api_key": "key"}])

        assert message == (
            "SUPPORTDESK_MAIL_PROVIDERS: item 2 has kind 'mailgun', "
            "which is none of smtp, sendgrid, ses, maildir"
        )

    def test_a_provider_without_a_kind(self, monkeypatch: pytest.MonkeyPatch) -> None:
        message = _refusal(monkeypatch, [{"name": "relay", "host": "smtp.example.com"}])

        assert (
            message
            == "SUPPORTDESK_MAIL_PROVIDERS: item 1 has no kind: give one of smtp, sendgrid, ses, maildir"
        )

    @pytest.mark.parametrize(
        ("value", "wording"),
        [
            pytest.param("[{", "not valid JSON", id="broken-json"),
            pytest.param("", "not valid JSON", id="empty"),
            pytest.param(
                json.dumps(SMTP), "must be a JSON list of mail providers", id="an-object-not-a-list"
            ),
            pytest.param(
                json.dumps(["smtp"]), "item 1: Input should be a valid dictionary", id="a-list-of-names"
            ),
        ],
    )
    def test_a_value_that_is_not_a_list_of_providers(
        self, monkeypatch: pytest.MonkeyPatch, value: str, wording: str
    ) -> None:
        assert wording in _refusal(monkeypatch, value)

    @pytest.mark.parametrize(
        ("provider", "wording"),
        [
            pytest.param(
                {**SMTP, "name": "Relay"}, "item 1, smtp, name: String should match pattern", id="capitals"
            ),
            pytest.param(
                {**SMTP, "name": ""}, "item 1, smtp, name: String should match pattern", id="empty-name"
            ),
            pytest.param({**SMTP, "name": "a" * 41}, "name: String should match pattern", id="name-of-41"),
            pytest.param({**SMTP, "name": "-relay"}, "name: String should match pattern", id="leading-dash"),
            pytest.param(
                {"kind": "smtp", "name": "relay"}, "item 1, smtp, host: Field required", id="no-host"
            ),
            pytest.param(
                {**SMTP, "port": 0}, "port: Input should be greater than or equal to 1", id="port-0"
            ),
            pytest.param(
                {**SMTP, "security": "ssl"}, "security: Input should be 'none', 'starttls'", id="ssl"
            ),
            pytest.param(
                {**SMTP, "username": None}, "give both username and password, or neither", id="password-alone"
            ),
            pytest.param(
                {**SMTP, "passwd": "x"}, "passwd: Extra inputs are not permitted", id="misspelt-field"
            ),
            pytest.param(
                {"kind": "sendgrid", "name": "sg"}, "sendgrid, api_key: Field required", id="no-api-key"
            ),
            pytest.param(
                {**SENDGRID, "api_key": ""}, "sendgrid, api_key: must not be empty", id="empty-api-key"
            ),
            pytest.param({**SMTP, "password": ""}, "smtp, password: must not be empty", id="empty-password"),
            pytest.param(
                {**SENDGRID, "base_url": "api.sendgrid.com"}, "must start with https://", id="bare-host"
            ),
            pytest.param(
                {**SES, "region": "Ireland"}, "region: String should match pattern", id="unknown-region"
            ),
            pytest.param(
                {**SES, "endpoint": "ftp://ses"}, "endpoint: must start with https://", id="ftp-endpoint"
            ),
            pytest.param(
                {k: v for k, v in SES.items() if k != "secret_access_key"},
                "secret_access_key: Field required",
                id="no-secret-key",
            ),
            pytest.param(
                {"kind": "maildir", "name": "box"}, "maildir, path: Field required", id="no-maildir-path"
            ),
        ],
    )
    def test_a_bad_field_is_named_with_its_item(
        self, monkeypatch: pytest.MonkeyPatch, provider: dict[str, Any], wording: str
    ) -> None:
        assert wording in _refusal(monkeypatch, [provider])

    def test_names_of_every_allowed_shape_are_accepted(self, monkeypatch: pytest.MonkeyPatch) -> None:
        names = ["a", "0", "sendgrid-eu", "smtp_backup", "x" * 40]
        settings = _with_providers(
            monkeypatch,
            [{"kind": "maildir", "name": name, "path": f"mail/{index}"} for index, name in enumerate(names)],
        )
        assert [provider.name for provider in settings.mail_providers] == names
