"""/api/v1/tickets"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from supportdesk.audit import service as audit_service
from supportdesk.audit.schemas import AuditEventOut
from supportdesk.auth.dependencies import Context, allowed
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
from supportdesk.tickets import flows, repository, service
from supportdesk.tickets.models import Channel, Priority, TicketStatus
from supportdesk.tickets.schemas import (
    CommentCreate,
    CommentOut,
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
    ticket = await service.get_ticket(context.session, ticket_id)
    comment = await flows.process_comment(
        context.session,
        context.clock,
        ticket,
        actor=context.user,
        content=body.content,
        is_public=body.is_public,
        author=body.author,
    )
    headers = {"Location": f"/api/v1/tickets/{ticket.id}/comments"}
    response = model_response(CommentOut.model_validate(comment), status_code=201, headers=headers)
    return await context.commit(response, idempotency)


@router.get("/{ticket_id:int}/comments", response_model=list[CommentOut], summary="List a ticket's comments")
async def list_comments(ticket_id: ObjectId, context: Viewing) -> list[CommentOut]:
    ticket = await service.get_ticket(context.session, ticket_id)
    comments = await service.list_comments(context.session, ticket)
    return [CommentOut.model_validate(comment) for comment in comments]


@router.get("/{ticket_id:int}/audit", response_model=list[AuditEventOut], summary="The ticket's audit trail")
async def ticket_audit(
    ticket_id: ObjectId, context: Annotated[Context, Depends(allowed(Action.view_audit))]
) -> list[AuditEventOut]:
    ticket = await service.get_ticket(context.session, ticket_id)
    events = await audit_service.events_for(context.session, "ticket", ticket.id)
    return [AuditEventOut.model_validate(event) for event in events]
