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
    commit,
)
from supportdesk.auth.throttle import LoginThrottle
from supportdesk.core.errors import InvalidCredentials
from supportdesk.core.http import model_response
from supportdesk.core.problems import TOO_MANY_REQUESTS
from supportdesk.people.schemas import LoginRequest, LoginResponse, UserOut

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/login",
    response_model=LoginResponse,
    summary="Log in with e-mail and password",
    responses={429: TOO_MANY_REQUESTS},
)
async def login(
    body: LoginRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> Response:
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client is not None else "unknown"
    await throttle.attempt(body.email, address)
    try:
        user, issued = await service.login(
            session,
            settings,
            clock,
            email=body.email,
            password=body.password,
            workspace_slug=body.workspace,
        )
    except InvalidCredentials:
        await throttle.failed(body.email, address)
        raise
    answer = LoginResponse(
        token=issued.secret, expires_at=issued.record.expires_at, user=UserOut.model_validate(user)
    )
    # The body carries a bearer token: no cache on the way may keep a copy.
    response = model_response(answer, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        SESSION_COOKIE,
        issued.secret,
        max_age=settings.session_ttl_hours * 3600,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="strict",
        path="/",
    )
    await commit(session, response)
    await throttle.succeeded(body.email, address)
    return response


@router.post(
    "/logout",
    status_code=204,
    summary="End this login session",
    description="Revokes the login session the request is authenticated with (the session cookie, or the "
    "token a login returned). A personal API token is left alone and answered with `400 not-a-session`; "
    "revoke it with `DELETE /api/v1/me/tokens/{id}`.",
)
async def logout(
    request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Response:
    secret = bearer_secret(request)
    if secret is not None:
        await service.logout(session, settings, clock, user=user, secret=secret)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return await commit(session, response)
