"""/api/v1/sla: business-hours calendars, SLA policies, and the list of breached tickets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from supportdesk.auth.dependencies import Context, allowed
from supportdesk.core.http import (
    IfMatch,
    created_headers,
    model_response,
    parse_if_match,
    versioned_response,
)
from supportdesk.core.pagination import Page
from supportdesk.core.permissions import Action
from supportdesk.core.schemas import ObjectId, QueryText, ResponseModel
from supportdesk.idempotency.service import IdempotencyKey, idempotency_for
from supportdesk.sla import config_service
from supportdesk.sla import service as sla_service
from supportdesk.sla.schemas import (
    CalendarCreate,
    CalendarOut,
    CalendarUpdate,
    PolicyCreate,
    PolicyOut,
    PolicyUpdate,
    TicketSlaOut,
    sla_out,
)
from supportdesk.sla.service import BreachTarget
from supportdesk.tickets.models import Ticket, TicketTag
from supportdesk.tickets.views import TicketOut

router = APIRouter(prefix="/sla", tags=["sla"])

Viewing = Annotated[Context, Depends(allowed(Action.view_sla))]
Managing = Annotated[Context, Depends(allowed(Action.manage_sla))]


class SlaBreachOut(ResponseModel):
    """A breached ticket and its SLA; a breached target's negative ``remaining_seconds`` is how late it is."""

    # Here rather than in sla.schemas: the ticket view is to show TicketSlaOut, and sla.schemas importing
    # the ticket schemas in turn would make the two modules import each other.
    ticket: TicketOut
    sla: TicketSlaOut


# --- calendars -------------------------------------------------------------------------------------


@router.get("/calendars", response_model=list[CalendarOut], summary="List business-hours calendars")
async def list_calendars(context: Viewing) -> list[CalendarOut]:
    calendars = await config_service.list_calendars(context.session)
    return [CalendarOut.model_validate(calendar) for calendar in calendars]


@router.post(
    "/calendars",
    status_code=201,
    response_model=CalendarOut,
    summary="Add a business-hours calendar (admins)",
)
async def create_calendar(
    body: CalendarCreate, context: Managing, request: Request, idempotency_key: IdempotencyKey = None
) -> Response:
    idempotency = await idempotency_for(request, context, idempotency_key)
    if (replay := await idempotency.replay()) is not None:
        return replay
    calendar = await config_service.create_calendar(
        context.session, context.clock, workspace_id=context.workspace_id, **body.service_fields()
    )
    headers = created_headers(calendar.version, f"/api/v1/sla/calendars/{calendar.id}")
    response = model_response(CalendarOut.model_validate(calendar), status_code=201, headers=headers)
    return await context.commit(response, idempotency)


@router.get("/calendars/{calendar_id:int}", response_model=CalendarOut, summary="Get a calendar")
async def get_calendar(calendar_id: ObjectId, context: Viewing) -> Response:
    calendar = await config_service.get_calendar(context.session, calendar_id)
    return versioned_response(CalendarOut.model_validate(calendar), calendar.version)


@router.patch(
    "/calendars/{calendar_id:int}",
    response_model=CalendarOut,
    summary="Change a calendar (admins)",
    description="The SLA due times of every ticket still in play are recomputed with the change.",
)
async def update_calendar(
    calendar_id: ObjectId, body: CalendarUpdate, context: Managing, if_match: IfMatch = None
) -> Response:
    expected = parse_if_match(if_match)
    calendar = await config_service.get_calendar(context.session, calendar_id)
    calendar = await config_service.update_calendar(
        context.session, context.clock, calendar, body.changes(), expected_version=expected
    )
    return await context.commit(versioned_response(CalendarOut.model_validate(calendar), calendar.version))


@router.delete(
    "/calendars/{calendar_id:int}",
    status_code=204,
    summary="Delete a calendar no policy uses (admins)",
)
async def delete_calendar(calendar_id: ObjectId, context: Managing) -> Response:
    calendar = await config_service.get_calendar(context.session, calendar_id)
    await config_service.delete_calendar(context.session, calendar)
    return await context.commit(Response(status_code=204))


# --- policies --------------------------------------------------------------------------------------


@router.get("/policies", response_model=list[PolicyOut], summary="List SLA policies")
async def list_policies(context: Viewing) -> list[PolicyOut]:
    policies = await config_service.list_policies(context.session)
    return [PolicyOut.model_validate(policy) for policy in policies]


@router.post(
    "/policies",
    status_code=201,
    response_model=PolicyOut,
    summary="Add an SLA policy (admins)",
    description="The SLA due times of every ticket still in play are recomputed with the new policy.",
)
async def create_policy(
    body: PolicyCreate, context: Managing, request: Request, idempotency_key: IdempotencyKey = None
) -> Response:
    idempotency = await idempotency_for(request, context, idempotency_key)
    if (replay := await idempotency.replay()) is not None:
        return replay
    policy = await config_service.create_policy(
        context.session, context.clock, workspace_id=context.workspace_id, **body.service_fields()
    )
    headers = created_headers(policy.version, f"/api/v1/sla/policies/{policy.id}")
    response = model_response(PolicyOut.model_validate(policy), status_code=201, headers=headers)
    return await context.commit(response, idempotency)


@router.get("/policies/{policy_id:int}", response_model=PolicyOut, summary="Get an SLA policy")
async def get_policy(policy_id: ObjectId, context: Viewing) -> Response:
    policy = await config_service.get_policy(context.session, policy_id)
    return versioned_response(PolicyOut.model_validate(policy), policy.version)


@router.patch(
    "/policies/{policy_id:int}",
    response_model=PolicyOut,
    summary="Change an SLA policy (admins)",
    description="A targets object replaces the stored one whole. The SLA due times of every ticket still "
    "in play are recomputed with the change.",
)
async def update_policy(
    policy_id: ObjectId, body: PolicyUpdate, context: Managing, if_match: IfMatch = None
) -> Response:
    expected = parse_if_match(if_match)
    policy = await config_service.get_policy(context.session, policy_id)
    policy = await config_service.update_policy(
        context.session, context.clock, policy, body.changes(), expected_version=expected
    )
    return await context.commit(versioned_response(PolicyOut.model_validate(policy), policy.version))


@router.delete(
    "/policies/{policy_id:int}",
    status_code=204,
    summary="Delete an SLA policy (admins)",
    description="Its tickets fall back to the next policy that applies, or to the built-in targets.",
)
async def delete_policy(policy_id: ObjectId, context: Managing) -> Response:
    policy = await config_service.get_policy(context.session, policy_id)
    await config_service.delete_policy(context.session, policy)
    return await context.commit(Response(status_code=204))


# --- breaches --------------------------------------------------------------------------------------


async def _load_tags(session: AsyncSession, tickets: Sequence[Ticket]) -> None:
    # The breach scan reads tickets alone; the ticket view needs their tags, read in one more query.
    if not tickets:
        return
    query = (
        select(TicketTag)
        .where(TicketTag.ticket_id.in_([ticket.id for ticket in tickets]))
        .order_by(TicketTag.ticket_id, TicketTag.name)
    )
    tags: dict[int, list[TicketTag]] = {ticket.id: [] for ticket in tickets}
    for tag in (await session.execute(query)).scalars():
        tags[tag.ticket_id].append(tag)
    for ticket in tickets:
        set_committed_value(ticket, "tag_rows", tags[ticket.id])


@router.get(
    "/breaches",
    response_model=Page[SlaBreachOut],
    summary="Tickets past an SLA target",
    description="For one target, the most overdue first; for any target, the newest tickets first. "
    "Only running clocks count: pending, resolved and closed tickets are not listed.",
)
async def list_breaches(
    context: Viewing,
    target: BreachTarget = BreachTarget.any,
    cursor: QueryText | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    settings = context.settings
    page_size = min(limit or settings.page_size_default, settings.page_size_max)
    session = context.session
    now = context.clock.now()
    page = await sla_service.find_sla_breaches(session, now, target=target, limit=page_size, cursor=cursor)
    await _load_tags(session, page.items)
    setup = await sla_service.load_setup(session, context.workspace_id)
    items = [
        SlaBreachOut(
            ticket=TicketOut.model_validate(ticket), sla=sla_out(sla_service.sla_view(ticket, setup, now))
        )
        for ticket in page.items
    ]
    return model_response(Page[SlaBreachOut](items=items, next_cursor=page.next_cursor, limit=page_size))
