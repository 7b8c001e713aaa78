"""The customer portal's pages under ``/portal/{workspace_slug}`` (decision 0055).

A visitor sends a request through the public form; a customer asks for a sign-in link, opens it from
their mail and confirms with one click, and then sees their own tickets with the public conversation,
replies, says a request is solved and rates the resolution. Changes go through the ticket flows with no
staff actor (``actor=None``), as the customer's own, and every form carries a CSRF token.

The pages are rendered with the agent workspace's templates environment (decision 0052), carry its
headers and strict Content-Security-Policy (decision 0053), and stay out of the OpenAPI schema.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from supportdesk.audit.models import ActorType
from supportdesk.audit.recorder import SYSTEM, Actor, act_as
from supportdesk.auth.dependencies import commit, get_clock, get_database, get_settings
from supportdesk.config import Settings
from supportdesk.core.clock import Clock
from supportdesk.core.errors import NotFound, SupportdeskError, TooManyRequests
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people.models import Customer
from supportdesk.portal import forms, rules, service
from supportdesk.portal.rules import LinkState
from supportdesk.portal.throttle import PortalThrottle
from supportdesk.tickets import flows, satisfaction
from supportdesk.tickets.models import Channel, Ticket, TicketStatus
from supportdesk.tickets.schemas import CommentAuthor
from supportdesk.web import csrf
from supportdesk.web.pages import FormExpired, render, text, ticket_in_range
from supportdesk.workspaces import service as workspace_service

PORTAL_PREFIX = "/portal"
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


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _path_text(request: Request, name: str) -> str:
    # Read from the path as it came, not declared as a parameter: the rules below check its form (which
    # keeps out anything a database cannot store) and answer a malformed one as "not found", as a page
    # should, where a declared parameter would be answered by the API's validation error.
    return str(request.path_params.get(name, ""))


async def get_portal(request: Request) -> AsyncIterator[Portal]:
    """The portal of the workspace named by the path, its session scoped to that workspace; a slug no
    workspace has is not found."""
    workspace_slug = _path_text(request, "workspace_slug")
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


def _error_page(request: Request, error: SupportdeskError) -> HTMLResponse:
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
            except SupportdeskError as error:
                return _error_page(request, error)

        return page_handler


router = APIRouter(
    prefix=f"{PORTAL_PREFIX}/{{workspace_slug}}", include_in_schema=False, route_class=PortalRoute
)


# --- CSRF and rendering ---------------------------------------------------------------------------------


def _visit_value(request: Request) -> str:
    value = request.cookies.get(VISIT_COOKIE)
    return value if value and rules.plausible_secret(value) else csrf.new_login_value()


def _page(portal: Portal, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
    """A portal page with its forms' tokens: the visit token always (the request form is on most pages),
    and the session token when a customer is signed in."""
    settings = portal.settings
    values.setdefault("section", "")
    visit = _visit_value(portal.request)
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


async def _visitor_form(portal: Portal) -> FormData:
    """A form shown before signing in, once its token proves it came from this site's page."""
    form = await portal.request.form()
    value = portal.request.cookies.get(VISIT_COOKIE)
    if not csrf.token_matches(
        portal.settings.secret_key, csrf.PORTAL_VISIT_PURPOSE, value, form.get(csrf.FIELD)
    ):
        raise FormExpired()
    return form


async def _customer_form(portal: Portal) -> tuple[Customer, FormData]:
    """A signed-in customer's form, once its token proves it came from their page."""
    customer = portal.signed_in()
    form = await portal.request.form()
    if not csrf.token_matches(
        portal.settings.secret_key, csrf.PORTAL_PURPOSE, portal.secret, form.get(csrf.FIELD)
    ):
        raise FormExpired()
    return customer, form


def _too_many(response: HTMLResponse, refused: TooManyRequests) -> HTMLResponse:
    response.headers["Retry-After"] = str(refused.retry_after)
    return response


def _wait_words(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


# --- the public request form ----------------------------------------------------------------------------


@dataclass(slots=True)
class RequestDraft:
    """The request form as shown: what was typed and what went wrong."""

    name: str = ""
    email: str = ""
    subject: str = ""
    message: str = ""
    error: str | None = None
    field_errors: dict[str, str] = field(default_factory=dict)


def _form_page(portal: Portal, draft: RequestDraft, *, status_code: int = 200) -> HTMLResponse:
    return _page(portal, "portal/form.html", status_code=status_code, draft=draft, section="new")


@router.get("")
async def request_form(portal: PortalDep) -> Response:
    """The public request form of the workspace."""
    customer = portal.customer
    draft = RequestDraft(email=customer.email, name=customer.name or "") if customer else RequestDraft()
    return _form_page(portal, draft)


# The honeypot: a field people never see or reach, which form-filling programs fill in.
HONEYPOT = "website"


@router.post("/requests")
async def send_request(portal: PortalDep) -> Response:
    """Take a visitor's request in as a ticket (channel ``portal``), the customer found or created by
    address; the acknowledgement e-mail is written by the ticket flow."""
    posted = await _visitor_form(portal)
    draft = RequestDraft(
        name=text(posted, "name").strip(),
        email=text(posted, "email").strip(),
        subject=text(posted, "subject").strip(),
        message=text(posted, "message"),
    )
    throttle: PortalThrottle = portal.request.app.state.portal_throttle
    try:
        await throttle.request(portal.slug, _client(portal.request))
    except TooManyRequests as refused:
        draft.error = (
            f"We have received many requests from your network. Please try again in "
            f"{_wait_words(refused.retry_after)}."
        )
        return _too_many(_form_page(portal, draft, status_code=429), refused)
    if text(posted, HONEYPOT):
        # Answered like a request taken in, so a program learns nothing; nothing is written.
        return RedirectResponse(f"{portal.base}/received", status_code=303)
    try:
        body = forms.RequestForm.model_validate(
            {
                "name": draft.name or None,
                "email": draft.email,
                "subject": draft.subject,
                "message": draft.message,
            }
        )
    except ValidationError as error:
        draft.field_errors = forms.field_errors(error)
        draft.error = "Please check the fields marked below."
        return _form_page(portal, draft, status_code=422)
    ticket = await flows.process_new_ticket(
        portal.session,
        portal.clock,
        actor=None,
        workspace_id=portal.workspace_id,
        title=body.subject,
        description=body.message,
        customer_email=body.email,
        customer_name=body.name,
        channel=Channel.portal,
    )
    response = RedirectResponse(f"{portal.base}/received?number={ticket.number}", status_code=303)
    return await commit(portal.session, response)


@router.get("/received")
async def request_received(portal: PortalDep) -> Response:
    """The confirmation after sending a request."""
    number = portal.request.query_params.get("number", "")
    return _page(
        portal, "portal/received.html", number=number if number.isdigit() and len(number) < 12 else None
    )


# --- signing in -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class SignInDraft:
    email: str = ""
    error: str | None = None
    field_errors: dict[str, str] = field(default_factory=dict)
    link_problem: str | None = None


def _sign_in_page(portal: Portal, draft: SignInDraft, *, status_code: int = 200) -> HTMLResponse:
    return _page(
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
    posted = await _visitor_form(portal)
    draft = SignInDraft(email=text(posted, "email").strip())
    try:
        body = forms.SignInForm.model_validate({"email": draft.email})
    except ValidationError as error:
        draft.field_errors = forms.field_errors(error)
        draft.error = "Please check your e-mail address."
        return _sign_in_page(portal, draft, status_code=422)
    throttle: PortalThrottle = portal.request.app.state.portal_throttle
    try:
        await throttle.sign_in(portal.slug, body.email, _client(portal.request))
    except TooManyRequests as refused:
        draft.error = (
            f"Too many sign-in links were asked for. Please try again in {_wait_words(refused.retry_after)}."
        )
        return _too_many(_sign_in_page(portal, draft, status_code=429), refused)
    await service.request_sign_in(
        portal.session,
        portal.clock,
        portal.settings,
        workspace_id=portal.workspace_id,
        email=body.email,
        link_base=_link_base(portal),
    )
    response = _page(portal, "portal/link_sent.html", email=body.email, minutes=rules.LINK_MINUTES)
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
    secret = _path_text(portal.request, "secret")
    state = await service.link_state(portal.session, portal.clock, portal.settings, secret)
    if state != LinkState.usable:
        draft = SignInDraft(link_problem=_LINK_PROBLEMS[state])
        return _sign_in_page(portal, draft, status_code=410 if state != LinkState.unknown else 404)
    return _page(portal, "portal/link.html", secret=secret)


@router.post("/sign-in/{secret}")
async def use_link(portal: PortalDep) -> Response:
    """Sign in with the link: a portal session in an HttpOnly cookie, and the link is spent."""
    await _visitor_form(portal)
    secret = _path_text(portal.request, "secret")
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
    await _customer_form(portal)
    await service.sign_out(portal.session, portal.settings, portal.secret or "")
    response = RedirectResponse(f"{portal.base}/sign-in?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=portal.base)
    return await commit(portal.session, response)


# --- my tickets -----------------------------------------------------------------------------------------


@router.get("/tickets")
async def my_tickets(portal: PortalDep) -> Response:
    """The signed-in customer's requests and where each stands."""
    customer = portal.signed_in()
    tickets = await service.customer_tickets(portal.session, customer.id)
    return _page(
        portal, "portal/tickets.html", tickets=tickets, status_words=rules.customer_status, section="tickets"
    )


@dataclass(slots=True)
class TicketForms:
    """The ticket page's forms as shown back after a refusal."""

    reply: str = ""
    reply_error: str | None = None
    rating: str = ""
    comment: str = ""
    rating_error: str | None = None
    error: str | None = None


_NOTICES = {
    "reply": "Your reply has been sent.",
    "solved": "Thank you. Your request is marked as solved.",
    "rated": "Thank you for your feedback.",
}


async def _ticket_page(
    portal: Portal, ticket: Ticket, *, status_code: int = 200, shown: TicketForms | None = None
) -> HTMLResponse:
    rated = await satisfaction.satisfaction_of(portal.session, ticket.id)
    shown = shown or TicketForms(
        rating=rated.rating.value if rated else "", comment=(rated.comment or "") if rated else ""
    )
    return _page(
        portal,
        "portal/ticket.html",
        status_code=status_code,
        ticket=ticket,
        status_words=rules.customer_status(ticket.status),
        conversation=await service.public_conversation(portal.session, ticket),
        rated=rated,
        shown=shown,
        can_reply=rules.can_reply(ticket.status),
        can_mark_solved=rules.can_mark_solved(ticket.status),
        can_rate=rules.can_rate(ticket.status),
        notice=_NOTICES.get(portal.request.query_params.get("saved", "")),
        section="tickets",
    )


@router.get("/tickets/{ticket_id:int}")
async def ticket_page(ticket_id: int, portal: PortalDep) -> Response:
    """One of the customer's requests: what they asked, the public conversation, and what they can do."""
    customer = portal.signed_in()
    ticket = await service.customer_ticket(portal.session, customer.id, ticket_in_range(ticket_id))
    return await _ticket_page(portal, ticket)


async def _refused(portal: Portal, ticket_id: int, status_code: int, shown: TicketForms) -> HTMLResponse:
    """The ticket page again after a refused change, read afresh: nothing of the change is kept."""
    customer_id = portal.signed_in().id
    await portal.session.rollback()
    ticket = await service.customer_ticket(portal.session, customer_id, ticket_id)
    return await _ticket_page(portal, ticket, status_code=status_code, shown=shown)


@router.post("/tickets/{ticket_id:int}/reply")
async def reply(ticket_id: int, portal: PortalDep) -> Response:
    """Add the customer's reply to the conversation, as the customer (a reply to a solved request opens
    it again)."""
    customer, posted = await _customer_form(portal)
    ticket = await service.customer_ticket(portal.session, customer.id, ticket_in_range(ticket_id))
    shown = TicketForms(reply=text(posted, "message"))
    try:
        body = forms.ReplyForm.model_validate({"message": shown.reply})
    except ValidationError:
        shown.reply_error = "Write your reply first."
        return await _refused(portal, ticket.id, 422, shown)
    try:
        await flows.process_comment(
            portal.session,
            portal.clock,
            ticket,
            actor=None,
            content=body.message,
            author=CommentAuthor.customer,
        )
    except SupportdeskError as error:
        # Said above the page: the reply form may be gone (a request closed meanwhile).
        shown.error = error.detail
        return await _refused(portal, ticket.id, error.status_code, shown)
    response = RedirectResponse(f"{portal.base}/tickets/{ticket.id}?saved=reply", status_code=303)
    return await commit(portal.session, response)


@router.post("/tickets/{ticket_id:int}/solve")
async def mark_solved(ticket_id: int, portal: PortalDep) -> Response:
    """The customer says their request is solved: the ticket is resolved through the update flow."""
    customer, _posted = await _customer_form(portal)
    ticket = await service.customer_ticket(portal.session, customer.id, ticket_in_range(ticket_id))
    if rules.can_mark_solved(ticket.status):
        try:
            await flows.process_ticket_update(
                portal.session, portal.clock, ticket, {"status": TicketStatus.resolved}, actor=None
            )
        except SupportdeskError as error:
            return await _refused(portal, ticket.id, error.status_code, TicketForms(error=error.detail))
    response = RedirectResponse(f"{portal.base}/tickets/{ticket.id}?saved=solved", status_code=303)
    return await commit(portal.session, response)


@router.post("/tickets/{ticket_id:int}/rating")
async def rate(ticket_id: int, portal: PortalDep) -> Response:
    """Record, or change, the customer's rating of the resolution."""
    customer, posted = await _customer_form(portal)
    ticket = await service.customer_ticket(portal.session, customer.id, ticket_in_range(ticket_id))
    shown = TicketForms(rating=text(posted, "rating"), comment=text(posted, "comment"))
    try:
        body = forms.RatingForm.model_validate({"rating": shown.rating, "comment": shown.comment})
    except ValidationError as error:
        shown.rating_error = " ".join(dict.fromkeys(forms.field_errors(error).values()))
        return await _refused(portal, ticket.id, 422, shown)
    try:
        await satisfaction.rate(
            portal.session,
            portal.clock,
            ticket,
            customer_id=customer.id,
            rating=body.rating,
            comment=body.comment,
        )
    except SupportdeskError as error:
        shown.error = error.detail
        return await _refused(portal, ticket.id, error.status_code, shown)
    response = RedirectResponse(f"{portal.base}/tickets/{ticket.id}?saved=rated", status_code=303)
    return await commit(portal.session, response)


def install_portal(app: FastAPI) -> None:
    """Serve the portal's pages, with the templates and static files ``install_web`` sets up."""
    app.include_router(router)
