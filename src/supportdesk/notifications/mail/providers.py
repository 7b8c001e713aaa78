"""The e-mail providers a workspace sends through, and the chain that falls back from one to the next.

A provider sends one :class:`OutgoingEmail` and answers :class:`Sent`, or raises
:class:`DeliveryFailed`. ``permanent`` is kept for a message that no provider would take (a refused
recipient, rejected content): the chain then stops at once. Any other failure (an unreachable server,
a timeout, throttling, a key that is wrong or revoked) is about that provider, so the chain tries the
next one, and the outbox retries the whole chain later if none took the message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol, assert_never

from supportdesk.config import (
    Environment,
    MaildirProviderSettings,
    MailProviderSettings,
    SendGridProviderSettings,
    SesProviderSettings,
    Settings,
    SmtpProviderSettings,
)
from supportdesk.core.clock import Clock
from supportdesk.jobs.channels import DeliveryFailed, Sent
from supportdesk.notifications.mail.apis import SendGridProvider, SesProvider
from supportdesk.notifications.mail.maildir import MaildirProvider
from supportdesk.notifications.mail.message import OutgoingEmail
from supportdesk.notifications.mail.smtp import SmtpProvider

__all__ = [
    "LOCAL_PROVIDER",
    "MailProvider",
    "MaildirProvider",
    "ProviderChain",
    "SendGridProvider",
    "SesProvider",
    "SmtpProvider",
    "build_provider",
    "build_providers",
    "chain_of",
    "close_providers",
]

_log = logging.getLogger("supportdesk.mail")

# The provider used when none is configured: a maildir at SUPPORTDESK_MAIL_DIR.
LOCAL_PROVIDER = "local"


class MailProvider(Protocol):
    """One way of sending e-mail, known to workspaces by its ``name``."""

    name: str

    async def send(self, email: OutgoingEmail) -> Sent:
        """Send ``email``: ``Sent`` names this provider and its id for the message; a refusal raises
        ``DeliveryFailed``, permanent only when the message itself is at fault."""
        ...

    async def aclose(self) -> None:
        """Release what the provider holds open (its HTTP client)."""
        ...


class ProviderChain:
    """Providers tried in order until one takes the message."""

    def __init__(self, providers: Iterable[MailProvider]) -> None:
        self.providers: tuple[MailProvider, ...] = tuple(providers)
        if not self.providers:
            raise ValueError("a provider chain needs at least one provider")

    def __repr__(self) -> str:
        return f"ProviderChain({[provider.name for provider in self.providers]!r})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(provider.name for provider in self.providers)

    async def send_email_with_fallback(self, email: OutgoingEmail) -> Sent:
        """Send through the first provider that takes ``email``; ``Sent.provider`` says which one.

        A permanent refusal is raised at once: the next provider would be sent the same bad message.
        When every provider failed otherwise, the failure names each provider with its reason, keeps
        the longest wait any of them asked for, and is never permanent.
        """
        failures: list[tuple[str, DeliveryFailed]] = []
        for provider in self.providers:
            try:
                sent = await provider.send(email)
            except DeliveryFailed as failed:
                if failed.permanent:
                    raise
                failures.append((provider.name, failed))
                if provider is not self.providers[-1]:
                    _log.warning(
                        "mail provider %s failed for %s, trying the next one: %s",
                        provider.name,
                        email.message_id,
                        failed.reason,
                    )
                continue
            return sent if sent.provider else replace(sent, provider=provider.name)
        last_name, last = failures[-1]
        waits = [failed.retry_after for _, failed in failures if failed.retry_after is not None]
        raise DeliveryFailed(
            # Each reason is already one short line; the outbox cuts the whole to the length it keeps.
            reason="; ".join(f"{name}: {failed.reason}" for name, failed in failures),
            permanent=False,
            retry_after=max(waits) if waits else None,
            status_code=last.status_code,
            provider=last_name,
        )


def build_provider(
    config: MailProviderSettings, *, timeout: float, clock: Clock | None = None
) -> MailProvider:
    """The provider a configuration entry describes."""
    if isinstance(config, SmtpProviderSettings):
        return SmtpProvider(
            config.name,
            config.host,
            port=config.port,
            username=config.username,
            password=config.password.get_secret_value() if config.password else None,
            security=config.security,
            timeout=timeout,
        )
    if isinstance(config, SendGridProviderSettings):
        return SendGridProvider(
            config.name,
            config.api_key.get_secret_value(),
            base_url=config.base_url,
            timeout=timeout,
            clock=clock,
        )
    if isinstance(config, SesProviderSettings):
        return SesProvider(
            config.name,
            region=config.region,
            access_key_id=config.access_key_id,
            secret_access_key=config.secret_access_key.get_secret_value(),
            session_token=config.session_token.get_secret_value() if config.session_token else None,
            endpoint=config.endpoint,
            timeout=timeout,
            clock=clock,
        )
    if isinstance(config, MaildirProviderSettings):
        return MaildirProvider(config.name, config.path)
    assert_never(config)


def build_providers(settings: Settings, *, clock: Clock | None = None) -> dict[str, MailProvider]:
    """The configured providers by name, in configuration order; with none configured, one maildir
    named ``local`` at ``settings.mail_dir``, so that mail works (on disk) with nothing set up."""
    if not settings.mail_providers:
        if settings.env is Environment.production:
            # Right for a trial, surprising in production: say where the mail went.
            _log.warning(
                "no mail provider is configured (SUPPORTDESK_MAIL_PROVIDERS): mail is kept in the maildir "
                "%s and not sent",
                settings.mail_dir,
            )
        return {LOCAL_PROVIDER: MaildirProvider(LOCAL_PROVIDER, settings.mail_dir)}
    return {
        config.name: build_provider(config, timeout=settings.mail_timeout_seconds, clock=clock)
        for config in settings.mail_providers
    }


def chain_of(providers: Mapping[str, MailProvider], names: Sequence[str]) -> ProviderChain:
    """The chain of the providers named, in that order; no names means every provider, in configuration
    order. A name that is not configured raises ``KeyError``: names are checked when a workspace saves
    them, so one missing here means the configuration changed under it."""
    chosen = list(dict.fromkeys(names)) if names else list(providers)
    missing = [name for name in chosen if name not in providers]
    if missing:
        # The name alone, as a mapping's own KeyError carries it, for the caller's message.
        raise KeyError(missing[0])
    return ProviderChain(providers[name] for name in chosen)


async def close_providers(providers: Mapping[str, MailProvider]) -> None:
    """Close every provider, even when one of them fails to close."""
    errors: list[Exception] = []
    for provider in providers.values():
        try:
            await provider.aclose()
        except Exception as error:  # noqa: BLE001  (the others must still be closed; raised below)
            errors.append(error)
    if errors:
        raise errors[0]
