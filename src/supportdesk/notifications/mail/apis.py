"""Sending through the HTTP APIs of SendGrid and Amazon SES, and reading their answers as outbox outcomes.

Both are called with httpx rather than their SDKs (docs/decisions/0041-outbound-mail-providers.md):
each provider owns one ``httpx.AsyncClient``, closed by :meth:`aclose`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import httpx
import httpx_auth

import supportdesk
from supportdesk.core.clock import Clock, SystemClock
from supportdesk.jobs.channels import DeliveryFailed, Sent, retry_after
from supportdesk.jobs.outcalls import (
    certificate_authorities,
    excerpt_of,
    failure,
    one_line,
    read_at_most,
    transport_failure,
)
from supportdesk.notifications.mail.failures import mime_bytes
from supportdesk.notifications.mail.message import OutgoingEmail

USER_AGENT = f"supportdesk/{supportdesk.__version__}"
SENDGRID_URL = "https://api.sendgrid.com"
# Answers are small JSON documents; a larger body (an error page from a proxy) is cut here.
MAX_ANSWER = 64 * 1024


@dataclass(frozen=True, slots=True)
class Answer:
    """An API's answer, its body read up to :data:`MAX_ANSWER` bytes."""

    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or an empty one when it is not one."""
        try:
            value = json.loads(self.body)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def excerpt(self) -> str:
        return excerpt_of(self.body)


class _ApiProvider:
    """What the HTTP providers share: the client, and transport errors read as non-permanent failures."""

    service: ClassVar[str]  # the name reasons give the API

    def __init__(self, name: str, client: httpx.AsyncClient, clock: Clock | None) -> None:
        self.name = name
        self._client = client
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={str(self._client.base_url)!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, path: str, body: Mapping[str, Any]) -> Answer:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"content-type": "application/json", "accept-encoding": "identity"}
        try:
            async with self._client.stream("POST", path, content=content, headers=headers) as response:
                received = await read_at_most(response, MAX_ANSWER)
                return Answer(response.status_code, response.headers, received)
        except httpx.HTTPError as error:
            # Every error on the way, not only a transport error: an answer whose content encoding
            # cannot be decoded is no more the message's fault than a dropped connection.
            raise transport_failure(self.name, error, self.service, self._client.timeout) from error

    def _retry_after(self, answer: Answer) -> timedelta | None:
        return retry_after(answer.headers.get("retry-after"), self._clock.now())


class SendGridProvider(_ApiProvider):
    """SendGrid's v3 ``mail/send``, authenticated with an API key."""

    service = "SendGrid"
    # What SendGrid answers when the request itself is wrong (an invalid address, a missing field) or too
    # large: every other provider would be sent the same message.
    PERMANENT_STATUSES: ClassVar[frozenset[int]] = frozenset({400, 413})

    def __init__(
        self,
        name: str,
        api_key: str,
        *,
        base_url: str = SENDGRID_URL,
        timeout: float = 15,
        clock: Clock | None = None,
    ) -> None:
        client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            headers={"authorization": f"Bearer {api_key}", "user-agent": USER_AGENT},
            follow_redirects=False,
            verify=certificate_authorities(trust_env=True),
        )
        super().__init__(name, client, clock)

    async def send(self, email: OutgoingEmail) -> Sent:
        answer = await self._post("/v3/mail/send", sendgrid_body(email))
        if answer.accepted:
            # 202: queued. SendGrid's id is in a header; the answer has no body.
            return Sent(
                provider=self.name,
                provider_message_id=answer.headers.get("x-message-id"),
                status_code=answer.status,
            )
        raise self._refusal(answer)

    def _refusal(self, answer: Answer) -> DeliveryFailed:
        status = answer.status
        reason = f"HTTP {status} from SendGrid: {_sendgrid_errors(answer)}"
        if status in self.PERMANENT_STATUSES:
            return failure(self.name, reason, permanent=True, status_code=status)
        if status in (401, 403):
            # The key is wrong, revoked or lacks the mail.send scope: this account's setup, not the message.
            reason = f"SendGrid refused the API key (HTTP {status}): {_sendgrid_errors(answer)}"
        wait = self._retry_after(answer) or self._rate_limit_reset(answer)
        return failure(self.name, reason, status_code=status, retry_after=wait)

    def _rate_limit_reset(self, answer: Answer) -> timedelta | None:
        # SendGrid's 429 says when the window ends as a Unix time, often without a Retry-After.
        reset = answer.headers.get("x-ratelimit-reset", "").strip()
        if answer.status != 429 or not reset.isdigit():
            return None
        wait = int(reset) - self._clock.now().timestamp()
        return timedelta(seconds=max(wait, 0))


def sendgrid_body(email: OutgoingEmail) -> dict[str, Any]:
    """The v3 ``mail/send`` request for ``email``: one personalization for every recipient, as in the
    MIME message's one To header, the text part first, and the threading headers with the Message-ID."""
    sender: dict[str, str] = {"email": email.from_address}
    if email.from_name:
        sender["name"] = email.from_name
    content = [{"type": "text/plain", "value": email.text}]
    if email.html is not None:
        content.append({"type": "text/html", "value": email.html})
    body: dict[str, Any] = {
        "personalizations": [{"to": [{"email": address} for address in email.to]}],
        "from": sender,
        "subject": email.subject,
        "content": content,
        # The Message-ID is ours, so that a retry carries the same one and replies thread on it.
        "headers": {**email.headers, "Message-ID": email.message_id},
    }
    if email.reply_to:
        body["reply_to"] = {"email": email.reply_to}
    return body


def _sendgrid_errors(answer: Answer) -> str:
    errors = answer.json_object().get("errors")
    if isinstance(errors, list):
        described = [
            ": ".join(str(part) for part in (error.get("field"), error.get("message")) if part)
            for error in errors
            if isinstance(error, dict)
        ]
        if any(described):
            return "; ".join(text for text in described if text)
    return answer.excerpt() or "no details"


class SesProvider(_ApiProvider):
    """Amazon SES's v2 ``SendEmail`` with the raw MIME message, signed with Signature Version 4."""

    service = "SES"
    # What SES calls a message it will not send: invalid content or addresses. Anything else (a paused
    # or suspended account, a quota, throttling, an unverified domain, bad credentials) is the account's.
    PERMANENT_ERRORS: ClassVar[frozenset[str]] = frozenset({"BadRequest", "MessageRejected"})

    def __init__(
        self,
        name: str,
        *,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        session_token: str | None = None,
        endpoint: str | None = None,
        timeout: float = 15,
        clock: Clock | None = None,
    ) -> None:
        signing: dict[str, Any] = {"security_token": session_token} if session_token else {}
        auth = httpx_auth.AWS4Auth(access_key_id, secret_access_key, region, "ses", **signing)
        client = httpx.AsyncClient(
            base_url=endpoint or f"https://email.{region}.amazonaws.com",
            timeout=timeout,
            auth=auth,
            headers={"user-agent": USER_AGENT},
            follow_redirects=False,
            verify=certificate_authorities(trust_env=True),
        )
        super().__init__(name, client, clock)

    async def send(self, email: OutgoingEmail) -> Sent:
        answer = await self._post("/v2/email/outbound-emails", ses_body(email, mime_bytes(email, self.name)))
        if answer.accepted:
            message_id = answer.json_object().get("MessageId")
            return Sent(
                provider=self.name,
                provider_message_id=message_id if isinstance(message_id, str) else None,
                status_code=answer.status,
            )
        raise self._refusal(answer)

    def _refusal(self, answer: Answer) -> DeliveryFailed:
        kind, message = ses_error(answer)
        status = answer.status
        reason = f"HTTP {status} from SES: {kind or 'error'}: {message or answer.excerpt() or 'no details'}"
        permanent = kind.removesuffix("Exception") in self.PERMANENT_ERRORS
        wait = None if permanent else self._retry_after(answer)
        return failure(self.name, reason, permanent=permanent, status_code=status, retry_after=wait)


def ses_body(email: OutgoingEmail, raw: bytes) -> dict[str, Any]:
    """The v2 ``SendEmail`` request carrying ``raw``, the complete MIME message."""
    return {
        "FromEmailAddress": email.from_address,
        "Destination": {"ToAddresses": list(email.to)},
        "Content": {"Raw": {"Data": base64.b64encode(raw).decode("ascii")}},
    }


def ses_error(answer: Answer) -> tuple[str, str]:
    """The error type and message of an SES answer.

    AWS's JSON protocols put the type in ``__type`` (sometimes prefixed by a namespace and ``#``) or
    ``code``, and in the ``x-amzn-ErrorType`` header (followed by ``:`` and a URL).
    """
    data = answer.json_object()
    raw_type = next(
        (
            value
            for value in (data.get("__type"), data.get("code"), data.get("Code"))
            if isinstance(value, str) and value
        ),
        answer.headers.get("x-amzn-errortype", ""),
    )
    kind = raw_type.split(":", 1)[0].rsplit("#", 1)[-1].strip()
    message = next(
        (value for value in (data.get("message"), data.get("Message")) if isinstance(value, str)), ""
    )
    return kind, one_line(message)
