"""Posting one webhook message and reading the receiver's answer as an outbox outcome."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import httpx

import supportdesk
from supportdesk.jobs.channels import Delivery, DeliveryFailed, Sent, retry_after
from supportdesk.webhooks.signing import signature_headers
from supportdesk.webhooks.targets import UnsafeTarget

PROVIDER = "webhook"
USER_AGENT = f"supportdesk-webhooks/{supportdesk.__version__}"
# Enough of an error page to explain a failure, without holding a large answer in memory.
MAX_BODY_READ = 4096
MAX_EXCERPT = 200
MAX_REASON = 300


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
            excerpt = await _read_excerpt(response)
    except UnsafeTarget as refused:
        raise _failure(f"not sent to {where}: {refused.reason}", permanent=True) from refused
    except httpx.TimeoutException as error:
        raise _failure(_timeout_reason(error, client.timeout, where)) from error
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
        raise _failure(f"cannot send to {where}: {error}", permanent=True) from error
    except httpx.ConnectError as error:
        raise _failure(
            f"could not connect to {where}: {_one_line(str(error)) or 'connection failed'}"
        ) from error
    except httpx.TransportError as error:
        raise _failure(
            f"the connection to {where} failed: {_one_line(str(error)) or type(error).__name__}"
        ) from error

    status = response.status_code
    if response.is_success:
        return Sent(provider=PROVIDER, provider_message_id=webhook_id, status_code=status)
    reason = f"HTTP {status} from {where}" + (f": {excerpt}" if excerpt else "")
    if status == httpx.codes.GONE:
        raise _failure(reason, permanent=True, status_code=status, gone=True)
    # Any other answer may be temporary. A redirect is a failure too: it is not followed, because the
    # place it points to was never checked as a target, and the reason shows the admin what happened.
    raise _failure(
        reason, status_code=status, retry_after=retry_after(response.headers.get("retry-after"), now)
    )


def _failure(
    reason: str,
    *,
    permanent: bool = False,
    status_code: int | None = None,
    retry_after: timedelta | None = None,
    gone: bool = False,
) -> DeliveryFailed:
    return DeliveryFailed(
        reason=_one_line(reason)[:MAX_REASON],
        permanent=permanent,
        retry_after=retry_after,
        status_code=status_code,
        provider=PROVIDER,
        gone=gone,
    )


async def _read_excerpt(response: httpx.Response) -> str:
    if response.is_success:
        return ""
    received = bytearray()
    # Closing the iterator on an early stop ends the read instead of leaving it to the garbage collector
    # (httpx's iterator is an async generator, though it is typed as an iterator).
    async with aclosing(cast(AsyncGenerator[bytes, None], response.aiter_raw())) as chunks:
        async for chunk in chunks:
            received += chunk
            if len(received) >= MAX_BODY_READ:
                break
    return _one_line(bytes(received[:MAX_BODY_READ]).decode("utf-8", errors="replace"))[:MAX_EXCERPT]


def _describe(url: str) -> str:
    # The query string is left out: receivers sometimes put a token there, and reasons are shown to admins.
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "an invalid URL"
    return str(parsed.copy_with(query=None, fragment=None, userinfo=b""))


def _timeout_reason(error: httpx.TimeoutException, timeout: httpx.Timeout, where: str) -> str:
    if isinstance(error, httpx.ConnectTimeout):
        return f"timed out after {_seconds(timeout.connect)} connecting to {where}"
    if isinstance(error, httpx.WriteTimeout):
        return f"timed out after {_seconds(timeout.write)} sending to {where}"
    if isinstance(error, httpx.PoolTimeout):
        return f"timed out after {_seconds(timeout.pool)} waiting for a free connection to {where}"
    return f"timed out after {_seconds(timeout.read)} waiting for {where} to answer"


def _seconds(value: float | None) -> str:
    return "no limit" if value is None else f"{value:g} s"


def _one_line(text: str) -> str:
    return " ".join(text.split())
