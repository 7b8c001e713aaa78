"""The edges of every request: a size limit on what comes in, and the headers every answer carries.

Both are plain ASGI middleware, like the metrics one: Starlette's ``BaseHTTPMiddleware`` would cost as
much per request as a small endpoint, and these run on every request.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supportdesk.core.problems import problem

_NOSNIFF = (b"x-content-type-options", b"nosniff")

# The pages' policy (decision 0053): scripts, styles, pictures and connections from this site only, no
# inline script or style, forms posted only here, and no other site may frame a page.
PAGE_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_PAGE_HEADERS = (
    _NOSNIFF,
    (b"content-security-policy", PAGE_CONTENT_SECURITY_POLICY.encode()),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)


class SecurityHeadersMiddleware:
    """Adds ``X-Content-Type-Options: nosniff`` to every answer, so no browser guesses a type for one.

    Answers on the paths of the browser's pages (``page_prefix``, one or several: the pages and their
    static files) carry the pages' headers too: a Content-Security-Policy without inline scripts or
    styles, no framing and a referrer policy. The API's answers are JSON, which no browser runs, and the
    documentation pages (``/docs``) come with inline scripts of their own, so the policy stays off them.

    Responses that carry a secret set ``Cache-Control: no-store`` themselves; only they know.
    """

    def __init__(self, app: ASGIApp, *, page_prefix: str | tuple[str, ...] | None = None) -> None:
        self.app = app
        prefixes = (page_prefix,) if isinstance(page_prefix, str) else page_prefix or ()
        self.page_prefixes = tuple(prefixes)
        self._nested = tuple(f"{prefix}/" for prefix in prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        is_page = path in self.page_prefixes or path.startswith(self._nested)
        extra = _PAGE_HEADERS if is_page else (_NOSNIFF,)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A new list: a response object may be sent more than once, and must not grow each time.
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestSizeLimitMiddleware:
    """Refuses a request body larger than its limit with ``413 payload-too-large``, unread.

    The limit is ``max_bytes``, except on paths ``upload_paths`` matches (file uploads), where it is
    ``upload_max_bytes``. A declared ``Content-Length`` is checked before the application runs; the
    server then delivers no more than it declared. A body without one (chunked) is counted as it
    arrives, and the read that crosses the limit raises the 413 inside the application, which FastAPI
    passes on unchanged.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        *,
        upload_max_bytes: int | None = None,
        upload_paths: re.Pattern[str] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes if upload_max_bytes is not None else max_bytes
        self.upload_paths = upload_paths

    def _limit(self, scope: Scope) -> int:
        if self.upload_paths is not None and self.upload_paths.match(str(scope.get("path", ""))):
            return self.upload_max_bytes
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    await self._refuse(scope, receive, send, limit)
                    return
                await self.app(scope, receive, send)
                return
        await self.app(scope, self._counting(receive, limit), send)

    def _counting(self, receive: Receive, max_bytes: int) -> Receive:
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise HTTPException(413, _too_large_title(max_bytes))
            return message

        return counting_receive

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
        response = problem(
            Request(scope),
            status=413,
            code="payload-too-large",
            title=_too_large_title(max_bytes),
            # The unread body stays on the connection; closing it is cheaper than reading it to reuse it.
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _too_large_title(max_bytes: int) -> str:
    return f"The request body is larger than {max_bytes} bytes"
