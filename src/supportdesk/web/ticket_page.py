"""The ticket page as it is rendered, first and again after a refused form, for every route that posts
to it: the reply composer, the properties form and the participants form each come back with what was
typed and what went wrong, while the rest of the page is read afresh."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from supportdesk.auth.dependencies import Context
from supportdesk.core.errors import SupportdeskError
from supportdesk.tickets import attachments, rules
from supportdesk.tickets.models import Priority, TicketStatus
from supportdesk.web import views
from supportdesk.web.pages import chrome, render

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
    """The status, priority and assignee form as shown, when it is shown back after a refusal."""

    status: str | None = None
    priority: str | None = None
    assignee: str | None = None
    error: str | None = None
    stale: bool = False


@dataclass(slots=True)
class ParticipantDraft:
    """The form that copies someone on the ticket's replies, as shown back after a refusal."""

    email: str = ""
    name: str = ""
    error: str | None = None


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
            statuses=statuses,
            priorities=list(Priority),
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
