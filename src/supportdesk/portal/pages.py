"""What every page of the customer portal shares (decision 0055): the request's portal (its workspace,
scoped session and signed-in customer), the route class that answers errors with a portal page and a
missing sign-in with the sign-in page, rendering with the forms' CSRF tokens, and the forms' checks.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from supportdesk.audit.models import ActorType
from supportdesk.audit.recorder import SYSTEM, Actor, act_as
from supportdesk.auth.dependencies import get_clock, get_database, get_settings
from supportdesk.config import Settings
from supportdesk.core.clock import Clock
from supportdesk.core.errors import NotFound, SupportdeskError, TooManyRequests
from supportdesk.core.problems import page_refusal
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people.models import Customer
from supportdesk.portal import rules, service
from supportdesk.web import csrf
from supportdesk.web.pages import FormExpired, render
from supportdesk.workspaces import service as workspace_service

PORTAL_PREFIX = "/portal"
# The portal's forms that carry files: they take as large a body as the API's upload does (app.py).
UPLOAD_PATHS = re.compile(r"^/portal/[^/]+/(requests|tickets/\d+/reply)$")
# The customer's portal session. Its path is the workspace's portal, so a customer of two workspaces
# holds one session for each, and neither is ever sent to the other's pages or to the staff's.
SESSION_COOKIE = "supportdesk_portal"
# A random value the forms shown before signing in take their CSRF token from.
VISIT_COOKIE = "supportdesk_portal_visit"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotSignedIn(SupportdeskError):
    status_code = 401
    code = "not-authenticated"
    title = "Sign in to see your requests"


@dataclass(slots=True)
class Portal:
    """One request to a workspace's portal: its scoped session, the workspace, and the customer signed
    in to it, if any."""

    request: Request
    session: AsyncSession
    clock: Clock
    settings: Settings
    workspace_id: int
    slug: str
    name: str
    customer: Customer | None
    secret: str | None

    @property
    def base(self) -> str:
        return f"{PORTAL_PREFIX}/{self.slug}"

    def signed_in(self) -> Customer:
        if self.customer is None:
            raise NotSignedIn()
        return self.customer


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def path_text(request: Request, name: str) -> str:
    # Read from the path as it came, not declared as a parameter: the rules below check its form (which
    # keeps out anything a database cannot store) and answer a malformed one as "not found", as a page
    # should, where a declared parameter would be answered by the API's validation error.
    return str(request.path_params.get(name, ""))


async def get_portal(request: Request) -> AsyncIterator[Portal]:
    """The portal of the workspace named by the path, its session scoped to that workspace; a slug no
    workspace has is not found."""
    workspace_slug = path_text(request, "workspace_slug")
    if not rules.plausible_slug(workspace_slug):
        raise NotFound("No such portal")
    settings, clock = get_settings(request), get_clock(request)
    async with get_database(request).session_for(readonly=request.method in _SAFE_METHODS) as session:
        workspace = await workspace_service.get_workspace_by_slug(session, workspace_slug)
        if workspace is None:
            raise NotFound("No such portal")
        scope_to_workspace(session.sync_session, workspace.id)
        secret = request.cookies.get(SESSION_COOKIE)
        customer = await service.customer_of_session(session, clock, settings, secret)
        # What a signed-in customer changes is theirs in the audit trail; a visitor's form is the desk's.
        act_as(session.sync_session, Actor(ActorType.customer, customer.id) if customer else SYSTEM, clock)
        yield Portal(
            request=request,
            session=session,
            clock=clock,
            settings=settings,
            workspace_id=workspace.id,
            slug=workspace.slug,
            name=workspace.name,
            customer=customer,
            secret=secret if customer is not None else None,
        )


PortalDep = Annotated[Portal, Depends(get_portal)]


def error_page(request: Request, error: SupportdeskError) -> HTMLResponse:
    slug = str(request.path_params.get("workspace_slug", ""))
    if isinstance(error, NotFound):
        title, detail = "Not found", "There is nothing here. The link may be wrong or out of date."
    elif isinstance(error, FormExpired):
        title, detail = (
            error.title,
            "The page this form was on is out of date. Go back, reload it and try again.",
        )
    else:
        title, detail = error.title, error.detail
    response = render(
        request,
        "portal/error.html",
        status_code=error.status_code,
        title=title,
        detail=detail,
        home=f"{PORTAL_PREFIX}/{slug}" if rules.plausible_slug(slug) else None,
    )
    if isinstance(error, TooManyRequests):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


class PortalRoute(APIRoute):
    """A portal page's route: a customer who is not signed in goes to the sign-in page, and an error
    becomes an HTML page for customers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except NotSignedIn:
                slug = request.path_params.get("workspace_slug", "")
                return RedirectResponse(f"{PORTAL_PREFIX}/{slug}/sign-in", status_code=303)
            except RequestValidationError as error:
                return error_page(request, page_refusal(error))
            except SupportdeskError as error:
                return error_page(request, error)
            finally:
                # A form the page read itself is not closed by FastAPI: its files' temporary copies are.
                await request.close()

        return page_handler


def portal_router() -> APIRouter:
    """A router of portal pages: under a workspace's portal path, with the portal's route class."""
    return APIRouter(
        prefix=f"{PORTAL_PREFIX}/{{workspace_slug}}", include_in_schema=False, route_class=PortalRoute
    )


# --- CSRF and rendering ---------------------------------------------------------------------------------


def visit_value(request: Request) -> str:
    value = request.cookies.get(VISIT_COOKIE)
    return value if value and rules.plausible_secret(value) else csrf.new_login_value()


def page(portal: Portal, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
    """A portal page with its forms' tokens: the visit token always (the request form is on most pages),
    and the session token when a customer is signed in."""
    settings = portal.settings
    values.setdefault("section", "")
    visit = visit_value(portal.request)
    session_token = (
        csrf.form_token(settings.secret_key, csrf.PORTAL_PURPOSE, portal.secret) if portal.secret else ""
    )
    response = render(
        portal.request,
        template,
        status_code=status_code,
        portal=portal,
        base=portal.base,
        customer=portal.customer,
        visit_token=csrf.form_token(settings.secret_key, csrf.PORTAL_VISIT_PURPOSE, visit),
        session_token=session_token,
        **values,
    )
    # SameSite=Lax, like the session (decision 0055): a browser arriving from a mail client keeps it.
    response.set_cookie(
        VISIT_COOKIE, visit, httponly=True, secure=settings.secure_cookies, samesite="lax", path=portal.base
    )
    return response


async def visitor_form(portal: Portal) -> FormData:
    """A form shown before signing in, once its token proves it came from this site's page."""
    form = await portal.request.form()
    value = portal.request.cookies.get(VISIT_COOKIE)
    if not csrf.token_matches(
        portal.settings.secret_key, csrf.PORTAL_VISIT_PURPOSE, value, form.get(csrf.FIELD)
    ):
        raise FormExpired()
    return form


async def customer_form(portal: Portal) -> tuple[Customer, FormData]:
    """A signed-in customer's form, once its token proves it came from their page."""
    customer = portal.signed_in()
    form = await portal.request.form()
    if not csrf.token_matches(
        portal.settings.secret_key, csrf.PORTAL_PURPOSE, portal.secret, form.get(csrf.FIELD)
    ):
        raise FormExpired()
    return customer, form


def too_many(response: HTMLResponse, refused: TooManyRequests) -> HTMLResponse:
    response.headers["Retry-After"] = str(refused.retry_after)
    return response


def wait_words(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
