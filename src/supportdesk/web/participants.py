"""The ticket page's participants form: copying someone (a colleague of the customer, a supplier) on the
ticket's public replies, through the participants service the API uses."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from supportdesk.auth.dependencies import Context, get_context
from supportdesk.core.errors import InvalidInput, SupportdeskError
from supportdesk.core.permissions import Action
from supportdesk.tickets import participants
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.schemas import ParticipantCreate
from supportdesk.web.pages import WEB_PREFIX, PageRoute, checked_form, text, ticket_in_range
from supportdesk.web.ticket_page import ParticipantDraft, refused

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
