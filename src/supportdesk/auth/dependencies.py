"""The single place where a request gets its session, its user, its workspace and its permissions, and
where the unit of work of a request that changes something ends.

Tests give the app their own database and clock (``create_app(database=..., clock=...)``); every
authenticated endpoint reaches the database through :func:`get_context` or :func:`allowed`, so tenancy
and auditing cannot be skipped by an endpoint that forgets them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.models import ActorType
from supportdesk.audit.recorder import Actor, act_as
from supportdesk.auth import service as auth_service
from supportdesk.auth.token_cache import Caller, TokenCache
from supportdesk.config import Settings
from supportdesk.core.clock import Clock
from supportdesk.core.errors import NotAuthenticated
from supportdesk.core.permissions import Action, require_permission
from supportdesk.db import objects
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.idempotency.service import Idempotency

SESSION_COOKIE = "supportdesk_session"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings(request: Request) -> Settings:
    """The application's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_clock(request: Request) -> Clock:
    """The application's clock."""
    clock: Clock = request.app.state.clock
    return clock


def get_database(request: Request) -> Database:
    """The application's database."""
    database: Database = request.app.state.database
    return database


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for this request; safe methods get a read-only one. It ends in :func:`commit`."""
    async with get_database(request).session_for(readonly=request.method in _SAFE_METHODS) as session:
        yield session


async def commit(
    session: AsyncSession, response: Response, idempotency: Idempotency | None = None
) -> Response:
    """End a request's unit of work, in the same order for every endpoint that changes something.

    The endpoint has made its change (flows and services only flush) and built its whole response from
    what the change left in memory and what it read inside the transaction. An idempotent request then
    stores that response under its key, in the same transaction, and one commit makes both durable:
    a client that retries gets exactly the answer whose change was committed, or a fresh attempt.
    The answer leaves once the objects the change touched are forgotten by the object cache: whoever
    reads them after it reads them as committed.
    """
    if idempotency is not None:
        await idempotency.remember(response)
    await session.commit()
    await objects.settle(session)
    return response


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SessionDep = Annotated[AsyncSession, Depends(get_db)]


def bearer_secret(request: Request) -> str | None:
    """The bearer token of the request: the Authorization header, else the session cookie."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() or None if scheme.lower() == "bearer" else None
    return request.cookies.get(SESSION_COOKIE)


async def _authenticate(request: Request, session: AsyncSession) -> Caller:
    settings, clock = get_settings(request), get_clock(request)
    secret = bearer_secret(request)
    if secret is None:
        raise NotAuthenticated()
    cache: TokenCache = request.app.state.token_cache
    caller = await auth_service.authenticate_token(session, settings, clock, secret, cache=cache)
    if caller is None:
        raise NotAuthenticated("The token is unknown, revoked or expired")
    scope_to_workspace(session.sync_session, caller.workspace_id)
    act_as(session.sync_session, Actor(ActorType.user, caller.id), clock)
    request.state.user_id = caller.id
    return caller


async def get_current_user(request: Request, session: SessionDep) -> Caller:
    """The authenticated staff member; scopes the session to their workspace, attributes changes to them."""
    return await _authenticate(request, session)


CurrentUser = Annotated[Caller, Depends(get_current_user)]


@dataclass(frozen=True, slots=True)
class Context:
    """What an endpoint needs: the scoped session, the acting staff member, the clock and the settings."""

    session: AsyncSession
    user: Caller
    clock: Clock
    settings: Settings

    @property
    def workspace_id(self) -> int:
        """The workspace everything in this request belongs to."""
        return self.user.workspace_id

    async def commit(self, response: Response, idempotency: Idempotency | None = None) -> Response:
        """Commit this request's change and answer with ``response`` (see :func:`commit`)."""
        return await commit(self.session, response, idempotency)

    def require(self, action: Action) -> None:
        """Raise 403 unless the user's role allows ``action``."""
        require_permission(self.user.role, action)


@asynccontextmanager
async def _context(request: Request, action: Action | None) -> AsyncIterator[Context]:
    # One dependency opens the session, authenticates and checks the role: FastAPI resolves every
    # dependency of every request, and these three always come together.
    async with get_database(request).session_for(readonly=request.method in _SAFE_METHODS) as session:
        user = await _authenticate(request, session)
        if action is not None:
            require_permission(user.role, action)
        yield Context(session=session, user=user, clock=get_clock(request), settings=get_settings(request))


async def get_context(request: Request) -> AsyncIterator[Context]:
    """The request context of an authenticated endpoint."""
    async with _context(request, None) as context:
        yield context


def allowed(action: Action) -> Callable[..., AsyncIterator[Context]]:
    """A dependency giving the context once the user's role is allowed ``action``."""

    async def dependency(request: Request) -> AsyncIterator[Context]:
        async with _context(request, action) as context:
            yield context

    return dependency


ContextDep = Annotated[Context, Depends(get_context)]
