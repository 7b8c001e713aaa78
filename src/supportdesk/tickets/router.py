"""/api/v1/tickets"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile

from supportdesk.audit import service as audit_service
from supportdesk.audit.schemas import AuditEventOut
from supportdesk.auth.dependencies import Context, allowed
from supportdesk.config import Settings
from supportdesk.core.errors import InvalidInput
from supportdesk.core.http import (
    IfMatch,
    created_headers,
    model_response,
    parse_if_match,
    versioned_response,
)
from supportdesk.core.pagination import Page
from supportdesk.core.permissions import Action
from supportdesk.core.schemas import (
    MAX_ID,
    Category,
    ObjectId,
    QueryId,
    QueryText,
    Tag,
    Text,
    Timestamp,
)
from supportdesk.idempotency.service import IdempotencyKey, idempotency_for
from supportdesk.sla import service as sla_service
from supportdesk.tickets import attachments, flows, participants, repository, satisfaction, service
from supportdesk.tickets.models import Attachment, Channel, Comment, Priority, Ticket, TicketStatus
from supportdesk.tickets.schemas import (
    AttachmentOut,
    CommentAuthor,
    CommentCreate,
    CommentOut,
    CommentWithFilesOut,
    ParticipantCreate,
    ParticipantOut,
    SatisfactionOut,
    TicketCreate,
    TicketSort,
    TicketUpdate,
)
from supportdesk.tickets.views import TicketOut, ticket_out, ticket_view

router = APIRouter(prefix="/tickets", tags=["tickets"])

Viewing = Annotated[Context, Depends(allowed(Action.view_ticket))]


def _parse_assignee(value: str | None, context: Context) -> tuple[int | None, bool]:
    if value is None:
        return None, False
    if value == "none":
        return None, True
    if value == "me":
        return context.user.id, False
    if value.isascii() and value.isdigit() and 0 < int(value[:20]) <= MAX_ID:
        return int(value), False
    raise InvalidInput("assignee", 'Use a user id, "me" or "none".', reason="invalid-assignee")


@router.post("", status_code=201, response_model=TicketOut, summary="Create a ticket")
async def create_ticket(
    body: TicketCreate,
    context: Annotated[Context, Depends(allowed(Action.create_ticket))],
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    idempotency = await idempotency_for(request, context, idempotency_key)
    if (replay := await idempotency.replay()) is not None:
        return replay
    if body.assigned_agent_id is not None:
        context.require(Action.reassign_ticket)
    ticket = await flows.process_new_ticket(
        context.session,
        context.clock,
        actor=context.user,
        workspace_id=context.workspace_id,
        **body.model_dump(),
    )
    view = await ticket_view(context.session, ticket, context.clock.now())
    headers = created_headers(ticket.version, f"/api/v1/tickets/{ticket.id}")
    return await context.commit(model_response(view, status_code=201, headers=headers), idempotency)


@router.get("", response_model=Page[TicketOut], summary="List tickets")
async def list_tickets(
    context: Viewing,
    status: Annotated[list[TicketStatus], Query()] = [],  # noqa: B006  (FastAPI reads, never mutates)
    priority: Annotated[list[Priority], Query()] = [],  # noqa: B006
    assignee: Annotated[
        Annotated[str, Text(pattern="^(me|none|[1-9][0-9]{0,15})$")] | None,
        Query(description='A user id, "me" or "none"'),
    ] = None,
    customer_id: QueryId | None = None,
    category: Category | None = None,
    tag: Tag | None = None,
    urgent: bool | None = None,
    escalated: bool | None = None,
    channel: Channel | None = None,
    sla: Annotated[
        sla_service.SlaFilter | None,
        Query(description="Tickets whose running SLA targets are breached or at risk"),
    ] = None,
    created_after: Timestamp | None = None,
    created_before: Timestamp | None = None,
    sort: TicketSort = TicketSort.created_at_desc,
    q: Annotated[
        str | None,
        Text(strip_whitespace=True, min_length=1, max_length=254),
        Query(
            description='A ticket number ("42" or "#42"), a customer\'s e-mail address, or words of the title'
        ),
    ] = None,
    cursor: QueryText | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    settings = context.settings
    page_size = min(limit or settings.page_size_default, settings.page_size_max)
    assignee_id, unassigned = _parse_assignee(assignee, context)
    now = context.clock.now()
    filters = repository.TicketFilters(
        status=status,
        priority=priority,
        assignee_id=assignee_id,
        unassigned=unassigned,
        customer_id=customer_id,
        category=category,
        tag=tag,
        urgent=urgent,
        escalated=escalated,
        channel=channel,
        created_after=created_after,
        created_before=created_before,
        sla_condition=sla_service.sla_condition(sla, now) if sla is not None else None,
        text=q,
    )
    page = await repository.list_tickets(
        context.session, filters=filters, sort=sort, limit=page_size, cursor=cursor
    )
    setup = await sla_service.load_setup(context.session, context.workspace_id)
    items = [ticket_out(ticket, setup, now) for ticket in page.items]
    return model_response(Page[TicketOut](items=items, next_cursor=page.next_cursor, limit=page_size))


@router.get("/{ticket_id:int}", response_model=TicketOut, summary="Get a ticket")
async def get_ticket(ticket_id: ObjectId, context: Viewing) -> Response:
    ticket = await service.read_ticket(context.session, ticket_id)
    setup = await sla_service.load_setup(context.session, context.workspace_id)
    return versioned_response(ticket_out(ticket, setup, context.clock.now()), ticket.version)


@router.patch("/{ticket_id:int}", response_model=TicketOut, summary="Update a ticket")
async def update_ticket(
    ticket_id: ObjectId,
    body: TicketUpdate,
    context: Annotated[Context, Depends(allowed(Action.update_ticket))],
    if_match: IfMatch = None,
) -> Response:
    expected = parse_if_match(if_match)
    ticket = await service.get_ticket(context.session, ticket_id)
    ticket = await flows.process_ticket_update(
        context.session,
        context.clock,
        ticket,
        body.model_dump(exclude_unset=True),
        actor=context.user,
        expected_version=expected,
    )
    view = await ticket_view(context.session, ticket, context.clock.now())
    return await context.commit(versioned_response(view, ticket.version))


@router.delete("/{ticket_id:int}", status_code=204, summary="Delete a ticket (admins)")
async def delete_ticket(
    ticket_id: ObjectId, context: Annotated[Context, Depends(allowed(Action.delete_ticket))]
) -> Response:
    ticket = await service.get_ticket(context.session, ticket_id)
    await service.delete_ticket(context.session, ticket)
    return await context.commit(Response(status_code=204))


async def _comment_on(
    context: Context,
    ticket_id: int,
    content: str,
    is_public: bool,
    author: CommentAuthor = CommentAuthor.agent,
) -> tuple[Ticket, Comment]:
    """The ticket and the comment added to it through the comment flow, in the caller's name."""
    ticket = await service.get_ticket(context.session, ticket_id)
    comment = await flows.process_comment(
        context.session,
        context.clock,
        ticket,
        actor=context.user,
        content=content,
        is_public=is_public,
        author=author,
    )
    return ticket, comment


@router.post(
    "/{ticket_id:int}/comments", status_code=201, response_model=CommentOut, summary="Comment on a ticket"
)
async def add_comment(
    ticket_id: ObjectId,
    body: CommentCreate,
    context: Annotated[Context, Depends(allowed(Action.comment_ticket))],
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    idempotency = await idempotency_for(request, context, idempotency_key)
    if (replay := await idempotency.replay()) is not None:
        return replay
    ticket, comment = await _comment_on(context, ticket_id, body.content, body.is_public, body.author)
    headers = {"Location": f"/api/v1/tickets/{ticket.id}/comments"}
    response = model_response(CommentOut.model_validate(comment), status_code=201, headers=headers)
    return await context.commit(response, idempotency)


# The one path a request body may carry files on, with the larger size limit that needs (app.py).
UPLOAD_PATHS = re.compile(r"^/api/v1/tickets/\d+/attachments$")
attachments_router = APIRouter(prefix="/attachments", tags=["attachments"])


def _attachment_out(attachment: Attachment) -> AttachmentOut:
    return AttachmentOut.model_validate(
        {
            **{name: getattr(attachment, name) for name in AttachmentOut.model_fields if name != "url"},
            "url": f"/api/v1/attachments/{attachment.id}/content",
        }
    )


@router.post(
    "/{ticket_id:int}/attachments",
    status_code=201,
    response_model=CommentWithFilesOut,
    summary="Comment on a ticket with files attached",
)
async def add_comment_with_files(
    ticket_id: ObjectId,
    context: Annotated[Context, Depends(allowed(Action.comment_ticket))],
    request: Request,
    content: Annotated[str, Text(strip_whitespace=True, min_length=1, max_length=100_000), Form()],
    # Optional, so that one form serves a reply with files or without (the agent's composer).
    files: Annotated[
        list[UploadFile], File(default_factory=list, description="The files, one form field each")
    ],
    is_public: Annotated[bool, Form()] = True,
) -> Response:
    """A comment and its files in one multipart form: checked (count, sizes, the virus scanner when one
    is configured) before anything is kept, then kept together or not at all."""
    settings: Settings = request.app.state.settings
    uploads = await attachments.read_uploads(files, attachments.AttachmentRules.of(settings))
    ticket, comment = await _comment_on(context, ticket_id, content, is_public)
    kept = await attachments.attach(
        context.session, context.clock, request.app.state.file_store, comment, uploads
    )
    out = CommentWithFilesOut.model_validate(
        {
            **CommentOut.model_validate(comment).model_dump(),
            "attachments": [_attachment_out(one) for one in kept],
        }
    )
    headers = {"Location": f"/api/v1/tickets/{ticket.id}/attachments"}
    return await context.commit(model_response(out, status_code=201, headers=headers))


@router.get(
    "/{ticket_id:int}/attachments", response_model=list[AttachmentOut], summary="List a ticket's attachments"
)
async def list_attachments(ticket_id: ObjectId, context: Viewing) -> list[AttachmentOut]:
    ticket = await service.get_ticket(context.session, ticket_id)
    return [_attachment_out(one) for one in await attachments.list_attachments(context.session, ticket)]


@attachments_router.get(
    "/{attachment_id:int}/content",
    summary="Download an attachment",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file's bytes"}},
)
async def download_attachment(attachment_id: ObjectId, context: Viewing, request: Request) -> Response:
    """The file's bytes: pictures of a few safe types shown inline, everything else a download of
    bytes, so that nothing a customer sent can run as a page of this site (the security headers add
    ``X-Content-Type-Options: nosniff`` to every answer, so no browser second-guesses the type)."""
    attachment = await attachments.get_attachment(context.session, attachment_id)
    return await attachments.download(request.app.state.file_store, attachment)


@router.get("/{ticket_id:int}/comments", response_model=list[CommentOut], summary="List a ticket's comments")
async def list_comments(ticket_id: ObjectId, context: Viewing) -> list[CommentOut]:
    ticket = await service.get_ticket(context.session, ticket_id)
    comments = await service.list_comments(context.session, ticket)
    return [CommentOut.model_validate(comment) for comment in comments]


@router.get(
    "/{ticket_id:int}/satisfaction",
    response_model=SatisfactionOut,
    summary="The customer's rating of the resolution",
)
async def ticket_satisfaction(ticket_id: ObjectId, context: Viewing) -> SatisfactionOut:
    """What the customer said in the portal of how their request was resolved (good or bad, with an
    optional comment); the fields are null until they answer. Their every answer is in the audit trail."""
    ticket = await service.get_ticket(context.session, ticket_id)
    found = await satisfaction.satisfaction_of(context.session, ticket.id)
    if found is None:
        return SatisfactionOut(ticket_id=ticket.id)
    return SatisfactionOut.model_validate(found)


@router.get("/{ticket_id:int}/audit", response_model=list[AuditEventOut], summary="The ticket's audit trail")
async def ticket_audit(
    ticket_id: ObjectId, context: Annotated[Context, Depends(allowed(Action.view_audit))]
) -> list[AuditEventOut]:
    ticket = await service.get_ticket(context.session, ticket_id)
    events = await audit_service.events_for(context.session, "ticket", ticket.id)
    return [AuditEventOut.model_validate(event) for event in events]


@router.get(
    "/{ticket_id:int}/participants",
    response_model=list[ParticipantOut],
    summary="Who besides the customer hears the ticket's public replies",
)
async def list_participants(ticket_id: ObjectId, context: Viewing) -> list[ParticipantOut]:
    ticket = await service.read_ticket(context.session, ticket_id)
    found = await participants.list_participants(context.session, ticket.id)
    return [ParticipantOut.model_validate(participant) for participant in found]


@router.post(
    "/{ticket_id:int}/participants",
    status_code=201,
    response_model=ParticipantOut,
    summary="Copy someone on the ticket's public replies",
)
async def add_participant(
    ticket_id: ObjectId,
    body: ParticipantCreate,
    context: Annotated[Context, Depends(allowed(Action.comment_ticket))],
) -> Response:
    ticket = await service.get_ticket(context.session, ticket_id)
    participant = await participants.add_participant(
        context.session,
        context.clock,
        ticket,
        email=body.email,
        name=body.name,
        added_by_user_id=context.user.id,
    )
    headers = {"Location": f"/api/v1/tickets/{ticket.id}/participants"}
    view = ParticipantOut.model_validate(participant)
    return await context.commit(model_response(view, status_code=201, headers=headers))


@router.delete(
    "/{ticket_id:int}/participants/{participant_id:int}",
    status_code=204,
    summary="Stop copying a participant on the ticket's replies",
)
async def remove_participant(
    ticket_id: ObjectId,
    participant_id: ObjectId,
    context: Annotated[Context, Depends(allowed(Action.comment_ticket))],
) -> Response:
    ticket = await service.get_ticket(context.session, ticket_id)
    await participants.remove_participant(context.session, ticket, participant_id)
    return await context.commit(Response(status_code=204))
