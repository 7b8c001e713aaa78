"""Sending through an SMTP relay with aiosmtplib, and reading its replies as outbox outcomes."""

from __future__ import annotations

import logging
import os
import re
import ssl
import time
from collections.abc import Sequence
from email.message import Message
from typing import Literal

import aiosmtplib

from supportdesk.jobs.channels import DeliveryFailed, Sent
from supportdesk.jobs.outcalls import failure, one_line, seconds
from supportdesk.notifications.mail.failures import mime_of
from supportdesk.notifications.mail.message import OutgoingEmail

_log = logging.getLogger("supportdesk.mail")

SmtpSecurity = Literal["none", "starttls", "tls"]
DEFAULT_PORTS: dict[SmtpSecurity, int] = {"none": 25, "starttls": 587, "tls": 465}

# Replies to RCPT TO or DATA that refuse the recipient or the content itself (no such mailbox, mailbox
# full, name not allowed, content rejected): another relay would be refused the same way.
PERMANENT_REPLY_CODES = frozenset({550, 551, 552, 553, 554})
# Unless the reply shows it is about us rather than the message: a relay that will not relay for an
# unauthenticated client, or the enhanced codes of authentication (RFC 4954: 5.7.0, 5.7.8, 5.7.9,
# 5.7.11). That is this relay's configuration, and the next provider should try.
_ABOUT_OUR_ACCESS = re.compile(r"\brelay(ing)?\b|\b5\.7\.(0|8|9|11)\b", re.IGNORECASE)


# How long an idle connection is kept for the next message. Relays drop idle clients after a minute or
# more (RFC 5321 asks them to wait five); a burst of mail (a batch of the outbox) reuses its connections,
# and a quiet outbox opens a fresh one rather than meet a connection the relay has already closed.
IDLE_SECONDS = 10.0
# Idle connections kept at most; more concurrent sends open connections of their own and close them.
MAX_IDLE = 8


class SmtpProvider:
    """An SMTP relay. Connections are reused for the messages of a burst (see :data:`IDLE_SECONDS`):
    greeting, TLS and login cost more than sending a notification."""

    def __init__(
        self,
        name: str,
        host: str,
        *,
        port: int | None = None,
        username: str | None = None,
        password: str | None = None,
        security: SmtpSecurity = "starttls",
        timeout: float = 15,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port if port is not None else DEFAULT_PORTS[security]
        self.security: SmtpSecurity = security
        self.timeout = timeout
        self._username = username
        self._password = password
        self._tls_context = tls_context
        self._local_hostname = local_hostname
        # Connections that finished a message cleanly, with when they went idle (newest last).
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []

    def __repr__(self) -> str:
        where = f"host={self.host!r}, port={self.port}, security={self.security!r}"
        return f"SmtpProvider(name={self.name!r}, {where})"

    @property
    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    async def send(self, email: OutgoingEmail) -> Sent:
        message = mime_of(email, self.name)
        client = self._reusable()
        try:
            if client is not None:
                try:
                    refused = await self._send_on(client, email, message)
                except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                    # The relay closed the idle connection before this message began: nothing was
                    # accepted on it, so the message goes once more, on a connection of its own.
                    await self._discard(client)
                    client = None
            if client is None:
                client = self._new_client()
                await client.connect()
                refused = await self._send_on(client, email, message)
        except (aiosmtplib.SMTPException, OSError, ValueError) as error:
            # OSError covers refused connections, timeouts and TLS errors; ValueError a refused address.
            if client is not None:
                await self._discard(client)
            raise self._failure(error) from error
        self._keep(client)
        if refused:
            # The server took the message for the other recipients, so it is sent: a retry would deliver
            # it to them a second time. The refused ones are only logged.
            _log.warning(
                "provider %s sent %s but refused some recipients: %s",
                self.name,
                email.message_id,
                "; ".join(f"{address}: {reply.code} {reply.message}" for address, reply in refused.items()),
            )
        # SMTP has no message id of its own; the final reply ("250 queued as …") is the server's text, so
        # the message's own Message-ID is what identifies it, here and in the recipient's mailbox.
        return Sent(provider=self.name, provider_message_id=email.message_id)

    async def aclose(self) -> None:
        """Close the idle connections."""
        idle, self._idle = self._idle, []
        for client, _since in idle:
            await self._discard(client)

    def _new_client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self._username,
            password=self._password,
            use_tls=self.security == "tls",
            # False, not None, for "none": None would upgrade whenever the server offers STARTTLS.
            start_tls=self.security == "starttls",
            tls_context=self._tls_context,
            local_hostname=self._local_hostname,
            timeout=self.timeout,
        )

    async def _send_on(
        self, client: aiosmtplib.SMTP, email: OutgoingEmail, message: Message
    ) -> dict[str, aiosmtplib.SMTPResponse]:
        refused, _reply = await client.send_message(
            message, sender=email.from_address, recipients=list(email.to)
        )
        return refused

    def _reusable(self) -> aiosmtplib.SMTP | None:
        """The most recently idle connection that is still fresh; older ones are closed."""
        now = time.monotonic()
        while self._idle:
            client, since = self._idle.pop()
            if now - since <= IDLE_SECONDS and client.is_connected:
                return client
            self._idle.append((client, since))
            stale, self._idle = self._idle, []
            for old, _since in stale:
                old.close()
        return None

    def _keep(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) < MAX_IDLE and client.is_connected:
            self._idle.append((client, time.monotonic()))
        else:
            client.close()

    async def _discard(self, client: aiosmtplib.SMTP) -> None:
        # A connection whose exchange failed is in an unknown state: it is closed, never reused.
        client.close()

    def _failure(self, error: aiosmtplib.SMTPException | OSError | ValueError) -> DeliveryFailed:
        where = self._where
        if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
            return self._recipients_refused(error.recipients)
        if isinstance(error, aiosmtplib.SMTPConnectTimeoutError):
            return failure(self.name, f"timed out after {seconds(self.timeout)} connecting to {where}")
        if isinstance(error, TimeoutError):
            return failure(self.name, f"timed out after {seconds(self.timeout)} waiting for {where}")
        if isinstance(error, aiosmtplib.SMTPAuthenticationError):
            return failure(self.name, f"{where} refused the login: {_reply(error)}")
        if isinstance(error, aiosmtplib.SMTPSenderRefused):
            # Which senders a relay accepts is its own policy (a verified domain, the account's address),
            # so another provider may well take the same sender.
            return failure(self.name, f"{where} refused the sender {error.sender}: {_reply(error)}")
        if isinstance(error, aiosmtplib.SMTPDataError):
            return failure(
                self.name,
                f"{where} refused the message: {_reply(error)}",
                permanent=_refuses_the_message(error.code, error.message),
            )
        if isinstance(error, aiosmtplib.SMTPResponseException):
            # A refused greeting, EHLO or STARTTLS, or a reply out of order: the server's state, not ours.
            return failure(self.name, f"{where} answered {_reply(error)}")
        if isinstance(error, aiosmtplib.SMTPNotSupported):
            # STARTTLS or SMTPUTF8 that this server does not offer: another provider may.
            return failure(self.name, f"{where} does not offer what sending needs: {_describe(error)}")
        # aiosmtplib wraps a socket's error in one that repeats the host and port, so the socket's own
        # error is described instead.
        cause = error.__cause__ if isinstance(error, aiosmtplib.SMTPConnectError) else error
        # Before ValueError: a certificate that fails verification is both an SSLError and a ValueError.
        if isinstance(cause, ssl.SSLError):
            return failure(self.name, f"TLS with {where} failed: {cause.reason or _describe(cause)}")
        if isinstance(error, ValueError):
            # aiosmtplib checks each address before it sends anything: one it refuses (a line break in
            # it, say) belongs to the message and would be refused everywhere.
            return failure(self.name, f"the message cannot be sent: {error}", permanent=True)
        # What is left is the connection: refused, reset or closed.
        if isinstance(error, aiosmtplib.SMTPConnectError):
            return failure(self.name, f"could not connect to {where}: {_describe(cause or error)}")
        if isinstance(error, aiosmtplib.SMTPServerDisconnected):
            return failure(self.name, f"{where} closed the connection: {_describe(error)}")
        return failure(self.name, f"SMTP with {where} failed: {_describe(error)}")

    def _recipients_refused(self, refusals: Sequence[aiosmtplib.SMTPRecipientRefused]) -> DeliveryFailed:
        # Every recipient was refused. Only when each refusal is final is the message itself bad; one
        # temporary refusal ("451 try later") means a later attempt may still reach that recipient.
        permanent = all(_refuses_the_message(refusal.code, refusal.message) for refusal in refusals)
        details = "; ".join(f"{refusal.recipient}: {_reply(refusal)}" for refusal in refusals)
        return failure(self.name, f"{self._where} refused every recipient: {details}", permanent=permanent)


def _refuses_the_message(code: int, text: str) -> bool:
    return code in PERMANENT_REPLY_CODES and not _ABOUT_OUR_ACCESS.search(text)


def _describe(error: BaseException) -> str:
    # An OSError with an errno reads as the system's words for it ("Connection refused"), not as
    # asyncio's "[Errno 111] Connect call failed ('127.0.0.1', 25)".
    if isinstance(error, OSError) and not isinstance(error, ssl.SSLError):
        if error.errno is not None and error.errno > 0:
            return os.strerror(error.errno)
        if error.strerror:
            return one_line(error.strerror)  # a failed name lookup: "Name or service not known"
    return one_line(str(error)) or type(error).__name__


def _reply(error: aiosmtplib.SMTPResponseException) -> str:
    return f"{error.code} {one_line(error.message)}".strip()
