"""Posting one webhook message and reading the receiver's answer as an outbox outcome."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import httpx

import supportdesk
from supportdesk.jobs.channels import Delivery, Sent, retry_after
from supportdesk.jobs.outcalls import excerpt_of, failure, read_at_most, transport_failure
from supportdesk.webhooks.signing import signature_headers
from supportdesk.webhooks.targets import UnsafeTarget

PROVIDER = "webhook"
USER_AGENT = f"supportdesk-webhooks/{supportdesk.__version__}"
# Enough of an error page to explain a failure, without holding a large answer in memory.
MAX_BODY_READ = 4096


@dataclass(frozen=True)
class Endpoint:
    """Where a message goes and the secrets it is signed with (two while a secret is rotated)."""

    url: str
    secrets: tuple[str, ...]


def message_id(delivery: Delivery) -> str:
    """The ``webhook-id`` of a delivery, the same on every attempt.

    Receivers drop a message whose id they have already processed, so a retry after a lost answer
    must carry the id of the first attempt: it is derived from the workspace and the outbox
    message's dedupe key, never from the attempt.
    """
    digest = hashlib.sha256(f"{delivery.workspace_id}:{delivery.dedupe_key}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def encode_body(delivery: Delivery) -> bytes:
    """The payload as compact UTF-8 JSON, its keys in the payload's own order."""
    return json.dumps(dict(delivery.payload), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


async def post_event(
    client: httpx.AsyncClient, endpoint: Endpoint, delivery: Delivery, *, now: datetime
) -> Sent:
    """Sign and post ``delivery`` to ``endpoint``; raise :class:`DeliveryFailed` unless it is accepted."""
    body = encode_body(delivery)
    webhook_id = message_id(delivery)
    headers = {
        **signature_headers(webhook_id, now, body, endpoint.secrets),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        # The answer is only read for an excerpt, so ask for it uncompressed and unexpanded.
        "accept-encoding": "identity",
    }
    where = _describe(endpoint.url)
    try:
        async with client.stream("POST", endpoint.url, content=body, headers=headers) as response:
            # A refusal's body is read for the excerpt its reason shows; an acceptance's too (up to the
            # same bound), because a connection whose answer was read to its end goes back to the pool,
            # where one closed early is dropped and the next message connects anew.
            answer = await read_at_most(response, MAX_BODY_READ, raw=True)
            if response.is_success:
                answer = b""
    except UnsafeTarget as refused:
        raise failure(PROVIDER, f"not sent to {where}: {refused.reason}", permanent=True) from refused
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
        # A URL no attempt could ever send to. UnsupportedProtocol is a transport error too, so this clause
        # comes before the next, which reads every other transport error as worth another attempt.
        raise failure(PROVIDER, f"cannot send to {where}: {error}", permanent=True) from error
    except httpx.TransportError as error:
        raise transport_failure(PROVIDER, error, where, client.timeout) from error

    status = response.status_code
    if response.is_success:
        return Sent(provider=PROVIDER, provider_message_id=webhook_id, status_code=status)
    excerpt = excerpt_of(answer)
    reason = f"HTTP {status} from {where}" + (f": {excerpt}" if excerpt else "")
    if status == httpx.codes.GONE:
        raise failure(PROVIDER, reason, permanent=True, status_code=status, gone=True)
    # Any other answer may be temporary. A redirect is a failure too: it is not followed, because the
    # place it points to was never checked as a target, and the reason shows the admin what happened.
    wait = retry_after(response.headers.get("retry-after"), now)
    raise failure(PROVIDER, reason, status_code=status, retry_after=wait)


def _describe(url: str) -> str:
    # The query string is left out: receivers sometimes put a token there, and reasons are shown to admins.
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "an invalid URL"
    return str(parsed.copy_with(query=None, fragment=None, userinfo=b""))
