"""Settings read from SUPPORTDESK_* variables: what is refused, how the refusal reads, and the
derived switches (migrations at startup, Secure cookies)."""

from __future__ import annotations

from pathlib import Path

import pytest

from supportdesk.config import (
    DEVELOPMENT_SECRET_KEY,
    Environment,
    Settings,
    load_settings,
)
from supportdesk.config.errors import SettingsError

# The documented minimum is 32 characters; written out so a change to the constant is noticed.
STRONG_SECRET = "s" * 32
SQLITE_URL = "sqlite+aiosqlite:///./desk.db"
POSTGRES_URL = "postgresql+asyncpg://desk@db.internal:5432/desk"


def _settings_error(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    return str(raised.value)


def _load(monkeypatch: pytest.MonkeyPatch, **variables: str) -> Settings:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return load_settings()


class TestDefaults:
    def test_nothing_set_starts_a_development_desk_on_sqlite(self) -> None:
        settings = load_settings()
        assert settings.env is Environment.development
        assert settings.secret_key == DEVELOPMENT_SECRET_KEY
        assert settings.is_sqlite is True
        assert (settings.host, settings.port) == ("127.0.0.1", 8000)
        assert settings.log_level == "info"

    def test_the_scheduler_runs_embedded_every_minute_by_default(self) -> None:
        settings = load_settings()
        assert settings.background == "embedded"
        assert settings.scheduler_tick_seconds == 60

    def test_a_dotenv_file_in_the_working_folder_is_read(self, tmp_path: Path) -> None:
        (tmp_path / ".env").write_text("SUPPORTDESK_PORT=9123\n", encoding="utf-8")
        assert load_settings().port == 9123

    def test_a_real_variable_beats_the_dotenv_file(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        (tmp_path / ".env").write_text("SUPPORTDESK_PORT=9123\n", encoding="utf-8")
        assert _load(monkeypatch, SUPPORTDESK_PORT="9124").port == 9124

    def test_settings_cannot_be_changed_after_loading(self) -> None:
        settings = load_settings()
        with pytest.raises(ValueError, match="frozen"):
            settings.port = 1  # type: ignore[misc]


class TestSecretKey:
    @pytest.mark.parametrize("env", ["production", "test"])
    @pytest.mark.parametrize(
        "secret",
        [
            pytest.param(None, id="unset-secret"),
            pytest.param(DEVELOPMENT_SECRET_KEY, id="development-secret"),
            pytest.param("too-short", id="short-secret"),
            pytest.param("x" * 31, id="31-character-secret"),
        ],
    )
    def test_weak_secrets_are_refused_outside_development(
        self, monkeypatch: pytest.MonkeyPatch, env: str, secret: str | None
    ) -> None:
        variables = {"SUPPORTDESK_ENV": env}
        if secret is not None:
            variables["SUPPORTDESK_SECRET_KEY"] = secret
        message = _settings_error(monkeypatch, **variables)
        assert message.startswith("SUPPORTDESK_SECRET_KEY ")
        assert f"SUPPORTDESK_ENV={env}" in message
        assert "at least 32 characters" in message
        assert "\n" not in message

    @pytest.mark.parametrize("env", ["production", "test"])
    @pytest.mark.parametrize(
        "secret",
        [
            pytest.param("x" * 32, id="32-character-secret"),
            pytest.param("k3Y-" * 16, id="64-character-secret"),
        ],
    )
    def test_a_long_enough_secret_is_accepted(
        self, monkeypatch: pytest.MonkeyPatch, env: str, secret: str
    ) -> None:
        settings = _load(monkeypatch, SUPPORTDESK_ENV=env, SUPPORTDESK_SECRET_KEY=secret)
        assert settings.env == env
        assert settings.secret_key == secret

    @pytest.mark.parametrize(
        "secret",
        [pytest.param(None, id="development-secret-by-default"), pytest.param("short", id="short-secret")],
    )
    def test_development_accepts_any_secret(
        self, monkeypatch: pytest.MonkeyPatch, secret: str | None
    ) -> None:
        variables = {"SUPPORTDESK_ENV": "development"}
        if secret is not None:
            variables["SUPPORTDESK_SECRET_KEY"] = secret
        assert _load(monkeypatch, **variables).env is Environment.development


class TestOneLineErrorsNameTheVariable:
    @pytest.mark.parametrize(
        ("name", "value", "wording"),
        [
            pytest.param("SUPPORTDESK_PORT", "0", "greater than or equal to 1", id="port-zero"),
            pytest.param("SUPPORTDESK_PORT", "65536", "less than or equal to 65535", id="port-above-65535"),
            pytest.param("SUPPORTDESK_PORT", "-1", "greater than or equal to 1", id="negative-port"),
            pytest.param("SUPPORTDESK_PORT", "http", "valid integer", id="port-that-is-not-a-number"),
            pytest.param("SUPPORTDESK_LOG_LEVEL", "verbose", "one of critical", id="unknown-log-level"),
            pytest.param("SUPPORTDESK_LOG_LEVEL", "", "one of critical", id="empty-log-level"),
            pytest.param(
                "SUPPORTDESK_DATABASE_URL",
                "postgresql://db/desk",
                "must start with",
                id="postgres-without-asyncpg",
            ),
            pytest.param(
                "SUPPORTDESK_DATABASE_URL",
                "sqlite:///desk.db",
                "must start with",
                id="sqlite-without-aiosqlite",
            ),
            pytest.param(
                "SUPPORTDESK_DATABASE_URL",
                "mysql+aiomysql://db/desk",
                "must start with",
                id="unsupported-database",
            ),
            pytest.param("SUPPORTDESK_ENV", "staging", "development", id="unknown-environment"),
            pytest.param("SUPPORTDESK_WORKERS", "0", "greater than or equal to 1", id="zero-workers"),
            pytest.param(
                "SUPPORTDESK_PAGE_SIZE_MAX", "501", "less than or equal to 500", id="page-size-over-500"
            ),
            pytest.param(
                "SUPPORTDESK_BACKGROUND", "cron", "'embedded' or 'off'", id="unknown-background-mode"
            ),
            pytest.param(
                "SUPPORTDESK_BACKGROUND", "Off", "'embedded' or 'off'", id="background-mode-is-exact"
            ),
            pytest.param(
                "SUPPORTDESK_SCHEDULER_TICK_SECONDS", "0", "greater than or equal to 1", id="zero-second-tick"
            ),
            pytest.param(
                "SUPPORTDESK_SCHEDULER_TICK_SECONDS",
                "3601",
                "less than or equal to 3600",
                id="tick-longer-than-an-hour",
            ),
            pytest.param("SUPPORTDESK_SCHEDULER_TICK_SECONDS", "1m", "valid integer", id="tick-with-a-unit"),
        ],
    )
    def test_the_message(self, monkeypatch: pytest.MonkeyPatch, name: str, value: str, wording: str) -> None:
        message = _settings_error(monkeypatch, **{name: value})
        assert message.startswith(f"{name}: ")
        assert wording in message
        assert "\n" not in message
        assert "Value error" not in message

    def test_the_first_bad_variable_is_reported(self, monkeypatch: pytest.MonkeyPatch) -> None:
        message = _settings_error(monkeypatch, SUPPORTDESK_PORT="0", SUPPORTDESK_LOG_LEVEL="loud")
        assert message.startswith("SUPPORTDESK_PORT: ")
        assert "\n" not in message

    def test_field_errors_come_before_the_secret_check(self, monkeypatch: pytest.MonkeyPatch) -> None:
        message = _settings_error(monkeypatch, SUPPORTDESK_ENV="production", SUPPORTDESK_PORT="99999")
        assert message.startswith("SUPPORTDESK_PORT: ")

    def test_a_default_page_size_above_the_maximum_is_refused_in_production(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        message = _settings_error(
            monkeypatch,
            SUPPORTDESK_ENV="production",
            SUPPORTDESK_SECRET_KEY=STRONG_SECRET,
            SUPPORTDESK_PAGE_SIZE_DEFAULT="200",
            SUPPORTDESK_PAGE_SIZE_MAX="100",
        )
        assert message == "SUPPORTDESK_PAGE_SIZE_DEFAULT must not exceed SUPPORTDESK_PAGE_SIZE_MAX"

    def test_the_pydantic_report_is_not_chained_onto_the_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SUPPORTDESK_PORT", "0")
        with pytest.raises(SettingsError) as raised:
            load_settings()
        assert raised.value.__cause__ is None
        assert raised.value.__suppress_context__ is True


class TestAcceptedValues:
    @pytest.mark.parametrize(
        "url",
        [
            pytest.param(SQLITE_URL, id="sqlite-file"),
            pytest.param("sqlite+aiosqlite:///:memory:", id="sqlite-in-memory"),
            pytest.param(POSTGRES_URL, id="postgresql-with-asyncpg"),
        ],
    )
    def test_supported_database_urls(self, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
        assert _load(monkeypatch, SUPPORTDESK_DATABASE_URL=url).database_url == url

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param("DEBUG", "debug", id="uppercase-is-lowered"),
            pytest.param("Warning", "warning", id="mixed-case-is-lowered"),
            pytest.param("critical", "critical", id="lowercase-is-kept"),
        ],
    )
    def test_log_levels_are_case_insensitive(
        self, monkeypatch: pytest.MonkeyPatch, value: str, expected: str
    ) -> None:
        assert _load(monkeypatch, SUPPORTDESK_LOG_LEVEL=value).log_level == expected

    @pytest.mark.parametrize("port", [1, 65535], ids=["lowest-port", "highest-port"])
    def test_port_boundaries(self, monkeypatch: pytest.MonkeyPatch, port: int) -> None:
        assert _load(monkeypatch, SUPPORTDESK_PORT=str(port)).port == port

    @pytest.mark.parametrize(
        ("variable", "mode"),
        [
            pytest.param("SUPPORTDESK_BACKGROUND", "embedded", id="background-inside-the-server"),
            pytest.param("SUPPORTDESK_BACKGROUND", "off", id="background-left-to-workers"),
            pytest.param("SUPPORTDESK_SCHEDULER", "off", id="the-old-name-still-works"),
        ],
    )
    def test_background_modes(self, monkeypatch: pytest.MonkeyPatch, variable: str, mode: str) -> None:
        assert _load(monkeypatch, **{variable: mode}).background == mode

    @pytest.mark.parametrize(
        "url",
        [
            "memory://",
            "redis://127.0.0.1:6379/0",
            "rediss://cache:6380",
            "amqp://guest:guest@mq//",
            "amqps://mq",
        ],
    )
    def test_queue_urls(self, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
        assert _load(monkeypatch, SUPPORTDESK_QUEUE_URL=url).queue_url == url

    def test_an_unknown_queue_is_refused_with_its_variable_named(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        message = _settings_error(monkeypatch, SUPPORTDESK_QUEUE_URL="kafka://broker:9092")
        assert message.startswith("SUPPORTDESK_QUEUE_URL: must start with memory://")

    @pytest.mark.parametrize("seconds", [1, 3600], ids=["one-second-tick", "one-hour-tick"])
    def test_scheduler_tick_boundaries(self, monkeypatch: pytest.MonkeyPatch, seconds: int) -> None:
        loaded = _load(monkeypatch, SUPPORTDESK_SCHEDULER_TICK_SECONDS=str(seconds))
        assert loaded.scheduler_tick_seconds == seconds


class TestMigrateAtStartup:
    @pytest.mark.parametrize(
        ("url", "auto_migrate", "expected"),
        [
            pytest.param(SQLITE_URL, None, True, id="sqlite-migrates-itself-by-default"),
            pytest.param(POSTGRES_URL, None, False, id="postgresql-waits-for-db-upgrade-by-default"),
            pytest.param(SQLITE_URL, "false", False, id="sqlite-can-be-told-not-to-migrate"),
            pytest.param(POSTGRES_URL, "true", True, id="postgresql-can-be-told-to-migrate"),
            pytest.param(SQLITE_URL, "true", True, id="sqlite-told-to-migrate-migrates"),
            pytest.param(POSTGRES_URL, "false", False, id="postgresql-told-not-to-migrate-does-not"),
        ],
    )
    def test_when_migrations_run(
        self, monkeypatch: pytest.MonkeyPatch, url: str, auto_migrate: str | None, expected: bool
    ) -> None:
        variables = {"SUPPORTDESK_DATABASE_URL": url}
        if auto_migrate is not None:
            variables["SUPPORTDESK_AUTO_MIGRATE"] = auto_migrate
        assert _load(monkeypatch, **variables).migrate_at_startup is expected


class TestSecureCookies:
    @pytest.mark.parametrize(
        ("env", "override", "expected"),
        [
            pytest.param("production", None, True, id="production-cookies-are-secure"),
            pytest.param("development", None, False, id="development-cookies-are-not-secure"),
            pytest.param("test", None, False, id="test-cookies-are-not-secure"),
            pytest.param("production", "false", False, id="production-behind-plain-http-can-opt-out"),
            pytest.param("development", "true", True, id="development-can-opt-in"),
            pytest.param("test", "true", True, id="test-can-opt-in"),
        ],
    )
    def test_when_cookies_are_secure(
        self, monkeypatch: pytest.MonkeyPatch, env: str, override: str | None, expected: bool
    ) -> None:
        variables = {"SUPPORTDESK_ENV": env, "SUPPORTDESK_SECRET_KEY": STRONG_SECRET}
        if override is not None:
            variables["SUPPORTDESK_SESSION_COOKIE_SECURE"] = override
        assert _load(monkeypatch, **variables).secure_cookies is expected


class TestRequestAndLoginLimits:
    def test_the_defaults(self) -> None:
        settings = load_settings()
        assert settings.max_request_bytes == 1024 * 1024
        assert settings.rate_limit_storage_url is None
        assert settings.login_attempts_per_address == "20/minute"
        assert settings.login_failures_per_account == "5/15 minutes"
        assert settings.login_failures_per_account_total == "100/hour"

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            pytest.param("SUPPORTDESK_LOGIN_ATTEMPTS_PER_ADDRESS", "10/second", id="per-second"),
            pytest.param("SUPPORTDESK_LOGIN_FAILURES_PER_ACCOUNT", "3 per 30 minutes", id="words"),
            pytest.param("SUPPORTDESK_LOGIN_FAILURES_PER_ACCOUNT_TOTAL", "1000/day", id="per-day"),
            pytest.param("SUPPORTDESK_RATE_LIMIT_STORAGE_URL", "redis://cache.internal:6379/2", id="redis"),
            pytest.param("SUPPORTDESK_RATE_LIMIT_STORAGE_URL", "rediss://:pw@cache.internal:6380", id="tls"),
            pytest.param("SUPPORTDESK_RATE_LIMIT_STORAGE_URL", "memory://", id="memory"),
            pytest.param("SUPPORTDESK_MAX_REQUEST_BYTES", "1024", id="smallest-body-limit"),
        ],
    )
    def test_accepted_values(self, monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
        loaded = _load(monkeypatch, **{name: value})
        assert str(getattr(loaded, name.removeprefix("SUPPORTDESK_").lower())) == value

    @pytest.mark.parametrize(
        ("name", "value", "wording"),
        [
            pytest.param("SUPPORTDESK_LOGIN_ATTEMPTS_PER_ADDRESS", "lots", "e.g. 20/minute", id="no-limit"),
            pytest.param("SUPPORTDESK_LOGIN_FAILURES_PER_ACCOUNT", "0/minute", "positive", id="zero"),
            pytest.param(
                "SUPPORTDESK_LOGIN_FAILURES_PER_ACCOUNT_TOTAL", "5/fortnight", "period", id="period"
            ),
            pytest.param(
                "SUPPORTDESK_RATE_LIMIT_STORAGE_URL", "memcached://cache:11211", "redis://", id="memcached"
            ),
            pytest.param("SUPPORTDESK_MAX_REQUEST_BYTES", "100", "greater than or equal to 1024", id="tiny"),
        ],
    )
    def test_refused_values_name_the_variable(
        self, monkeypatch: pytest.MonkeyPatch, name: str, value: str, wording: str
    ) -> None:
        message = _settings_error(monkeypatch, **{name: value})
        assert message.startswith(f"{name}: ")
        assert wording in message
