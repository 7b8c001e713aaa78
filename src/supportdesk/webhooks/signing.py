"""Secrets and signature headers of Standard Webhooks (https://www.standardwebhooks.com/)."""

from __future__ import annotations

import base64
import math
import secrets as random_source
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105  (the marker of the format, not a secret)
SECRET_BYTES = 32


def generate_secret() -> str:
    """A new endpoint secret, in the ``whsec_<base64>`` form receivers' libraries accept."""
    return SECRET_PREFIX + base64.b64encode(random_source.token_bytes(SECRET_BYTES)).decode("ascii")


def signature_headers(
    message_id: str, timestamp: datetime, body: bytes, secrets: Sequence[str]
) -> dict[str, str]:
    """The ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers of one message.

    Each secret adds its own ``v1,`` signature, so while a secret is being rotated a receiver that
    holds either the new or the retiring one accepts the message.
    """
    if not secrets:
        raise ValueError("a webhook message needs at least one secret to be signed with")
    if timestamp.tzinfo is None:
        # A naive time would be read as UTC by the signer but as local time by ``timestamp()``.
        raise ValueError("the timestamp of a webhook message must carry its time zone")
    signatures = [Webhook(secret).sign(message_id, timestamp, body) for secret in secrets]
    return {
        "webhook-id": message_id,
        # The signer floors the time to whole seconds, so the header must say the same second.
        "webhook-timestamp": str(math.floor(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
