"""/api/v1/auth: password login for the browser, and logout."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from supportdesk.auth import service
from supportdesk.auth.dependencies import (
    SESSION_COOKIE,
    ClockDep,
    CurrentUser,
    SessionDep,
    SettingsDep,
    bearer_secret,
)
from supportdesk.people.schemas import LoginRequest, LoginResponse, UserOut

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=LoginResponse, summary="Log in with e-mail and password")
async def login(
    body: LoginRequest, response: Response, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> LoginResponse:
    user, issued = await service.login(
        session,
        settings,
        clock,
        email=body.email,
        password=body.password,
        workspace_slug=body.workspace,
    )
    await session.commit()
    response.set_cookie(
        SESSION_COOKIE,
        issued.secret,
        max_age=settings.session_ttl_hours * 3600,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="strict",
        path="/",
    )
    return LoginResponse(
        token=issued.secret, expires_at=issued.record.expires_at, user=UserOut.model_validate(user)
    )


@router.post("/logout", status_code=204, summary="End this browser session")
async def logout(
    request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Response:
    secret = bearer_secret(request)
    if secret is not None:
        await service.logout(session, settings, clock, user=user, secret=secret)
        await session.commit()
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
