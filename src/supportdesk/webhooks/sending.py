"""Posting one webhook message and reading the receiver's answer as an outbox outcome."""

from __future__ import annotations

import hashlib
import json
import ssl
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus

import aiohttp
import httpx

import supportdesk
from supportdesk.jobs.channels import Delivery, DeliveryFailed, Sent, retry_after
from supportdesk.jobs.outcalls import certificate_authorities, excerpt_of, failure, one_line, seconds
from supportdesk.webhooks.signing import signature_headers
from supportdesk.webhooks.targets import (
    GuardedResolver,
    Resolver,
    TargetPolicy,
    UnsafeTarget,
    check_url,
    system_resolver,
)

PROVIDER = "webhook"
USER_AGENT = f"supportdesk-webhooks/{supportdesk.__version__}"
# Enough of an error page to explain a failure, without holding a large answer in memory.
MAX_BODY_READ = 4096
# Idle connections are closed after this, as httpx's clients do by default.
KEEPALIVE_SECONDS = 5.0
# The whole exchange may take this many timeouts: each step has one, and an answer that trickles in
# a byte at a time must not hold a send for ever.
TOTAL_TIMEOUTS = 3
# URLs remembered as checked; a worker posts to a few hundred subscriptions, not millions.
CHECKED_URLS = 10_000


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


@dataclass(frozen=True, slots=True)
class Answer:
    """A receiver's answer: its status, its ``Retry-After`` and the start of its body."""

    status: int
    retry_after: str | None
    body: bytes


class WebhookClient:
    """The one HTTP client webhooks leave through: guarded connections, no redirects, no proxies, no
    cookies, answers read only up to :data:`MAX_BODY_READ`.

    It is aiohttp's rather than httpx's, which the rest of the project uses: posting webhooks is the
    one outbound call made thousands of times a second, and httpx's connection pool costs several
    times what aiohttp's does per request (docs/decisions/0046). Connections are checked by
    :class:`~supportdesk.webhooks.targets.GuardedResolver`, and URLs with an address literal, which
    never reach a resolver, by :func:`~supportdesk.webhooks.targets.check_url` before each request.
    The session is made on first use, on the event loop that sends.
    """

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        timeout: float,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 20,
    ) -> None:
        self.policy = policy
        self.timeout = timeout
        self._resolver = resolver
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        # URLs that passed check_url: the check depends only on the URL and the policy, both fixed.
        self._checked: set[str] = set()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self.policy, self._resolver),
                # Every new connection resolves and checks its host again; a cached answer would
                # outlive a change the guard must see, and a pooled connection needs no lookup anyway.
                use_dns_cache=False,
                ssl=self._ssl_context or certificate_authorities(trust_env=False),
                limit=self._max_connections,
                keepalive_timeout=KEEPALIVE_SECONDS,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=self.timeout * TOTAL_TIMEOUTS,
                    connect=self.timeout,
                    sock_connect=self.timeout,
                    sock_read=self.timeout,
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                auto_decompress=False,
            )
        return self._session

    def check(self, url: str) -> None:
        """Refuse ``url`` unless it may be posted to (:func:`check_url`); names are checked on connect."""
        if url in self._checked:
            return
        check_url(url, self.policy)
        if len(self._checked) >= CHECKED_URLS:
            self._checked.clear()
        self._checked.add(url)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """Post ``body`` to ``url`` and read the answer's start; raises :class:`UnsafeTarget` for a
        target that must not be reached, and aiohttp's errors (or ``TimeoutError``) for the rest."""
        self.check(url)
        async with self._open().post(url, data=body, headers=headers, allow_redirects=False) as response:
            # A refusal's body is read for the excerpt its reason shows; an acceptance's too (up to the
            # same bound), because a connection whose answer was read to its end goes back to the pool,
            # where one closed early is dropped and the next message connects anew.
            received = bytearray()
            while len(received) < MAX_BODY_READ:
                chunk = await response.content.read(MAX_BODY_READ - len(received))
                if not chunk:
                    break
                received += chunk
            return Answer(response.status, response.headers.get("retry-after"), bytes(received))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def post_event(client: WebhookClient, endpoint: Endpoint, delivery: Delivery, *, now: datetime) -> Sent:
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
    try:
        answer = await client.post(endpoint.url, body, headers)
    except UnsafeTarget as refused:
        where = _describe(endpoint.url)
        raise failure(PROVIDER, f"not sent to {where}: {refused.reason}", permanent=True) from refused
    except aiohttp.InvalidURL as error:
        # A URL no attempt could ever send to (check_url lets few of these through).
        where = _describe(endpoint.url)
        raise failure(PROVIDER, f"cannot send to {where}: {error}", permanent=True) from error
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise _transport_failure(error, _describe(endpoint.url), client.timeout) from error

    status = answer.status
    if 200 <= status < 300:
        return Sent(provider=PROVIDER, provider_message_id=webhook_id, status_code=status)
    where = _describe(endpoint.url)
    excerpt = excerpt_of(answer.body)
    reason = f"HTTP {status} from {where}" + (f": {excerpt}" if excerpt else "")
    if status == HTTPStatus.GONE:
        raise failure(PROVIDER, reason, permanent=True, status_code=status, gone=True)
    # Any other answer may be temporary. A redirect is a failure too: it is not followed, because the
    # place it points to was never checked as a target, and the reason shows the admin what happened.
    wait = retry_after(answer.retry_after, now)
    raise failure(PROVIDER, reason, status_code=status, retry_after=wait)


def _transport_failure(error: BaseException, where: str, timeout: float) -> DeliveryFailed:
    """A post that got no answer, worded as the other senders word theirs; never permanent, since
    none of these is the message's fault."""
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return failure(PROVIDER, f"timed out after {seconds(timeout)} connecting to {where}")
    if isinstance(error, aiohttp.SocketTimeoutError):
        return failure(PROVIDER, f"timed out after {seconds(timeout)} waiting for {where} to answer")
    if isinstance(error, TimeoutError):
        limit = seconds(timeout * TOTAL_TIMEOUTS)
        return failure(PROVIDER, f"timed out after {limit} in all, sending to {where} and reading its answer")
    # str() of an error without a message is empty, so each reason says something in its place.
    detail = one_line(str(error))
    if isinstance(error, aiohttp.ClientConnectorError):
        return failure(PROVIDER, f"could not connect to {where}: {detail or 'connection failed'}")
    return failure(PROVIDER, f"the connection to {where} failed: {detail or type(error).__name__}")


def _describe(url: str) -> str:
    # The query string is left out: receivers sometimes put a token there, and reasons are shown to admins.
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "an invalid URL"
    return str(parsed.copy_with(query=None, fragment=None, userinfo=b""))
