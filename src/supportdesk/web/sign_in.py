"""Signing in to the workspace and out of it (decision 0053).

The sign-in form runs the API's login (``auth.service.login``) with the same throttle, and sets the
same session cookie the API's login sets, so the pages and the API share one session, one throttle and
one revocation path. The form's CSRF token is keyed by a random value in a cookie of its own until a
session exists; signing out revokes the session as ``POST /api/v1/auth/logout`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from supportdesk.auth import service as auth_service
from supportdesk.auth.dependencies import (
    SESSION_COOKIE,
    Context,
    SessionDep,
    bearer_secret,
    commit,
    get_clock,
    get_context,
    get_settings,
)
from supportdesk.auth.throttle import LoginThrottle
from supportdesk.config import Settings
from supportdesk.core.errors import InvalidCredentials, InvalidInput, TooManyRequests
from supportdesk.people.schemas import LoginRequest
from supportdesk.web import csrf
from supportdesk.web.pages import LOGIN_PATH, WEB_PREFIX, PageRoute, checked_form, render, safe_next, text

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=PageRoute)
SignedIn = Annotated[Context, Depends(get_context)]


@dataclass(slots=True)
class LoginForm:
    """The sign-in form as shown: what was typed (never the password) and what went wrong."""

    email: str = ""
    workspace: str = ""
    next: str = WEB_PREFIX
    error: str | None = None
    field_errors: dict[str, str] = field(default_factory=dict)
    ask_workspace: bool = False
    signed_out: bool = False


def _login_page(
    request: Request, settings: Settings, form: LoginForm, *, status_code: int = 200
) -> HTMLResponse:
    # The login form's token is computed from a random value in a cookie of its own, kept as long as
    # the browser keeps it, so that several tabs showing the form all work.
    value = request.cookies.get(csrf.LOGIN_COOKIE) or csrf.new_login_value()
    response = render(
        request,
        "login.html",
        status_code=status_code,
        form=form,
        csrf_token=csrf.form_token(settings.secret_key, "login", value),
    )
    response.set_cookie(
        csrf.LOGIN_COOKIE,
        value,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="strict",
        path=LOGIN_PATH,
    )
    return response


@router.get("/login")
async def login_page(request: Request, session: SessionDep) -> Response:
    """The sign-in form; someone already signed in goes on to the workspace."""
    settings, clock = get_settings(request), get_clock(request)
    target = safe_next(request.query_params.get("next"))
    secret = request.cookies.get(SESSION_COOKIE)
    if secret is not None:
        caller = await auth_service.authenticate_token(
            session, settings, clock, secret, cache=request.app.state.token_cache
        )
        if caller is not None:
            return RedirectResponse(target, status_code=303)
    signed_out = request.query_params.get("signed_out") == "1"
    return _login_page(request, settings, LoginForm(next=target, signed_out=signed_out))


_LOGIN_FIELD_MESSAGES = {
    "email": "Enter your e-mail address, like name@example.com.",
    "password": "Enter your password.",
    "workspace": "Enter the workspace's short name.",
}


@router.post("/login")
async def login(request: Request, session: SessionDep) -> Response:
    """Check the password as the API's login does (the same throttle, the same session and cookie)."""
    settings, clock = get_settings(request), get_clock(request)
    posted = await request.form()
    form = LoginForm(
        email=text(posted, "email").strip(),
        workspace=text(posted, "workspace").strip(),
        next=safe_next(text(posted, "next")),
    )
    form.ask_workspace = bool(form.workspace)
    value = request.cookies.get(csrf.LOGIN_COOKIE)
    if not csrf.token_matches(settings.secret_key, "login", value, posted.get(csrf.FIELD)):
        form.error = "The sign-in form had expired. Please sign in again."
        return _login_page(request, settings, form, status_code=403)
    try:
        body = LoginRequest.model_validate(
            {"email": form.email, "password": text(posted, "password"), "workspace": form.workspace or None}
        )
    except ValidationError as error:
        for problem in error.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "email"
            form.field_errors.setdefault(name, _LOGIN_FIELD_MESSAGES.get(name, "Check this field."))
        form.error = "Check the fields marked below."
        return _login_page(request, settings, form, status_code=422)
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client is not None else "unknown"
    try:
        await throttle.attempt(body.email, address)
    except TooManyRequests as refused:
        form.error = f"Too many sign-in attempts. Try again in {refused.retry_after} seconds."
        refusal = _login_page(request, settings, form, status_code=429)
        refusal.headers["Retry-After"] = str(refused.retry_after)
        return refusal
    try:
        _user, issued = await auth_service.login(
            session, settings, clock, email=body.email, password=body.password, workspace_slug=body.workspace
        )
    except InvalidCredentials:
        await throttle.failed(body.email, address)
        form.error = "The e-mail address or password is wrong."
        return _login_page(request, settings, form, status_code=401)
    except InvalidInput as error:
        # The address is staff in several workspaces: the person names the one they mean.
        form.ask_workspace = True
        form.field_errors[error.field] = error.detail
        form.error = "Which workspace do you want to sign in to?"
        return _login_page(request, settings, form, status_code=422)
    response = RedirectResponse(form.next, status_code=303)
    # The same cookie the API's login sets (auth.router), so the pages and the API share the session.
    response.set_cookie(
        SESSION_COOKIE,
        issued.secret,
        max_age=settings.session_ttl_hours * 3600,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="strict",
        path="/",
    )
    response.delete_cookie(csrf.LOGIN_COOKIE, path=LOGIN_PATH)
    await commit(session, response)
    await throttle.succeeded(body.email, address)
    return response


@router.post("/logout")
async def logout(request: Request, context: SignedIn) -> Response:
    """End this browser's session, as the API's logout does, and show the sign-in form."""
    await checked_form(request, context.settings)
    # The form's token matched, so the request carries the credential it was computed from.
    secret = bearer_secret(request) or ""
    await auth_service.logout(
        context.session, context.settings, context.clock, user=context.user, secret=secret
    )
    response = RedirectResponse(f"{LOGIN_PATH}?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return await context.commit(response)
