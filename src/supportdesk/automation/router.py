"""/api/v1/triggers, /api/v1/macros and /api/v1/tickets/{id}/macros/{id} (applying a macro)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from supportdesk.auth.dependencies import Context, ContextDep, allowed
from supportdesk.automation import macros, triggers
from supportdesk.automation.models import TriggerEvent
from supportdesk.automation.schemas import (
    MacroCreate,
    MacroOut,
    MacroUpdate,
    TriggerCreate,
    TriggerOut,
    TriggerUpdate,
)
from supportdesk.core.errors import PermissionDenied
from supportdesk.core.http import (
    IfMatch,
    created_headers,
    model_response,
    named_fields,
    parse_if_match,
    versioned_response,
)
from supportdesk.core.permissions import Action, check_permission
from supportdesk.core.schemas import ObjectId
from supportdesk.idempotency.service import IdempotencyKey, idempotency_for
from supportdesk.tickets import flows
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.views import TicketOut, ticket_view

triggers_router = APIRouter(prefix="/triggers", tags=["automation"])
# No prefix: besides /macros it serves the apply route, which lives under /tickets.
macros_router = APIRouter(tags=["automation"])

Managing = Annotated[Context, Depends(allowed(Action.manage_automation))]


async def _macro_reader(context: ContextDep) -> Context:
    # Whoever may apply macros needs to see them; admins may whether or not they apply any.
    role = context.user.role
    if not (check_permission(role, Action.apply_macro) or check_permission(role, Action.manage_automation)):
        raise PermissionDenied(f"The role {role!s} may not see macros")
    return context


ReadingMacros = Annotated[Context, Depends(_macro_reader)]


# --- triggers ------------------------------------------------------------------------------------


@triggers_router.get("", response_model=list[TriggerOut], summary="List triggers (admins)")
async def list_triggers(context: Managing, event: TriggerEvent | None = None) -> list[TriggerOut]:
    found = await triggers.list_triggers(context.session, event=event)
    return [TriggerOut.model_validate(trigger) for trigger in found]


@triggers_router.post("", status_code=201, response_model=TriggerOut, summary="Add a trigger (admins)")
async def create_trigger(
    body: TriggerCreate, context: Managing, request: Request, idempotency_key: IdempotencyKey = None
) -> Response:
    idempotency = await idempotency_for(request, context, idempotency_key)
    if (replay := await idempotency.replay()) is not None:
        return replay
    trigger = await triggers.create_trigger(
        context.session, context.clock, workspace_id=context.workspace_id, **body.service_fields()
    )
    headers = created_headers(trigger.version, f"/api/v1/triggers/{trigger.id}")
    response = model_response(TriggerOut.model_validate(trigger), status_code=201, headers=headers)
    return await context.commit(response, idempotency)


@triggers_router.get("/{trigger_id:int}", response_model=TriggerOut, summary="Get a trigger (admins)")
async def get_trigger(trigger_id: ObjectId, context: Managing) -> Response:
    trigger = await triggers.get_trigger(context.session, trigger_id)
    return versioned_response(TriggerOut.model_validate(trigger), trigger.version)


@triggers_router.patch("/{trigger_id:int}", response_model=TriggerOut, summary="Change a trigger (admins)")
async def update_trigger(
    trigger_id: ObjectId, body: TriggerUpdate, context: Managing, if_match: IfMatch = None
) -> Response:
    expected = parse_if_match(if_match)
    trigger = await triggers.get_trigger(context.session, trigger_id)
    # The validated values themselves (conditions and actions as models), not a dump of them.
    changes = named_fields(body)
    trigger = await triggers.update_trigger(
        context.session, context.clock, trigger, changes, expected_version=expected
    )
    return await context.commit(versioned_response(TriggerOut.model_validate(trigger), trigger.version))


@triggers_router.delete("/{trigger_id:int}", status_code=204, summary="Delete a trigger (admins)")
async def delete_trigger(trigger_id: ObjectId, context: Managing) -> Response:
    trigger = await triggers.get_trigger(context.session, trigger_id)
    await triggers.delete_trigger(context.session, trigger)
    return await context.commit(Response(status_code=204))


# --- macros --------------------------------------------------------------------------------------


@macros_router.get("/macros", response_model=list[MacroOut], summary="List macros")
async def list_macros(context: ReadingMacros) -> list[MacroOut]:
    return [MacroOut.model_validate(macro) for macro in await macros.list_macros(context.session)]


@macros_router.post("/macros", status_code=201, response_model=MacroOut, summary="Add a macro (admins)")
async def create_macro(
    body: MacroCreate, context: Managing, request: Request, idempotency_key: IdempotencyKey = None
) -> Response:
    idempotency = await idempotency_for(request, context, idempotency_key)
    if (replay := await idempotency.replay()) is not None:
        return replay
    macro = await macros.create_macro(
        context.session, context.clock, workspace_id=context.workspace_id, **body.service_fields()
    )
    headers = created_headers(macro.version, f"/api/v1/macros/{macro.id}")
    response = model_response(MacroOut.model_validate(macro), status_code=201, headers=headers)
    return await context.commit(response, idempotency)


@macros_router.get("/macros/{macro_id:int}", response_model=MacroOut, summary="Get a macro")
async def get_macro(macro_id: ObjectId, context: ReadingMacros) -> Response:
    macro = await macros.get_macro(context.session, macro_id)
    return versioned_response(MacroOut.model_validate(macro), macro.version)


@macros_router.patch("/macros/{macro_id:int}", response_model=MacroOut, summary="Change a macro (admins)")
async def update_macro(
    macro_id: ObjectId, body: MacroUpdate, context: Managing, if_match: IfMatch = None
) -> Response:
    expected = parse_if_match(if_match)
    macro = await macros.get_macro(context.session, macro_id)
    changes = named_fields(body)
    macro = await macros.update_macro(
        context.session, context.clock, macro, changes, expected_version=expected
    )
    return await context.commit(versioned_response(MacroOut.model_validate(macro), macro.version))


@macros_router.delete("/macros/{macro_id:int}", status_code=204, summary="Delete a macro (admins)")
async def delete_macro(macro_id: ObjectId, context: Managing) -> Response:
    macro = await macros.get_macro(context.session, macro_id)
    await macros.delete_macro(context.session, macro)
    return await context.commit(Response(status_code=204))


@macros_router.post(
    "/tickets/{ticket_id:int}/macros/{macro_id:int}",
    response_model=TicketOut,
    summary="Apply a macro to a ticket",
    description="Posts the macro's reply and applies its actions, all or nothing, then runs the "
    "workspace's `commented` and `updated` triggers as for any other reply and change. If-Match is honoured.",
)
async def apply_macro(
    ticket_id: ObjectId,
    macro_id: ObjectId,
    context: Annotated[Context, Depends(allowed(Action.apply_macro))],
    if_match: IfMatch = None,
) -> Response:
    expected = parse_if_match(if_match)
    ticket = await ticket_service.get_ticket(context.session, ticket_id)
    macro = await macros.get_macro(context.session, macro_id)
    ticket = await flows.process_macro(
        context.session, context.clock, ticket, macro, actor=context.user, expected_version=expected
    )
    view = await ticket_view(context.session, ticket, context.clock.now())
    return await context.commit(versioned_response(view, ticket.version))
