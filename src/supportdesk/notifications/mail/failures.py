"""What every mail provider needs to turn an outbox message into MIME, and the refusal when it cannot.

How a refusal is worded (one short line for the admin, and whether another provider or a later attempt
could still deliver the message) is shared with the webhook sender, in :mod:`supportdesk.jobs.outcalls`.
"""

from __future__ import annotations

from email.message import Message

from supportdesk.jobs.outcalls import failure
from supportdesk.notifications.mail.message import OutgoingEmail


def mime_of(email: OutgoingEmail, provider: str) -> Message:
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
