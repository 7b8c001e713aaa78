"""The agent workspace's pages: the queues with their bulk changes, and a ticket with its
conversation (rendered by ``ticket_page``); ``install_web`` adds the sign-in pages (``sign_in``), the
inbox (``inbox``), the live parts (``live``) and the ticket's participants form (``ticket_page``).

Pages are rendered on the server (decision 0052) and stay out of the OpenAPI schema. They act through
the same dependencies, flows and services as the JSON API: ``get_context`` authenticates (the session
cookie the API's login sets), scopes the session to the caller's workspace and attributes changes to
them; a reply goes through ``tickets.flows.process_comment`` (its files through the API upload's
checks and ``tickets.attachments``), a change of status, priority or assignee through
``tickets.flows.process_ticket_update`` (with the version the page showed for the stale-edit check),
and a change of many tickets at once through ``tickets.flows.process_bulk_update``.
Every form carries a CSRF token (decision 0053).

Errors a page cannot answer itself become an HTML page with the error's status: an id of another
workspace is "not found", exactly as in the API. A form that breaks a rule is shown again with the
message beside the field and what was typed still in it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.staticfiles import StaticFiles

from supportdesk.auth.dependencies import (
    Context,
    get_context,
)
from supportdesk.automation import macros as macro_service
from supportdesk.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    SupportdeskError,
)
from supportdesk.core.permissions import Action
from supportdesk.core.schemas import MAX_ID
from supportdesk.people import service as people_service
from supportdesk.realtime.stream import StreamTiming
from supportdesk.tickets import attachments, flows
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Channel, Priority, TicketStatus
from supportdesk.tickets.schemas import CommentCreate, TicketUpdate
from supportdesk.web import (
    admin,
    admin_assignment,
    admin_automation,
    admin_calendars,
    admin_deliveries,
    admin_email,
    admin_mailboxes,
    admin_sla,
    admin_webhooks,
    bulk,
    inbox,
    live,
    sign_in,
    views,
)
from supportdesk.web.pages import (
    WEB_PREFIX,
    PageRoute,
    answer_unknown_paths_with,
    checked_form,
    chosen_files,
    chrome,
    error_page,
    render,
    text,
    ticket_in_range,
)
from supportdesk.web.templating import STATIC_DIRECTORY, STATIC_PATH, Pages
from supportdesk.web.ticket_page import (
    SAVED_NOTICES,
    Changes,
    Composer,
    refused,
    ticket_response,
    typed_tags,
)
from supportdesk.web.ticket_page import router as participants_router
from supportdesk.workspaces import service as workspace_service

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=PageRoute)
root_router = APIRouter(include_in_schema=False)
SignedIn = Annotated[Context, Depends(get_context)]


@root_router.get("/")
async def root() -> RedirectResponse:
    """The workspace is the site's front page."""
    return RedirectResponse(WEB_PREFIX, status_code=307)


# --- queues ---------------------------------------------------------------------------------------------


@router.get("")
async def queues(request: Request, context: SignedIn) -> Response:
    """A queue of tickets with the API's filters, an order, keyset pages and a search box."""
    listing = views.parse_list_request(request.query_params)
    session, now = context.session, context.clock.now()
    filters = views.list_filters(listing, context.user.id, now)
    found = None
    if listing.search:
        found = await views.search(session, listing.search)
        if found.ticket_id is not None:
            return RedirectResponse(f"{WEB_PREFIX}/tickets/{found.ticket_id}", status_code=303)
        if found.customer_id is not None:
            filters = replace(filters, customer_id=found.customer_id)
        if found.title is not None:
            filters = replace(filters, text=found.title)
    settings = context.settings
    page_size = min(settings.page_size_default, settings.page_size_max)
    notices = bulk.bulk_notices(request.query_params)
    if listing.ignored:
        notices.append(f"Ignored what was not understood in: {', '.join(listing.ignored)}.")
    try:
        page = (
            views.TicketList([], None)
            if found is not None and found.nothing
            else await views.ticket_list(
                session,
                workspace_id=context.workspace_id,
                filters=filters,
                sort=listing.sort,
                limit=page_size,
                cursor=listing.cursor,
                now=now,
            )
        )
    except InvalidInput:
        # A page link from another order or a damaged one: start the list from its first page.
        notices.append("That page link no longer fits this list; here is its first page.")
        listing.cursor = None
        page = await views.ticket_list(
            session,
            workspace_id=context.workspace_id,
            filters=filters,
            sort=listing.sort,
            limit=page_size,
            cursor=None,
            now=now,
        )
    staff = await people_service.list_users(session)
    workspace = await workspace_service.get_workspace(session, context.workspace_id)
    return render(
        request,
        "queues.html",
        **await chrome(
            request,
            context,
            listing=listing,
            queue=views.QUEUES_BY_KEY[listing.queue],
            queues=views.QUEUES,
            counts=await views.queue_counts(session, context.user.id, now),
            rows=page.rows,
            next_cursor=page.next_cursor,
            names=views.staff_names(staff),
            staff=views.assignable(staff),
            categories=workspace.categories,
            statuses=list(TicketStatus),
            priorities=list(Priority),
            channels=list(Channel),
            sorts=views.SORTS,
            search_note=found.note if found is not None else None,
            notices=notices,
            next_due=views.next_due,
            query=lambda **changes: urlencode(listing.query(**changes)),
            now=now,
        ),
    )


# --- bulk changes in a queue ---------------------------------------------------------------------------


# Tickets one bulk change takes at most: two pages of a queue.
@router.post("/bulk")
async def bulk_change(request: Request, context: SignedIn) -> Response:
    """One change (status, priority, assignee, or a tag added) to the tickets chosen in a queue,
    through the bulk flow; back to the queue, which says what was changed and what was refused."""
    form = await checked_form(request, context.settings)
    context.require(Action.update_ticket)
    back = text(form, "back")
    ids = bulk.chosen_ids(form)
    if not ids:
        return RedirectResponse(bulk.bulk_return(back, bulk="none-chosen"), status_code=303)
    assignee = text(form, "bulk_assignee")
    values = _update_values(
        Changes(
            status=text(form, "bulk_status") or None,
            priority=text(form, "bulk_priority") or None,
            # Empty leaves the assignee alone; "none" takes the tickets from whoever has them.
            assignee=None if not assignee else "" if assignee == "none" else assignee,
        )
    )
    tag = text(form, "bulk_tag").strip()
    if not values and not tag:
        return RedirectResponse(bulk.bulk_return(back, bulk="no-change"), status_code=303)
    try:
        body = TicketUpdate.model_validate({**values, **({"tags": [tag]} if tag else {})})
    except ValidationError:
        return RedirectResponse(bulk.bulk_return(back, bulk="invalid"), status_code=303)
    changes = body.model_dump(exclude_unset=True)
    add_tags = changes.pop("tags", None) or []
    tickets = []
    for ticket_id in ids:
        # Another workspace's id, or a ticket deleted meanwhile, is not found like any other.
        with contextlib.suppress(NotFound):
            tickets.append(await ticket_service.get_ticket(context.session, ticket_id))
    outcomes = await flows.process_bulk_update(
        context.session, context.clock, tickets, changes, actor=context.user, add_tags=add_tags
    )
    target = bulk.bulk_return(
        back,
        changed=str(sum(outcome.changed for outcome in outcomes)),
        same=str(sum(not outcome.changed and outcome.refusal is None for outcome in outcomes)),
        missing=str(len(ids) - len(tickets)),
        refused=",".join(
            f"{outcome.number}.{outcome.refusal.code}" for outcome in outcomes if outcome.refusal is not None
        ),
    )
    return await context.commit(RedirectResponse(target, status_code=303))


# --- a ticket -------------------------------------------------------------------------------------------


@router.get("/tickets/{ticket_id:int}")
async def ticket_page(ticket_id: int, request: Request, context: SignedIn) -> Response:
    """A ticket: its state and SLA, the conversation, the reply composer and the properties form."""
    notice = SAVED_NOTICES.get(request.query_params.get("saved", ""))
    return await ticket_response(request, context, ticket_in_range(ticket_id), notice=notice)


@router.post("/tickets/{ticket_id:int}/comments")
async def add_comment(ticket_id: int, request: Request, context: SignedIn) -> Response:
    """A public reply or an internal note, through the comment flow the API uses."""
    ticket_id = ticket_in_range(ticket_id)
    form = await checked_form(request, context.settings)
    context.require(Action.comment_ticket)
    composer = Composer(
        content=text(form, "content"),
        visibility="note" if text(form, "visibility") == "note" else "public",
    )
    try:
        body = CommentCreate.model_validate(
            {"content": composer.content, "is_public": composer.visibility == "public"}
        )
    except ValidationError:
        composer.error = (
            "Write a message before sending it."
            if not composer.content.strip()
            else "This message cannot be sent: it is over 100,000 characters long or holds characters "
            "that cannot be stored."
        )
        error = InvalidInput("content", composer.error)
        return await refused(request, context, ticket_id, error, composer=composer)
    ticket = await ticket_service.get_ticket(context.session, ticket_id)
    seen = text(form, "seen")
    if seen.isdigit() and len(seen) <= 18:
        composer.missed = await views.written_since(context.session, ticket, int(seen), context.user.id)
        if composer.missed:
            # Sent once more from the page shown now (which names the newest comment), it is posted.
            conflict = Conflict(f"{_names(composer.missed)} wrote on this ticket while you were writing.")
            composer.error = conflict.detail
            return await refused(request, context, ticket_id, conflict, composer=composer)
    try:
        # The API's upload rules and messages: too many files, one too large, one the scanner refused.
        uploads = await attachments.read_uploads(
            chosen_files(form), attachments.AttachmentRules.of(context.settings)
        )
    except SupportdeskError as error:
        composer.files_error = error.detail
        return await refused(request, context, ticket_id, error, composer=composer)
    try:
        comment = await flows.process_comment(
            context.session,
            context.clock,
            ticket,
            actor=context.user,
            content=body.content,
            is_public=body.is_public,
        )
    except (InvalidInput, ticket_service.TicketClosed) as error:
        composer.error = error.detail
        return await refused(request, context, ticket_id, error, composer=composer)
    if uploads:
        await attachments.attach(
            context.session, context.clock, request.app.state.file_store, comment, uploads
        )
    saved = "reply" if body.is_public else "note"
    target = f"{WEB_PREFIX}/tickets/{ticket_id}?saved={saved}#comment-{comment.id}"
    return await context.commit(RedirectResponse(target, status_code=303))


def _names(names: list[str]) -> str:
    """Names joined as a sentence would: "Sam", "Sam and Alex", "Sam, Alex and the customer"."""
    joined = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    return joined[:1].upper() + joined[1:]


def _changes_from(form: FormData) -> Changes:
    """What the properties form changes: each field whose value differs from the one the page showed
    (sent beside it as ``shown_<field>``). Only those are sent to the update, and only those are kept
    when the form is shown again, so a refused form never carries back values nobody chose."""
    changes = Changes()
    for name in ("status", "priority", "assignee", "category"):
        if name in form and text(form, name) != text(form, f"shown_{name}"):
            setattr(changes, name, text(form, name))
    # Tags differ when the set of them does, not when only the spacing or the order was retyped.
    typed, shown = ({tag.lower() for tag in typed_tags(text(form, name))} for name in ("tags", "shown_tags"))
    if "tags" in form and typed != shown:
        changes.tags = text(form, "tags")
    return changes


def _update_values(changes: Changes) -> dict[str, Any]:
    """The changes as the update flow takes them (the API's PATCH body)."""
    values: dict[str, Any] = {}
    if changes.status is not None:
        values["status"] = changes.status
    if changes.priority is not None:
        values["priority"] = changes.priority
    if changes.category is not None:
        values["category"] = changes.category
    if changes.tags is not None:
        values["tags"] = typed_tags(changes.tags)
    if changes.assignee is not None:
        # Empty is "nobody"; anything but an id is left as it came, for the update's schema to refuse.
        assignee = changes.assignee
        is_id = assignee.isdigit() and len(assignee) <= 16
        values["assigned_agent_id"] = None if not assignee else int(assignee) if is_id else assignee
    return values


@router.post("/tickets/{ticket_id:int}/update")
async def update_ticket(ticket_id: int, request: Request, context: SignedIn) -> Response:
    """Change status, priority, assignee, category and tags through the update flow the API uses,
    refused when the ticket changed since the page showed it (the version it showed, as the API's
    If-Match)."""
    ticket_id = ticket_in_range(ticket_id)
    form = await checked_form(request, context.settings)
    context.require(Action.update_ticket)
    changes = _changes_from(form)
    values = _update_values(changes)
    if not values:
        return RedirectResponse(f"{WEB_PREFIX}/tickets/{ticket_id}?saved=nothing", status_code=303)
    version_text = text(form, "version")
    if not version_text.isdigit() or len(version_text) > 18:
        changes.error = "The form was missing the ticket's version; reload the page and try again."
        return await refused(
            request, context, ticket_id, InvalidInput("version", changes.error), changes=changes
        )
    try:
        body = TicketUpdate.model_validate(values)
    except ValidationError as error:
        names = sorted({str(problem["loc"][0]) for problem in error.errors() if problem["loc"]})
        changes.error = (
            f"Choose a valid value for: {', '.join(_FIELD_NAMES.get(name, name) for name in names)}."
        )
        return await refused(
            request, context, ticket_id, InvalidInput("form", changes.error), changes=changes
        )
    ticket = await ticket_service.get_ticket(context.session, ticket_id)
    try:
        await flows.process_ticket_update(
            context.session,
            context.clock,
            ticket,
            body.model_dump(exclude_unset=True),
            actor=context.user,
            expected_version=int(version_text),
        )
    except PreconditionFailed as error:
        changes.stale = True
        return await refused(request, context, ticket_id, error, changes=changes)
    except SupportdeskError as error:
        # A refusal of the update's rules: a transition the lifecycle does not allow, a ticket that
        # needs an agent, an agent who cannot take tickets, a role that may not reassign.
        changes.error = error.detail
        return await refused(request, context, ticket_id, error, changes=changes)
    target = f"{WEB_PREFIX}/tickets/{ticket_id}?saved=update"
    return await context.commit(RedirectResponse(target, status_code=303))


@router.post("/tickets/{ticket_id:int}/macro")
async def apply_macro(ticket_id: int, request: Request, context: SignedIn) -> Response:
    """Apply one of the workspace's macros (its reply and its actions) through the macro flow the API
    uses, refused when the ticket changed since the page showed it."""
    ticket_id = ticket_in_range(ticket_id)
    form = await checked_form(request, context.settings)
    context.require(Action.apply_macro)
    chosen, version_text = text(form, "macro"), text(form, "version")
    if not chosen.isdigit() or len(chosen) > 18 or not 0 < int(chosen) <= MAX_ID:
        error = InvalidInput("macro", "Choose a macro to apply.")
        return await refused(request, context, ticket_id, error, changes=Changes(error=error.detail))
    # Another workspace's macro is not found, as in the API.
    macro = await macro_service.get_macro(context.session, int(chosen))
    ticket = await ticket_service.get_ticket(context.session, ticket_id)
    expected = int(version_text) if version_text.isdigit() and len(version_text) <= 18 else None
    try:
        await flows.process_macro(
            context.session, context.clock, ticket, macro, actor=context.user, expected_version=expected
        )
    except PreconditionFailed as error:
        return await refused(request, context, ticket_id, error, changes=Changes(stale=True))
    except SupportdeskError as error:
        return await refused(request, context, ticket_id, error, changes=Changes(error=error.detail))
    target = f"{WEB_PREFIX}/tickets/{ticket_id}?saved=macro"
    return await context.commit(RedirectResponse(target, status_code=303))


_FIELD_NAMES: Mapping[str, str] = {
    "status": "status",
    "priority": "priority",
    "assigned_agent_id": "assignee",
    "category": "category",
    "tags": "tags (letters, digits and . : - _, at most 20)",
}


def install_web(app: FastAPI) -> None:
    """Serve the workspace's pages and their static files, and lead the site's front page to them."""
    app.state.pages = Pages()
    app.state.stream_timing = StreamTiming()
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIRECTORY), name="web-static")
    app.include_router(root_router)
    app.include_router(sign_in.router)
    app.include_router(router)
    app.include_router(participants_router)
    app.include_router(live.router)
    app.include_router(inbox.router)
    app.include_router(admin.router)
    app.include_router(admin_sla.router)
    app.include_router(admin_calendars.router)
    app.include_router(admin_assignment.router)
    app.include_router(admin_automation.router)
    app.include_router(admin_webhooks.router)
    app.include_router(admin_mailboxes.router)
    app.include_router(admin_email.router)
    app.include_router(admin_deliveries.router)
    answer_unknown_paths_with(app, WEB_PREFIX, error_page)
