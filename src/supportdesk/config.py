"""Settings, read from the environment (prefix ``SUPPORTDESK_``) and an optional ``.env`` file."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Literal

from limits import parse as parse_rate_limit
from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "development-only-secret-key-change-me-in-production"  # noqa: S105
MIN_SECRET_KEY_LENGTH = 32


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    """Every setting supportdesk reads; README.md has the table that documents them."""

    model_config = SettingsConfigDict(
        env_prefix="SUPPORTDESK_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    env: Environment = Environment.development
    database_url: str = "sqlite+aiosqlite:///./supportdesk.db"
    database_echo: bool = False
    database_pool_size: Annotated[int, Field(ge=1, le=500)] = 10
    sqlite_busy_timeout_ms: Annotated[int, Field(ge=0, le=600_000)] = 30_000
    auto_migrate: bool | None = None
    secret_key: str = DEVELOPMENT_SECRET_KEY
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    forwarded_allow_ips: str = "127.0.0.1,::1"
    log_level: str = "info"
    session_ttl_hours: Annotated[int, Field(ge=1, le=24 * 90)] = 12
    token_cache_seconds: Annotated[float, Field(ge=0, le=60)] = 5
    session_cookie_secure: bool | None = None
    page_size_default: Annotated[int, Field(ge=1, le=500)] = 50
    page_size_max: Annotated[int, Field(ge=1, le=500)] = 100
    idempotency_ttl_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 24
    # Whether this server process runs background work (the outbox relay, scheduled jobs and, with the
    # in-memory queue, the tasks). SUPPORTDESK_SCHEDULER is the name it had before the outbox.
    background: Annotated[
        Literal["embedded", "off"],
        Field(
            validation_alias=AliasChoices(
                "SUPPORTDESK_BACKGROUND", "SUPPORTDESK_SCHEDULER", "background", "scheduler"
            )
        ),
    ] = "embedded"
    queue_url: str = "memory://"
    queue_name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")] = (
        "supportdesk"
    )
    worker_concurrency: Annotated[int, Field(ge=1, le=1000)] = 20
    outbox_batch: Annotated[int, Field(ge=1, le=10_000)] = 100
    outbox_poll_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    delivery_lease_seconds: Annotated[float, Field(ge=1, le=3600)] = 300
    shutdown_grace_seconds: Annotated[float, Field(ge=0, le=600)] = 10
    webhook_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10
    webhook_allowed_targets: str = ""
    scheduler_tick_seconds: Annotated[int, Field(ge=1, le=3600)] = 60
    max_request_bytes: Annotated[int, Field(ge=1024, le=1024**3)] = 1024 * 1024
    rate_limit_storage_url: str | None = None
    login_attempts_per_address: str = "20/minute"
    login_failures_per_account: str = "5/15 minutes"
    login_failures_per_account_total: str = "100/hour"

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("queue_url")
    @classmethod
    def _known_queue(cls, value: str) -> str:
        if not value.startswith(("memory://", "redis://", "rediss://", "amqp://", "amqps://")):
            raise ValueError("must start with memory://, redis://, rediss://, amqp:// or amqps://")
        return value

    @field_validator("rate_limit_storage_url")
    @classmethod
    def _known_rate_limit_storage(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("memory://", "redis://", "rediss://")):
            raise ValueError("must start with memory://, redis:// or rediss://")
        return value

    @field_validator(
        "login_attempts_per_address", "login_failures_per_account", "login_failures_per_account_total"
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            amount = parse_rate_limit(value).amount
        except ValueError:
            amount = 0
        if amount < 1:
            raise ValueError(
                "must be a positive number, a slash and a period, e.g. 20/minute or 5/15 minutes"
            )
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",")]
        if entries == ["*"]:
            return "*"
        for entry in entries:
            # uvicorn takes an entry it cannot parse as a literal name that no client address ever
            # equals, so a typo would silently trust no proxy; refusing it at start-up says so at once.
            try:
                ipaddress.ip_network(entry)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network: give addresses or networks "
                    "separated by commas (127.0.0.1,10.0.0.0/8), or * to trust every proxy"
                ) from None
        return ",".join(entries)

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        lowered = value.lower()
        if lowered not in {"critical", "error", "warning", "info", "debug"}:
            raise ValueError("must be one of critical, error, warning, info, debug")
        return lowered

    @model_validator(mode="after")
    def _strong_secrets_outside_development(self) -> Settings:
        if self.env is Environment.development:
            return self
        if self.secret_key == DEVELOPMENT_SECRET_KEY or len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"SUPPORTDESK_SECRET_KEY must be set to a random value of at least "
                f"{MIN_SECRET_KEY_LENGTH} characters when SUPPORTDESK_ENV={self.env.value}"
            )
        if self.page_size_default > self.page_size_max:
            raise ValueError("SUPPORTDESK_PAGE_SIZE_DEFAULT must not exceed SUPPORTDESK_PAGE_SIZE_MAX")
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether the configured database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def migrate_at_startup(self) -> bool:
        """The embedded default migrates itself; PostgreSQL deployments run ``db upgrade`` explicitly."""
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    @property
    def secure_cookies(self) -> bool:
        """Cookies are ``Secure`` in production unless told otherwise."""
        if self.session_cookie_secure is not None:
            return self.session_cookie_secure
        return self.env is Environment.production


# Variables that replaced another; the old name is still read, and errors name both.
FORMER_NAMES = {"SUPPORTDESK_BACKGROUND": "SUPPORTDESK_SCHEDULER"}


class SettingsError(Exception):
    """A setting is invalid; the message is one line naming it."""


def describe_validation_error(error: ValidationError) -> str:
    """Turn pydantic's multi-line report into one line that names the environment variable."""
    first = error.errors()[0]
    location = [str(part) for part in first.get("loc", ()) if part != "__root__"]
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if location:
        # A field with aliases is located by its first alias, which is the variable's whole name.
        name = location[0].upper()
        name = name if name.startswith("SUPPORTDESK_") else f"SUPPORTDESK_{name}"
        if name in FORMER_NAMES:
            return f"{name}: {message} (also read as {FORMER_NAMES[name]}, its former name)"
        return f"{name}: {message}"
    return message


def load_settings() -> Settings:
    """Read settings, raising :class:`SettingsError` with a one-line reason when one is bad."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings."""
    return load_settings()
