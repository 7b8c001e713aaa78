"""How a mail provider reports a refusal: one short line for the admin, and whether another provider
(or a later attempt) could still deliver the message."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

from supportdesk.jobs.channels import DeliveryFailed
from supportdesk.notifications.mail.message import OutgoingEmail

# Reasons are stored with the outbox row and shown to admins; the chain joins several of them.
MAX_REASON = 300


def failure(
    provider: str,
    reason: str,
    *,
    permanent: bool = False,
    retry_after: timedelta | None = None,
    status_code: int | None = None,
) -> DeliveryFailed:
    """A refusal by ``provider``. ``permanent`` only when the message itself is at fault, so that no
    other provider would take it either: everything else lets the chain try the next provider."""
    return DeliveryFailed(
        reason=one_line(reason)[:MAX_REASON],
        permanent=permanent,
        retry_after=retry_after,
        status_code=status_code,
        provider=provider,
    )


def mime_of(email: OutgoingEmail, provider: str) -> EmailMessage:
    """The MIME message, or a permanent failure when the stored message cannot be built (a header
    value with a line break, say): every provider would fail on it the same way."""
    try:
        return email.to_mime()
    except (ValueError, TypeError) as error:
        raise failure(provider, f"the message cannot be built: {error}", permanent=True) from error


def mime_bytes(email: OutgoingEmail, provider: str) -> bytes:
    """The MIME message as the bytes a raw-message API or a mail file holds."""
    message = mime_of(email, provider)
    try:
        return message.as_bytes()
    except (ValueError, TypeError, UnicodeError) as error:
        raise failure(provider, f"the message cannot be encoded: {error}", permanent=True) from error


def one_line(text: str) -> str:
    return " ".join(text.split())


def seconds(value: float | None) -> str:
    return "no limit" if value is None else f"{value:g} s"
