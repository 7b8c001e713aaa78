"""The customer portal's pages under ``/portal/{workspace_slug}`` (decision 0055): the public request
form, and a signed-in customer's own tickets; ``install_portal`` adds the sign-in pages (``sign_in``).

A visitor sends a request through the public form; a customer, signed in by a mailed link, sees their
own tickets with the public conversation, replies, says a request is solved and rates the resolution.
Changes go through the ticket flows with no staff actor (``actor=None``), as the customer's own, and
every form carries a CSRF token.

The pages are rendered with the agent workspace's templates environment (decision 0052), carry its
headers and strict Content-Security-Policy (decision 0053), and stay out of the OpenAPI schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from supportdesk.auth.dependencies import commit
from supportdesk.core.errors import SupportdeskError, TooManyRequests
from supportdesk.core.storage import safe_filename
from supportdesk.portal import files, forms, rules, service, sign_in
from supportdesk.portal.pages import (
    PORTAL_PREFIX,
    Portal,
    PortalDep,
    client_address,
    customer_form,
    error_page,
    page,
    portal_router,
    too_many,
    visitor_form,
    wait_words,
)
from supportdesk.portal.throttle import PortalThrottle
from supportdesk.tickets import attachments, flows, satisfaction
from supportdesk.tickets.models import Channel, Ticket, TicketStatus
from supportdesk.tickets.schemas import CommentAuthor
from supportdesk.web.pages import answer_unknown_paths_with, text, ticket_in_range

router = portal_router()


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
    return page(
        portal,
        "portal/form.html",
        status_code=status_code,
        draft=draft,
        section="new",
        upload_limits=attachments.AttachmentRules.of(portal.settings),
    )


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
    posted = await visitor_form(portal)
    draft = RequestDraft(
        name=text(posted, "name").strip(),
        email=text(posted, "email").strip(),
        subject=text(posted, "subject").strip(),
        message=text(posted, "message"),
    )
    throttle: PortalThrottle = portal.request.app.state.portal_throttle
    try:
        await throttle.request(portal.slug, client_address(portal.request))
    except TooManyRequests as refused:
        draft.error = (
            f"We have received many requests from your network. Please try again in "
            f"{wait_words(refused.retry_after)}."
        )
        return too_many(_form_page(portal, draft, status_code=429), refused)
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
    try:
        uploads = await files.uploads_of(portal, posted)
    except SupportdeskError as error:
        draft.field_errors = {"files": error.detail}
        draft.error = "Please check the fields marked below."
        return _form_page(portal, draft, status_code=error.status_code)
    # The files go into the store before the ticket is written: opening one holds the workspace's row
    # until the commit, and other tickets of the workspace wait for it meanwhile.
    kept = await attachments.keep(portal.request.app.state.file_store, uploads)
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
    if kept:
        # A file belongs to a comment: the request's files come as the customer's first message, as
        # those of an e-mail that opens a ticket do.
        names = ", ".join(safe_filename(upload.filename) for upload in uploads)
        comment = await flows.process_comment(
            portal.session,
            portal.clock,
            ticket,
            actor=None,
            content=f"Attached to the request: {names}",
            author=CommentAuthor.customer,
        )
        attachments.record(portal.session, portal.clock, comment, kept)
    response = RedirectResponse(f"{portal.base}/received?number={ticket.number}", status_code=303)
    return await commit(portal.session, response)


@router.get("/received")
async def request_received(portal: PortalDep) -> Response:
    """The confirmation after sending a request."""
    number = portal.request.query_params.get("number", "")
    return page(
        portal, "portal/received.html", number=number if number.isdigit() and len(number) < 12 else None
    )


# --- my tickets -----------------------------------------------------------------------------------------


@router.get("/tickets")
async def my_tickets(portal: PortalDep) -> Response:
    """The signed-in customer's requests and where each stands."""
    customer = portal.signed_in()
    tickets = await service.customer_tickets(portal.session, customer.id)
    return page(
        portal, "portal/tickets.html", tickets=tickets, status_words=rules.customer_status, section="tickets"
    )


@dataclass(slots=True)
class TicketForms:
    """The ticket page's forms as shown back after a refusal."""

    reply: str = ""
    reply_error: str | None = None
    # Why the reply's files were refused; the files are chosen again (a page cannot fill a file field).
    files_error: str | None = None
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
    return page(
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
        upload_limits=attachments.AttachmentRules.of(portal.settings),
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
    customer, posted = await customer_form(portal)
    ticket = await service.customer_ticket(portal.session, customer.id, ticket_in_range(ticket_id))
    shown = TicketForms(reply=text(posted, "message"))
    try:
        body = forms.ReplyForm.model_validate({"message": shown.reply})
    except ValidationError:
        shown.reply_error = "Write your reply first."
        return await _refused(portal, ticket.id, 422, shown)
    try:
        uploads = await files.uploads_of(portal, posted)
    except SupportdeskError as error:
        shown.files_error = error.detail
        return await _refused(portal, ticket.id, error.status_code, shown)
    try:
        comment = await flows.process_comment(
            portal.session,
            portal.clock,
            ticket,
            actor=None,
            content=body.message,
            author=CommentAuthor.customer,
        )
        if uploads:
            await attachments.attach(
                portal.session, portal.clock, portal.request.app.state.file_store, comment, uploads
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
    customer, _posted = await customer_form(portal)
    ticket = await service.customer_ticket(portal.session, customer.id, ticket_in_range(ticket_id))
    if rules.can_mark_solved(ticket.status):
        try:
            # The customer answers "how did we do?" on the page they are on, so no e-mail asks it again.
            await flows.process_ticket_update(
                portal.session,
                portal.clock,
                ticket,
                {"status": TicketStatus.resolved},
                actor=None,
                by_customer=True,
            )
        except SupportdeskError as error:
            return await _refused(portal, ticket.id, error.status_code, TicketForms(error=error.detail))
    response = RedirectResponse(f"{portal.base}/tickets/{ticket.id}?saved=solved", status_code=303)
    return await commit(portal.session, response)


@router.post("/tickets/{ticket_id:int}/rating")
async def rate(ticket_id: int, portal: PortalDep) -> Response:
    """Record, or change, the customer's rating of the resolution."""
    customer, posted = await customer_form(portal)
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
    app.include_router(sign_in.router)
    app.include_router(router)
    app.include_router(files.router)
    answer_unknown_paths_with(app, PORTAL_PREFIX, error_page)
