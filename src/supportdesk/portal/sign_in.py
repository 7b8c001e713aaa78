"""Signing in to the customer portal by a mailed single-use link, and out again (decision 0055).

Asking for a link answers the same for every address; opening a link changes nothing and shows a
button, whose form uses it: mail scanners open links before people do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from supportdesk.auth.dependencies import commit
from supportdesk.core.errors import TooManyRequests
from supportdesk.portal import forms, rules, service
from supportdesk.portal.pages import (
    SESSION_COOKIE,
    Portal,
    PortalDep,
    client_address,
    customer_form,
    page,
    path_text,
    portal_router,
    too_many,
    visitor_form,
    wait_words,
)
from supportdesk.portal.rules import LinkState
from supportdesk.portal.throttle import PortalThrottle
from supportdesk.web.pages import text

router = portal_router()


# --- signing in -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class SignInDraft:
    email: str = ""
    error: str | None = None
    field_errors: dict[str, str] = field(default_factory=dict)
    link_problem: str | None = None


def _sign_in_page(portal: Portal, draft: SignInDraft, *, status_code: int = 200) -> HTMLResponse:
    return page(
        portal,
        "portal/sign_in.html",
        status_code=status_code,
        draft=draft,
        section="sign-in",
        minutes=rules.LINK_MINUTES,
        signed_out=portal.request.query_params.get("signed_out") == "1" and draft.link_problem is None,
    )


@router.get("/sign-in")
async def sign_in_page(portal: PortalDep) -> Response:
    """Ask for a sign-in link; a customer signed in already goes to their requests."""
    if portal.customer is not None:
        return RedirectResponse(f"{portal.base}/tickets", status_code=303)
    return _sign_in_page(portal, SignInDraft())


def _link_base(portal: Portal) -> str:
    # The configured public address, else the one this request came to (see SUPPORTDESK_PUBLIC_URL).
    origin = portal.settings.public_url or str(portal.request.base_url).rstrip("/")
    return f"{origin}{portal.base}/sign-in/"


@router.post("/sign-in")
async def send_link(portal: PortalDep) -> Response:
    """Mail a sign-in link to the address, if it is a customer's. Every address gets the same answer."""
    posted = await visitor_form(portal)
    draft = SignInDraft(email=text(posted, "email").strip())
    try:
        body = forms.SignInForm.model_validate({"email": draft.email})
    except ValidationError as error:
        draft.field_errors = forms.field_errors(error)
        draft.error = "Please check your e-mail address."
        return _sign_in_page(portal, draft, status_code=422)
    throttle: PortalThrottle = portal.request.app.state.portal_throttle
    try:
        await throttle.sign_in(portal.slug, body.email, client_address(portal.request))
    except TooManyRequests as refused:
        draft.error = (
            f"Too many sign-in links were asked for. Please try again in {wait_words(refused.retry_after)}."
        )
        return too_many(_sign_in_page(portal, draft, status_code=429), refused)
    await service.request_sign_in(
        portal.session,
        portal.clock,
        portal.settings,
        workspace_id=portal.workspace_id,
        email=body.email,
        link_base=_link_base(portal),
    )
    response = page(portal, "portal/link_sent.html", email=body.email, minutes=rules.LINK_MINUTES)
    return await commit(portal.session, response)


_LINK_PROBLEMS = {
    LinkState.used: "This sign-in link has been used already. Each link works once: ask for a new one below.",
    LinkState.expired: (
        f"This sign-in link has expired. Links work for {rules.LINK_MINUTES} minutes: "
        "ask for a new one below."
    ),
    LinkState.unknown: "This sign-in link is not valid. Ask for a new one below.",
}


@router.get("/sign-in/{secret}")
async def link_page(portal: PortalDep) -> Response:
    """The page a sign-in link opens: one button signs in. Opening the link changes nothing, since mail
    scanners open links before people do, and a link spent by a scanner would fail its owner."""
    secret = path_text(portal.request, "secret")
    state = await service.link_state(portal.session, portal.clock, portal.settings, secret)
    if state != LinkState.usable:
        draft = SignInDraft(link_problem=_LINK_PROBLEMS[state])
        return _sign_in_page(portal, draft, status_code=410 if state != LinkState.unknown else 404)
    return page(portal, "portal/link.html", secret=secret)


@router.post("/sign-in/{secret}")
async def use_link(portal: PortalDep) -> Response:
    """Sign in with the link: a portal session in an HttpOnly cookie, and the link is spent."""
    await visitor_form(portal)
    secret = path_text(portal.request, "secret")
    outcome = await service.redeem_link(portal.session, portal.clock, portal.settings, secret)
    if not isinstance(outcome, service.SignedIn):
        await portal.session.rollback()
        draft = SignInDraft(link_problem=_LINK_PROBLEMS[outcome])
        return _sign_in_page(portal, draft, status_code=410 if outcome != LinkState.unknown else 404)
    response = RedirectResponse(f"{portal.base}/tickets", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        outcome.secret,
        max_age=portal.settings.session_ttl_hours * 3600,
        httponly=True,
        secure=portal.settings.secure_cookies,
        samesite="lax",
        path=portal.base,
    )
    return await commit(portal.session, response)


@router.post("/sign-out")
async def sign_out(portal: PortalDep) -> Response:
    """End this browser's portal session."""
    await customer_form(portal)
    await service.sign_out(portal.session, portal.settings, portal.secret or "")
    response = RedirectResponse(f"{portal.base}/sign-in?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=portal.base)
    return await commit(portal.session, response)
