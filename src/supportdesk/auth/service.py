"""Password login, browser sessions and personal API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.models import ActorType
from supportdesk.audit.recorder import Actor, act_as
from supportdesk.auth.token_cache import Caller, TokenCache
from supportdesk.config import Settings
from supportdesk.core.clock import Clock
from supportdesk.core.errors import InvalidCredentials, InvalidInput, NotASession, NotFound
from supportdesk.core.security import (
    hash_password,
    hash_token,
    new_token,
    token_display_prefix,
    verify_password_in_thread,
)
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people.models import ApiToken, Staff, TokenKind, User
from supportdesk.workspaces.models import Workspace

# Verified when the e-mail address is unknown, so a wrong address costs as long as a wrong password.
_DUMMY_HASH = hash_password("not-a-real-password")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token as created: the secret (shown once) and its stored record."""

    secret: str
    record: ApiToken


_users, _tokens = cast(Table, User.__table__), cast(Table, ApiToken.__table__)
_user, _token = _users.c, _tokens.c
# Built once, in Core: every request whose token is not cached runs it, and building the statement (or
# loading a User object) costs more than its cache hit.
_TOKEN_OWNER = (
    select(
        _user.id,
        _user.workspace_id,
        _user.role,
        _user.email,
        _user.name,
        _user.is_active,
        _token.revoked_at,
        _token.expires_at,
    )
    .select_from(_users.join(_tokens, _token.user_id == _user.id))
    .where(_token.token_hash == bindparam("token_hash"))
)


async def authenticate_token(
    session: AsyncSession, settings: Settings, clock: Clock, secret: str, *, cache: TokenCache
) -> Caller | None:
    """The active staff member a bearer token belongs to, or ``None`` if it is unknown, revoked or expired.

    A token checked in the last ``token_cache_seconds`` is not read again (see :mod:`.token_cache`).
    """
    token_hash = hash_token(secret, settings.secret_key)
    now = clock.now()
    if (caller := cache.get(token_hash, now)) is not None:
        return caller
    generation = cache.generation
    row = (await session.execute(_TOKEN_OWNER, {"token_hash": token_hash})).first()
    if row is None or row.revoked_at is not None or not row.is_active:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    caller = Caller(id=row.id, workspace_id=row.workspace_id, role=row.role, email=row.email, name=row.name)
    cache.put(
        token_hash,
        caller,
        token_expires_at=row.expires_at,
        now=now,
        ttl=timedelta(seconds=settings.token_cache_seconds),
        generation=generation,
    )
    return caller


async def _issue(
    session: AsyncSession,
    settings: Settings,
    *,
    user: Staff,
    name: str,
    kind: TokenKind,
    clock: Clock,
    expires_in: timedelta | None,
) -> IssuedToken:
    secret = new_token()
    now = clock.now()
    record = ApiToken(
        workspace_id=user.workspace_id,
        user_id=user.id,
        name=name,
        kind=kind,
        token_hash=hash_token(secret, settings.secret_key),
        prefix=token_display_prefix(secret),
        created_at=now,
        expires_at=now + expires_in if expires_in is not None else None,
    )
    session.add(record)
    await session.flush()
    return IssuedToken(secret=secret, record=record)


async def login(
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    *,
    email: str,
    password: str,
    workspace_slug: str | None = None,
) -> tuple[User, IssuedToken]:
    """Check a password and open a browser session. Unknown users and wrong passwords look the same."""
    query = select(User).where(User.email == email, User.is_active.is_(True))
    if workspace_slug is not None:
        query = query.join(Workspace, Workspace.id == User.workspace_id).where(
            Workspace.slug == workspace_slug
        )
    candidates = list((await session.execute(query)).scalars())
    # One argon2 check per candidate, and one for no candidate: an unknown address and an account without
    # a password take as long as a wrong password, so the answer's timing does not tell them apart.
    matches: list[User] = []
    for candidate in candidates:
        if candidate.password_hash:
            if await verify_password_in_thread(candidate.password_hash, password):
                matches.append(candidate)
        else:
            await verify_password_in_thread(_DUMMY_HASH, password)
    if not candidates:
        await verify_password_in_thread(_DUMMY_HASH, password)
    if len(matches) > 1:
        raise InvalidInput(
            "workspace",
            "This address belongs to several workspaces; name the workspace.",
            reason="workspace-required",
        )
    if not matches:
        raise InvalidCredentials()
    user = matches[0]
    # The session token is the user's own doing, and belongs to their workspace.
    scope_to_workspace(session.sync_session, user.workspace_id)
    act_as(session.sync_session, Actor(ActorType.user, user.id), clock)
    issued = await _issue(
        session,
        settings,
        user=user,
        name="browser session",
        kind=TokenKind.session,
        clock=clock,
        expires_in=timedelta(hours=settings.session_ttl_hours),
    )
    return user, issued


async def create_personal_token(
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    *,
    user: Staff,
    name: str,
    expires_in_days: int | None = None,
) -> IssuedToken:
    """A personal API token for ``user``; the secret is returned once and never stored."""
    expires_in = timedelta(days=expires_in_days) if expires_in_days is not None else None
    return await _issue(
        session, settings, user=user, name=name, kind=TokenKind.personal, clock=clock, expires_in=expires_in
    )


async def list_tokens(
    session: AsyncSession, user: Staff, *, include_sessions: bool = False
) -> list[ApiToken]:
    """The user's personal tokens (and, if asked, login sessions) that are not revoked, newest first."""
    query = (
        select(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    if not include_sessions:
        query = query.where(ApiToken.kind == TokenKind.personal)
    return list((await session.execute(query)).scalars())


async def get_token(session: AsyncSession, token_id: int) -> ApiToken:
    """The token with ``token_id``, revoked or not (in the session's workspace, if it is scoped)."""
    token = await session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"No token with id {token_id}")
    return token


async def revoke_all_tokens(session: AsyncSession, clock: Clock, *, user: Staff) -> int:
    """Revoke every token of the user, personal and login sessions alike; returns how many were live."""
    tokens = await list_tokens(session, user, include_sessions=True)
    now = clock.now()
    for token in tokens:
        token.revoked_at = now
    await session.flush()
    return len(tokens)


async def revoke_token(session: AsyncSession, clock: Clock, *, user: Staff, token_id: int) -> None:
    """Revoke one of the user's tokens; revoking twice is harmless."""
    token = await session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("No such token")
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        await session.flush()


async def logout(
    session: AsyncSession, settings: Settings, clock: Clock, *, user: Staff, secret: str
) -> None:
    """End the login session whose secret is ``secret``.

    A personal API token is never revoked here (that is ``DELETE /me/tokens/{id}``): logging out with one
    raises :class:`NotASession` rather than answering as if something had ended.
    """
    result = await session.execute(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(secret, settings.secret_key), ApiToken.user_id == user.id
        )
    )
    token = result.scalar_one_or_none()
    if token is not None and token.kind != TokenKind.session:
        raise NotASession(
            "This request carries a personal API token, which logout leaves alone; "
            "revoke it with DELETE /api/v1/me/tokens/{id}"
        )
    if token is not None and token.revoked_at is None:
        token.revoked_at = clock.now()
        await session.flush()
