"""Password login, browser sessions and personal API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.models import ActorType
from supportdesk.audit.recorder import Actor, act_as
from supportdesk.config import Settings
from supportdesk.core.clock import Clock
from supportdesk.core.errors import InvalidCredentials, InvalidInput, NotFound
from supportdesk.core.security import (
    hash_password,
    hash_token,
    new_token,
    token_display_prefix,
    verify_password,
)
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people.models import ApiToken, TokenKind, User
from supportdesk.workspaces.models import Workspace

# Verified when the e-mail address is unknown, so a wrong address costs as long as a wrong password.
_DUMMY_HASH = hash_password("not-a-real-password")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token as created: the secret (shown once) and its stored record."""

    secret: str
    record: ApiToken


# Built once: every authenticated request runs it, and building the statement costs more than its cache hit.
_TOKEN_OWNER = (
    select(User, ApiToken.revoked_at, ApiToken.expires_at)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


async def authenticate_token(
    session: AsyncSession, settings: Settings, clock: Clock, secret: str
) -> User | None:
    """The active user a bearer token belongs to, or ``None`` if it is unknown, revoked or expired."""
    result = await session.execute(_TOKEN_OWNER, {"token_hash": hash_token(secret, settings.secret_key)})
    row = result.first()
    if row is None:
        return None
    user, revoked_at, expires_at = row
    if revoked_at is not None or (expires_at is not None and expires_at <= clock.now()):
        return None
    return user if user.is_active else None


async def _issue(
    session: AsyncSession,
    settings: Settings,
    *,
    user: User,
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
    matches = [user for user in candidates if verify_password(user.password_hash, password)]
    if not candidates:
        verify_password(_DUMMY_HASH, password)
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
    user: User,
    name: str,
    expires_in_days: int | None = None,
) -> IssuedToken:
    """A personal API token for ``user``; the secret is returned once and never stored."""
    expires_in = timedelta(days=expires_in_days) if expires_in_days is not None else None
    return await _issue(
        session, settings, user=user, name=name, kind=TokenKind.personal, clock=clock, expires_in=expires_in
    )


async def list_tokens(session: AsyncSession, user: User) -> list[ApiToken]:
    """The user's personal tokens that are not revoked, newest first."""
    query = (
        select(ApiToken)
        .where(
            ApiToken.user_id == user.id,
            ApiToken.kind == TokenKind.personal,
            ApiToken.revoked_at.is_(None),
        )
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return list((await session.execute(query)).scalars())


async def revoke_token(session: AsyncSession, clock: Clock, *, user: User, token_id: int) -> None:
    """Revoke one of the user's tokens; revoking twice is harmless."""
    token = await session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("No such token")
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        await session.flush()


async def logout(session: AsyncSession, settings: Settings, clock: Clock, *, user: User, secret: str) -> None:
    """End the browser session whose secret is ``secret``."""
    result = await session.execute(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(secret, settings.secret_key), ApiToken.user_id == user.id
        )
    )
    token = result.scalar_one_or_none()
    if token is not None and token.revoked_at is None:
        token.revoked_at = clock.now()
        await session.flush()
