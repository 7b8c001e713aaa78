"""Idempotent POSTs: a request carrying an ``Idempotency-Key`` is performed once per user and key.

The stored response is written in the same transaction as the change it describes, so a crash between
the two cannot leave a change without its record (or a record without its change).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Annotated, Protocol

from fastapi import Header, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.config import Settings
from supportdesk.core.clock import Clock
from supportdesk.core.errors import IdempotencyKeyInFlight, IdempotencyKeyReused, InvalidInput
from supportdesk.core.schemas import Text
from supportdesk.idempotency.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
_KEPT_HEADERS = ("etag", "location")


class _Sender(Protocol):
    @property
    def id(self) -> int: ...


class RequestContext(Protocol):
    """What a request must know for its key: its unit of work, who sent it, the time and the settings.
    The request context of the auth layer is one; naming it structurally keeps this package below it."""

    @property
    def session(self) -> AsyncSession: ...
    @property
    def user(self) -> _Sender: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def workspace_id(self) -> int: ...


class Idempotency:
    """The idempotency state of one request."""

    def __init__(self, context: RequestContext, key: str | None, fingerprint: str) -> None:
        self.context = context
        self.key = key
        self.fingerprint = fingerprint

    async def replay(self) -> JSONResponse | None:
        """The stored response of an earlier identical request, if there was one."""
        if self.key is None:
            return None
        session = self.context.session
        cutoff = self.context.clock.now() - timedelta(hours=self.context.settings.idempotency_ttl_hours)
        await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
        result = await session.execute(
            select(IdempotencyRecord).where(
                IdempotencyRecord.user_id == self.context.user.id, IdempotencyRecord.key == self.key
            )
        )
        record = result.scalar_one_or_none()
        if record is None:
            return None
        if record.fingerprint != self.fingerprint:
            raise IdempotencyKeyReused(
                f"The key {self.key!r} was used for a different request",
                errors=[{"field": HEADER, "message": "used with another request", "type": "reused"}],
            )
        headers = {**record.response_headers, REPLAY_HEADER: "true"}
        return JSONResponse(record.response_body, status_code=record.status_code, headers=headers)

    async def remember(self, response: Response) -> None:
        """Store ``response`` under the key in the current transaction, before the boundary commits.

        A second request with the same key that got here first holds the key's row: this one is
        refused as in flight, and its change is rolled back with it.
        """
        if self.key is None:
            return
        session = self.context.session
        session.add(
            IdempotencyRecord(
                workspace_id=self.context.workspace_id,
                user_id=self.context.user.id,
                key=self.key,
                fingerprint=self.fingerprint,
                status_code=response.status_code,
                response_body=json.loads(bytes(response.body)),
                response_headers={
                    name: value for name, value in response.headers.items() if name.lower() in _KEPT_HEADERS
                },
                created_at=self.context.clock.now(),
            )
        )
        try:
            await session.flush()
        except IntegrityError:
            await session.rollback()
            raise IdempotencyKeyInFlight() from None


IdempotencyKey = Annotated[
    Annotated[str, Text(max_length=255)] | None,
    Header(
        alias=HEADER,
        description="Makes a retry safe: the same key with the same body returns the first response.",
    ),
]


async def idempotency_for(request: Request, context: RequestContext, key: str | None) -> Idempotency:
    """The request's idempotency state; requests without a key are not affected."""
    if key is None:
        return Idempotency(context, None, "")
    if not key.strip():
        raise InvalidInput(HEADER, "The Idempotency-Key must not be blank.", reason="blank")
    body = await request.body()
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True).encode()
    except ValueError:
        canonical = body
    digest = hashlib.sha256(request.method.encode() + b" " + request.url.path.encode() + b"\n" + canonical)
    return Idempotency(context, key, digest.hexdigest())
