"""The ticket page as it is rendered, first and again after a refused form, for every route that posts
to it: the reply composer, the properties form and the participants form each come back with what was
typed and what went wrong, while the rest of the page is read afresh.

The participants form's route is here too: copying someone (a colleague of the customer, a supplier)
on the ticket's public replies, through the participants service the API uses."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from supportdesk.auth.dependencies import Context, get_context
from supportdesk.core.errors import InvalidInput, SupportdeskError
from supportdesk.core.permissions import Action
from supportdesk.tickets import attachments, participants, rules
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Priority, TicketStatus
from supportdesk.tickets.schemas import ParticipantCreate
from supportdesk.web import views
from supportdesk.web.pages import WEB_PREFIX, PageRoute, checked_form, chrome, render, text, ticket_in_range
from supportdesk.workspaces import service as workspace_service

# What the page says after a form was saved, by the ``saved`` query parameter the form leads back with.
SAVED_NOTICES = {
    "macro": "Macro applied.",
    "update": "Changes saved.",
    "reply": "Reply sent.",
    "note": "Internal note added.",
    "participant": "Participant added.",
    "nothing": "Nothing was changed.",
}


@dataclass(slots=True)
class Composer:
    """The reply form as shown: what was typed and what went wrong with it."""

    content: str = ""
    visibility: str = "public"
    error: str | None = None
    # Why the chosen files were refused (a browser cannot be given files back: they are chosen again).
    files_error: str | None = None
    # Who wrote on the ticket since the page was shown, when that stopped the reply.
    missed: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Changes:
    """The properties form (status, priority, assignee, category and tags) as shown, when it is shown
    back after a refusal: the fields the person changed, as typed."""

    status: str | None = None
    priority: str | None = None
    assignee: str | None = None
    category: str | None = None
    tags: str | None = None
    error: str | None = None
    stale: bool = False


@dataclass(slots=True)
class ParticipantDraft:
    """The form that copies someone on the ticket's replies, as shown back after a refusal."""

    email: str = ""
    name: str = ""
    error: str | None = None


def shown_tags(tags: Sequence[str]) -> str:
    """A ticket's tags as the properties form shows them: separated by commas."""
    return ", ".join(tags)


def typed_tags(typed: str) -> list[str]:
    """The tags typed into the properties form: separated by commas or spaces, each once, in order."""
    return list(dict.fromkeys(tag for tag in re.split(r"[,\s]+", typed) if tag))


async def ticket_response(
    request: Request,
    context: Context,
    ticket_id: int,
    *,
    status_code: int = 200,
    composer: Composer | None = None,
    changes: Changes | None = None,
    participant: ParticipantDraft | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    """The ticket page, with each form as given (empty when not)."""
    now = context.clock.now()
    shown = await views.ticket_page(context.session, ticket_id, now)
    ticket = shown.ticket
    changes = changes or Changes()
    statuses = [ticket.status, *sorted(rules.TRANSITIONS[ticket.status], key=list(TicketStatus).index)]
    workspace = await workspace_service.get_workspace(context.session, context.workspace_id)
    # A category the workspace has since dropped stays on its tickets, so it stays choosable there.
    categories = list(workspace.categories)
    if ticket.category not in categories:
        categories.insert(0, ticket.category)
    return render(
        request,
        "ticket.html",
        status_code=status_code,
        **await chrome(
            request,
            context,
            ticket=ticket,
            page=shown,
            composer=composer or Composer(),
            changes=changes,
            participant=participant or ParticipantDraft(),
            chosen_status=changes.status or ticket.status.value,
            chosen_priority=changes.priority or ticket.priority.value,
            chosen_assignee=(
                changes.assignee if changes.assignee is not None else str(ticket.assigned_agent_id or "")
            ),
            chosen_category=changes.category or ticket.category,
            chosen_tags=changes.tags if changes.tags is not None else shown_tags(ticket.tags),
            statuses=statuses,
            priorities=list(Priority),
            categories=categories,
            assignees=views.assignable(shown.staff),
            upload_limits=attachments.AttachmentRules.of(context.settings),
            notice=notice,
            now=now,
        ),
    )


async def refused(
    request: Request, context: Context, ticket_id: int, error: SupportdeskError, **forms: Any
) -> HTMLResponse:
    """The ticket page again after a refused change, read afresh: nothing of the change is kept."""
    await context.session.rollback()
    return await ticket_response(request, context, ticket_id, status_code=error.status_code, **forms)


router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=PageRoute)
SignedIn = Annotated[Context, Depends(get_context)]


@router.post("/tickets/{ticket_id:int}/participants")
async def add_participant(ticket_id: int, request: Request, context: SignedIn) -> Response:
    """Copy an address on the ticket's public replies from now on; a refusal (an address that is not
    one, the customer's own, one copied already, a closed ticket) is shown beside the form."""
    ticket_id = ticket_in_range(ticket_id)
    form = await checked_form(request, context.settings)
    # The API asks the same permission: whoever may reply may say who else hears the replies.
    context.require(Action.comment_ticket)
    draft = ParticipantDraft(email=text(form, "email").strip(), name=text(form, "name").strip())
    try:
        body = ParticipantCreate.model_validate({"email": draft.email, "name": draft.name or None})
    except ValidationError as invalid:
        fields = {str(problem["loc"][0]) for problem in invalid.errors() if problem["loc"]}
        draft.error = (
            "Keep the name under 200 characters."
            if fields == {"name"}
            else "Enter an e-mail address, like name@example.com."
        )
        error = InvalidInput("email", draft.error)
        return await refused(request, context, ticket_id, error, participant=draft)
    ticket = await ticket_service.get_ticket(context.session, ticket_id)
    try:
        await participants.add_participant(
            context.session,
            context.clock,
            ticket,
            email=body.email,
            name=body.name,
            added_by_user_id=context.user.id,
        )
    except SupportdeskError as error:
        draft.error = error.detail
        return await refused(request, context, ticket_id, error, participant=draft)
    target = f"{WEB_PREFIX}/tickets/{ticket_id}?saved=participant#participants-title"
    return await context.commit(RedirectResponse(target, status_code=303))
