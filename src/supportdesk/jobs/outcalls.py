"""How a sender words what went wrong, and how it reads another service's answer without holding all of it.

The webhook sender and the e-mail providers (SMTP, the SendGrid and SES APIs, the maildir) report their
failures to admins in the same form: one line, cut to :data:`MAX_REASON`. The mail APIs, which speak
HTTP through httpx, also word timeouts, refused connections and other transport errors here, and read
an answer's body only up to a limit; the webhook sender, on aiohttp (docs/decisions/0046), words its
own the same way. All of them import it from here, below both.

This is a module of its own rather than part of :mod:`.channels`: channels is the contract between the
outbox and every sender, the same whatever the protocol, and the outbox worker imports it; what is here
knows httpx, and only senders need it.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import timedelta
from typing import cast

import httpx

from supportdesk.jobs.channels import DeliveryFailed

# Reasons are stored with the outbox row and shown to admins; the mail chain joins several of them.
MAX_REASON = 300
# Enough of an error page or an error document to explain a failure within a reason.
MAX_EXCERPT = 200


@functools.cache
def certificate_authorities(*, trust_env: bool) -> ssl.SSLContext:
    """One verifying SSL context per process for every outbound HTTPS client of a kind: reading the CA
    bundle takes tens of milliseconds, the same bundle serves every client, and a context is shared
    safely by any number of connections. ``trust_env`` lets ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``
    name another bundle, as httpx's own default does."""
    return httpx.create_ssl_context(trust_env=trust_env)


def one_line(text: str) -> str:
    """``text`` with every run of white space, line breaks included, as one space."""
    return " ".join(text.split())


def seconds(value: float | None) -> str:
    """A timeout as reasons show it: ``5 s``, ``0.2 s``, or ``no limit``."""
    return "no limit" if value is None else f"{value:g} s"


def failure(
    provider: str,
    reason: str,
    *,
    permanent: bool = False,
    retry_after: timedelta | None = None,
    status_code: int | None = None,
    gone: bool = False,
) -> DeliveryFailed:
    """A failure reported by ``provider``, its reason made one line of at most :data:`MAX_REASON`.

    ``permanent`` only when the message itself is at fault, so that neither a retry nor another mail
    provider could deliver it. ``gone`` asks for the message's subscription to be switched off.
    """
    return DeliveryFailed(
        reason=one_line(reason)[:MAX_REASON],
        permanent=permanent,
        retry_after=retry_after,
        status_code=status_code,
        provider=provider,
        gone=gone,
    )


def excerpt_of(body: bytes) -> str:
    """The start of an answer's body as one line for a reason; bytes that are not UTF-8 are replaced."""
    return one_line(body.decode("utf-8", errors="replace"))[:MAX_EXCERPT]


def timeout_reason(error: httpx.TimeoutException, timeout: httpx.Timeout, where: str) -> str:
    """What timed out while calling ``where``, with the limit of that step."""
    if isinstance(error, httpx.ConnectTimeout):
        return f"timed out after {seconds(timeout.connect)} connecting to {where}"
    if isinstance(error, httpx.WriteTimeout):
        return f"timed out after {seconds(timeout.write)} sending to {where}"
    if isinstance(error, httpx.PoolTimeout):
        return f"timed out after {seconds(timeout.pool)} waiting for a free connection to {where}"
    return f"timed out after {seconds(timeout.read)} waiting for {where} to answer"


def transport_failure(
    provider: str, error: httpx.HTTPError, where: str, timeout: httpx.Timeout
) -> DeliveryFailed:
    """A call to ``where`` that got no answer: a timeout, a refused connection, or any other error on the
    way (a dropped connection, a protocol error, a proxy's refusal).

    None is the message's fault, so none is permanent. A caller that must treat some transport errors
    otherwise (a URL the webhook sender can never reach) catches those before handing the rest here.
    """
    if isinstance(error, httpx.TimeoutException):
        return failure(provider, timeout_reason(error, timeout, where))
    # str() of an error without a message is empty, so each reason says something in its place.
    detail = one_line(str(error))
    if isinstance(error, httpx.ConnectError):
        return failure(provider, f"could not connect to {where}: {detail or 'connection failed'}")
    return failure(provider, f"the connection to {where} failed: {detail or type(error).__name__}")


async def read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The first ``limit`` bytes of a streamed answer's body, decoded; the rest is never read."""
    received = bytearray()
    # Closing the iterator on an early stop ends the read instead of leaving it to the garbage collector
    # (httpx's iterator is an async generator, though it is typed as an iterator).
    async with aclosing(cast(AsyncGenerator[bytes, None], response.aiter_bytes())) as reading:
        async for chunk in reading:
            received += chunk
            if len(received) >= limit:
                break
    return bytes(received[:limit])
