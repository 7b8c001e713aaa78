"""Settings, read from the environment (prefix ``SUPPORTDESK_``) and an optional ``.env`` file.

This module holds ``Settings``, the list of every setting with its default and what it is checked
by, the outbound mail providers' own settings, and the process-wide reading of them. The kinds of value
the settings hold and the checks that take more than a type are in ``values``; how a refusal reads, one
line naming the variable, is in ``errors``.
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from supportdesk.config.errors import (
    SettingsError,
    _variable,
    describe_source_error,
    describe_validation_error,
)
from supportdesk.config.values import (
    CacheUrl,
    DatabaseUrl,
    HttpBaseUrl,
    MemoryOrRedisUrl,
    ProviderName,
    ProxyAddresses,
    QueueUrl,
    RateLimit,
    S3Location,
    S3Region,
    Secret,
    _http_base_url,
)

DEVELOPMENT_SECRET_KEY = "development-only-secret-key-change-me-in-production"  # noqa: S105
MIN_SECRET_KEY_LENGTH = 32


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class _MailProviderSettings(BaseModel):
    """What every configured mail provider has: the name workspaces choose it by."""

    # A misspelt field would otherwise be dropped silently and the provider run with a default.
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ProviderName


class SmtpProviderSettings(_MailProviderSettings):
    """An SMTP relay (a mail server, or a provider's SMTP endpoint)."""

    kind: Literal["smtp"]
    host: Annotated[str, Field(min_length=1, max_length=253)]
    # Unset means the usual port of the security mode: 25, 587 for STARTTLS, 465 for TLS.
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    username: Annotated[str, Field(min_length=1, max_length=320)] | None = None
    password: Secret | None = None
    security: Literal["none", "starttls", "tls"] = "starttls"

    @model_validator(mode="after")
    def _login_needs_both(self) -> SmtpProviderSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError(f"provider {self.name!r}: give both username and password, or neither")
        return self


class SendGridProviderSettings(_MailProviderSettings):
    """SendGrid's v3 mail API."""

    kind: Literal["sendgrid"]
    api_key: Secret
    base_url: HttpBaseUrl = "https://api.sendgrid.com"

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_base_url(value)


class SesProviderSettings(_MailProviderSettings):
    """Amazon SES's v2 API, signed with an access key."""

    kind: Literal["ses"]
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")]
    access_key_id: Annotated[str, Field(min_length=1, max_length=128)]
    secret_access_key: Secret
    # Only for temporary credentials from STS.
    session_token: Secret | None = None
    # Unset means the region's own endpoint, https://email.<region>.amazonaws.com.
    endpoint: HttpBaseUrl | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return None if value is None else _http_base_url(value)


class MaildirProviderSettings(_MailProviderSettings):
    """A maildir folder on this machine, where every message is kept instead of sent."""

    kind: Literal["maildir"]
    path: Annotated[str, Field(min_length=1, max_length=4096)]


MailProviderSettings = Annotated[
    SmtpProviderSettings | SendGridProviderSettings | SesProviderSettings | MaildirProviderSettings,
    Field(discriminator="kind"),
]
MAIL_PROVIDER_KINDS = ("smtp", "sendgrid", "ses", "maildir")

# The settings each kind of CRM cannot be called without (HubSpot has a well-known address).
CRM_NEEDS: dict[str, tuple[str, ...]] = {
    "none": (),
    "json": ("crm_url", "crm_token"),
    "hubspot": ("crm_token",),
}


# The settings that only mean something with a bucket.
FILE_STORE_S3_SETTINGS = (
    "file_store_endpoint_url",
    "file_store_region",
    "file_store_access_key_id",
    "file_store_secret_access_key",
)


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
    database_url: DatabaseUrl = "sqlite+aiosqlite:///./supportdesk.db"
    database_echo: bool = False
    database_pool_size: Annotated[int, Field(ge=1, le=500)] = 10
    sqlite_busy_timeout_ms: Annotated[int, Field(ge=0, le=600_000)] = 30_000
    auto_migrate: bool | None = None
    secret_key: str = DEVELOPMENT_SECRET_KEY
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    forwarded_allow_ips: ProxyAddresses = "127.0.0.1,::1"
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
    queue_url: QueueUrl = "memory://"
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
    # Files attached to comments: where their bytes are kept (a folder of the server's), how large one
    # may be, how many one upload may carry, and a virus scanner to run on each (its path is appended).
    attachment_dir: Path = Path("./attachments")
    attachment_max_bytes: Annotated[int, Field(ge=1, le=1024**3)] = 25 * 1024 * 1024
    attachment_max_count: Annotated[int, Field(ge=1, le=100)] = 10
    attachment_scan_command: str | None = None
    # Where the file store keeps bytes instead of attachment_dir: s3://bucket or s3://bucket/prefix, on
    # Amazon S3 or, with an endpoint URL, another S3-compatible server. Without an access key, boto3's
    # own chain finds credentials (AWS_* variables, shared files, an instance or pod role).
    file_store_url: S3Location | None = None
    file_store_endpoint_url: HttpBaseUrl | None = None
    file_store_region: S3Region | None = None
    file_store_access_key_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    file_store_secret_access_key: Secret | None = None
    rate_limit_storage_url: MemoryOrRedisUrl | None = None
    # Where pushes to open screens travel: memory:// within one process, redis:// between processes.
    pubsub_url: MemoryOrRedisUrl = "memory://"
    login_attempts_per_address: RateLimit = "20/minute"
    login_failures_per_account: RateLimit = "5/15 minutes"
    login_failures_per_account_total: RateLimit = "100/hour"
    # The customer portal: requests one client address may send through the public form, and sign-in
    # links one e-mail address and one client address may ask for, each in a window of time.
    portal_requests_per_address: RateLimit = "10/hour"
    portal_sign_in_per_email: RateLimit = "5/hour"
    portal_sign_in_per_address: RateLimit = "30/hour"
    # Where people reach this server (https://help.example.com), for the links e-mails carry (the
    # portal's sign-in links). Unset, a link points where the request that asked for it was sent.
    public_url: HttpBaseUrl | None = None
    # The outbound mail providers, a JSON list; workspaces choose their chain among them by name.
    mail_providers: tuple[MailProviderSettings, ...] = ()
    mail_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 15
    # The maildir every message is written to when no provider is configured.
    mail_dir: Path = Path("./mail")
    # The sender of a workspace that has no address of its own; its domain names our Message-IDs.
    mail_from: str = "supportdesk@localhost"
    # Mail in (channels.email): the SMTP/LMTP listener of `supportdesk mail serve`, the largest message
    # it takes, how long after a customer last wrote a reply without ids still finds their ticket by its
    # subject, how many messages a sender may send in an hour before the desk takes it for a machine,
    # and the servers (authserv-ids) whose Authentication-Results headers are believed.
    mail_listen_host: str = "127.0.0.1"
    mail_listen_port: Annotated[int, Field(ge=1, le=65535)] = 2525
    mail_listen_lmtp: bool = False
    mail_max_message_bytes: Annotated[int, Field(ge=1024, le=1024**3)] = 40 * 1024 * 1024
    mail_thread_window_hours: Annotated[float, Field(gt=0, le=24 * 365)] = 72
    mail_sender_hourly_limit: Annotated[int, Field(ge=1, le=100_000)] = 20
    mail_trusted_servers: tuple[str, ...] = ()
    # Whether the background work reads arrived messages in a child process of its own (channels.email.
    # reader), so that reading them runs on another core than the work done with them.
    mail_read_in_own_process: bool = True
    # How often `supportdesk mail poll` reads a mailbox whose IMAP server cannot announce new mail
    # (IDLE), and looks for mailboxes added or changed.
    mail_poll_seconds: Annotated[float, Field(ge=1, le=3600)] = 60
    # The CRM a customer's support tier, plan and account manager are looked up in, by e-mail address.
    crm_kind: Literal["none", "json", "hubspot"] = "none"
    crm_url: HttpBaseUrl | None = None
    crm_token: Secret | None = None
    crm_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 5
    # Where answers are kept: mem:// within one process, redis:// shared by every process.
    crm_cache_url: CacheUrl = "mem://"
    crm_cache_seconds: Annotated[int, Field(ge=0, le=24 * 3600)] = 3600
    # Failed look-ups in a row after which the CRM is left alone, and for how long.
    crm_breaker_threshold: Annotated[int, Field(ge=1, le=1000)] = 5
    crm_breaker_seconds: Annotated[float, Field(gt=0, le=3600)] = 30
    # Tickets, customers and staff read by id, kept as records and forgotten when a change to them
    # commits (db/objects.py): mem:// within one process, redis:// shared by every process.
    object_cache_url: CacheUrl = "mem://"
    object_cache_seconds: Annotated[int, Field(ge=0, le=24 * 3600)] = 300

    @field_validator("mail_providers", mode="before")
    @classmethod
    def _known_provider_kinds(cls, value: object) -> object:
        # Said here rather than by the union, whose messages ("Unable to extract tag using
        # discriminator") do not tell an operator what to write.
        if not isinstance(value, list | tuple):
            raise ValueError("must be a JSON list of mail providers, each an object with a kind")
        kinds = ", ".join(MAIL_PROVIDER_KINDS)
        for position, item in enumerate(value, start=1):
            if not isinstance(item, dict):
                continue  # validated as models, or refused by the union with its own message
            kind = item.get("kind")
            if kind is None:
                raise ValueError(f"item {position} has no kind: give one of {kinds}")
            if kind not in MAIL_PROVIDER_KINDS:
                raise ValueError(f"item {position} has kind {kind!r}, which is none of {kinds}")
        return value

    @field_validator("mail_providers")
    @classmethod
    def _unique_provider_names(
        cls, value: tuple[MailProviderSettings, ...]
    ) -> tuple[MailProviderSettings, ...]:
        # Workspaces keep their chain as a list of names, so one name must mean one provider.
        repeated = [name for name, count in Counter(p.name for p in value).items() if count > 1]
        if repeated:
            raise ValueError(f"each provider needs a name of its own: {repeated[0]!r} is used more than once")
        return value

    @field_validator("mail_from")
    @classmethod
    def _an_address(cls, value: str) -> str:
        local, at, domain = value.strip().rpartition("@")
        if not (local and at and domain) or any(char.isspace() or char in "<>," for char in value.strip()):
            raise ValueError("must be one e-mail address, such as support@example.com")
        return value.strip()

    @field_validator("crm_url")
    @classmethod
    def _crm_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_base_url(value)

    @field_validator("file_store_endpoint_url")
    @classmethod
    def _file_store_endpoint(cls, value: str | None) -> str | None:
        return None if value is None else _http_base_url(value)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_base_url(value)

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        lowered = value.lower()
        if lowered not in {"critical", "error", "warning", "info", "debug"}:
            raise ValueError("must be one of critical, error, warning, info, debug")
        return lowered

    @model_validator(mode="after")
    def _file_store_complete(self) -> Settings:
        # A bucket's settings without the bucket would leave files on the local disk while the operator
        # believes them shared; refused at start-up rather than found out when a second server misses one.
        if self.file_store_url is None:
            given = [name for name in FILE_STORE_S3_SETTINGS if getattr(self, name) is not None]
            if given:
                variable = _variable(given[0])
                raise ValueError(
                    f"{variable} is only read with a bucket: set SUPPORTDESK_FILE_STORE_URL to "
                    f"s3://bucket, or unset {variable} to keep files in SUPPORTDESK_ATTACHMENT_DIR"
                )
        if (self.file_store_access_key_id is None) != (self.file_store_secret_access_key is None):
            raise ValueError(
                "give both SUPPORTDESK_FILE_STORE_ACCESS_KEY_ID and "
                "SUPPORTDESK_FILE_STORE_SECRET_ACCESS_KEY, or neither to use the AWS credential chain"
            )
        return self

    @model_validator(mode="after")
    def _crm_can_be_reached(self) -> Settings:
        # Refused at start-up rather than at the first look-up, which would only ever answer "unavailable".
        missing = [_variable(name) for name in CRM_NEEDS[self.crm_kind] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"SUPPORTDESK_CRM_KIND={self.crm_kind} needs {' and '.join(missing)}")
        return self

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


def load_settings() -> Settings:
    """Read settings, raising :class:`SettingsError` with a one-line reason when one is bad."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None
    except SourceError as error:
        raise SettingsError(describe_source_error(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings."""
    return load_settings()
