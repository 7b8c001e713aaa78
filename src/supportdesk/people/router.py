"""/api/v1/customers, /api/v1/admin/users and /api/v1/me"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from supportdesk.auth import service as auth_service
from supportdesk.auth.dependencies import Context, ContextDep, allowed
from supportdesk.core.errors import NotFound
from supportdesk.core.http import (
    IfMatch,
    created_headers,
    model_response,
    parse_if_match,
    versioned_response,
)
from supportdesk.core.pagination import Page
from supportdesk.core.permissions import PERMISSIONS, Action, Role
from supportdesk.core.schemas import EmailAddress, ObjectId, QueryText
from supportdesk.idempotency.service import IdempotencyKey, idempotency_for
from supportdesk.integrations.crm import CrmLookup
from supportdesk.people import service
from supportdesk.people.models import Customer, StaffSnapshot, Tier, User
from supportdesk.people.schemas import (
    CustomerCreate,
    CustomerCrmOut,
    CustomerOut,
    CustomerUpdate,
    MeOut,
    MeUpdate,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from supportdesk.workspaces import service as workspace_service

customers = APIRouter(prefix="/customers", tags=["customers"])
users = APIRouter(prefix="/admin/users", tags=["staff"])
me = APIRouter(prefix="/me", tags=["me"])

ViewingCustomers = Annotated[Context, Depends(allowed(Action.view_customer))]
ManagingCustomers = Annotated[Context, Depends(allowed(Action.manage_customer))]


# --- customers -----------------------------------------------------------------------------------


@customers.post("", status_code=201, response_model=CustomerOut, summary="Create a customer")
async def create_customer(
    body: CustomerCreate, context: ManagingCustomers, request: Request, idempotency_key: IdempotencyKey = None
) -> Response:
    idempotency = await idempotency_for(request, context, idempotency_key)
    if (replay := await idempotency.replay()) is not None:
        return replay
    customer = await service.create_customer(context.session, context.clock, **body.model_dump())
    headers = created_headers(customer.version, f"/api/v1/customers/{customer.id}")
    response = model_response(CustomerOut.model_validate(customer), status_code=201, headers=headers)
    return await context.commit(response, idempotency)


@customers.get("", response_model=Page[CustomerOut], summary="List customers")
async def list_customers(
    context: ViewingCustomers,
    tier: Tier | None = None,
    company: QueryText | None = None,
    cursor: QueryText | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Page[CustomerOut]:
    page_size = min(limit or context.settings.page_size_default, context.settings.page_size_max)
    rows, next_cursor = await service.list_customers(
        context.session, limit=page_size, cursor=cursor, tier=tier, company=company
    )
    return Page[CustomerOut](
        items=[CustomerOut.model_validate(row) for row in rows], next_cursor=next_cursor, limit=page_size
    )


@customers.get("/lookup", response_model=CustomerOut, summary="Find a customer by e-mail address")
async def lookup_customer(email: EmailAddress, context: ViewingCustomers) -> CustomerOut:
    customer = await service.find_customer_by_email(context.session, email)
    if customer is None:
        raise NotFound("No customer has this e-mail address")
    return CustomerOut.model_validate(customer)


@customers.get(
    "/lookup/crm",
    response_model=CustomerCrmOut,
    summary="What the CRM says of the customer with an e-mail address",
)
async def customer_crm_by_email(
    email: EmailAddress, context: ViewingCustomers, request: Request
) -> CustomerCrmOut:
    customer = await service.find_customer_by_email(context.session, email)
    if customer is None:
        raise NotFound("No customer has this e-mail address")
    return await _crm_view(customer, request)


@customers.get(
    "/{customer_id:int}/crm", response_model=CustomerCrmOut, summary="What the CRM says of a customer"
)
async def customer_crm(customer_id: ObjectId, context: ViewingCustomers, request: Request) -> CustomerCrmOut:
    return await _crm_view(await service.get_customer(context.session, customer_id), request)


async def _crm_view(customer: Customer, request: Request) -> CustomerCrmOut:
    """The CRM's answer, or what the customer keeps of its last one when it has none to give: never an
    error for the CRM's trouble (its client bounds every wait, and an open breaker answers at once)."""
    lookup: CrmLookup | None = request.app.state.crm
    ids = {"customer_id": customer.id, "email": customer.email, "stored_tier": customer.tier}
    # What the customer keeps of the CRM's last answer (its sender writes it in the background).
    stored = {
        **ids,
        "tier": customer.tier,
        "plan": customer.crm_plan,
        "account_manager": customer.crm_account_manager,
        "source": "stored",
    }
    if lookup is None:
        return CustomerCrmOut(**stored, checked_at=customer.crm_checked_at, reason="no CRM is configured")
    answer = await lookup.profile(customer.email)
    profile = answer.profile
    if profile is None:
        reason = answer.reason or "the CRM does not know this address"
        # With nothing known now, the stored answer is as old as the check that stored it.
        checked_at = answer.checked_at if answer.checked_at is not None else customer.crm_checked_at
        return CustomerCrmOut(**stored, checked_at=checked_at, reason=reason)
    return CustomerCrmOut(
        **ids,
        tier=profile.tier or customer.tier,
        plan=profile.plan,
        account_manager=profile.account_manager,
        # A profile comes fresh, cached or stale; "unavailable" never carries one.
        source="stored" if answer.source == "unavailable" else answer.source,
        checked_at=answer.checked_at,
        reason=answer.reason,
    )


@customers.get("/{customer_id:int}", response_model=CustomerOut, summary="Get a customer")
async def get_customer(customer_id: ObjectId, context: ViewingCustomers) -> Response:
    customer = await service.read_customer(context.session, customer_id)
    return versioned_response(CustomerOut.model_validate(customer), customer.version)


@customers.patch("/{customer_id:int}", response_model=CustomerOut, summary="Update a customer")
async def update_customer(
    customer_id: ObjectId,
    body: CustomerUpdate,
    context: ManagingCustomers,
    if_match: IfMatch = None,
) -> Response:
    expected = parse_if_match(if_match)
    customer = await service.get_customer(context.session, customer_id)
    customer = await service.update_customer(
        context.session,
        context.clock,
        customer,
        body.model_dump(exclude_unset=True),
        expected_version=expected,
    )
    return await context.commit(versioned_response(CustomerOut.model_validate(customer), customer.version))


# --- staff users ---------------------------------------------------------------------------------


@users.get("", response_model=list[UserOut], summary="List staff users")
async def list_users(
    context: Annotated[Context, Depends(allowed(Action.list_users))],
    role: Role | None = None,
    is_active: bool | None = None,
) -> list[UserOut]:
    rows = await service.list_users(context.session, role=role, is_active=is_active)
    return [UserOut.model_validate(row) for row in rows]


@users.post("", status_code=201, response_model=UserOut, summary="Add a staff user (admins)")
async def create_user(
    body: UserCreate,
    context: Annotated[Context, Depends(allowed(Action.create_user))],
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    idempotency = await idempotency_for(request, context, idempotency_key)
    if (replay := await idempotency.replay()) is not None:
        return replay
    user = await service.create_user(
        context.session, context.clock, workspace_id=context.workspace_id, **body.model_dump()
    )
    headers = {"Location": f"/api/v1/admin/users/{user.id}"}
    response = model_response(UserOut.model_validate(user), status_code=201, headers=headers)
    return await context.commit(response, idempotency)


@users.get("/{user_id:int}", response_model=UserOut, summary="Get a staff user")
async def get_user(
    user_id: ObjectId, context: Annotated[Context, Depends(allowed(Action.list_users))]
) -> UserOut:
    return UserOut.model_validate(await service.read_user(context.session, user_id))


@users.patch("/{user_id:int}", response_model=UserOut, summary="Change a staff user (admins)")
async def update_user(
    user_id: ObjectId,
    body: UserUpdate,
    context: Annotated[Context, Depends(allowed(Action.change_role))],
) -> Response:
    user = await service.get_user(context.session, user_id)
    user = await service.update_user(
        context.session, context.clock, user, body.model_dump(exclude_unset=True)
    )
    return await context.commit(model_response(UserOut.model_validate(user)))


@users.post("/{user_id:int}/deactivate", response_model=UserOut, summary="Deactivate a staff user (admins)")
async def deactivate_user(
    user_id: ObjectId, context: Annotated[Context, Depends(allowed(Action.deactivate_user))]
) -> Response:
    user = await service.get_user(context.session, user_id)
    user = await service.deactivate_user(context.session, context.clock, user)
    return await context.commit(model_response(UserOut.model_validate(user)))


# --- me ------------------------------------------------------------------------------------------


async def _me(context: Context, user: User | StaffSnapshot) -> MeOut:
    workspace = await workspace_service.get_workspace(context.session, context.workspace_id)
    permissions = sorted(action.value for action, roles in PERMISSIONS.items() if context.user.role in roles)
    return MeOut.model_validate(
        {
            **UserOut.model_validate(user).model_dump(),
            "workspace_id": workspace.id,
            "workspace_slug": workspace.slug,
            "permissions": permissions,
        }
    )


@me.get("", response_model=MeOut, summary="Who am I")
async def whoami(context: ContextDep) -> MeOut:
    return await _me(context, await service.read_user(context.session, context.user.id))


@me.patch("", response_model=MeOut, summary="Change my name or my e-mail notification preference")
async def update_me(body: MeUpdate, context: ContextDep) -> Response:
    user = await service.get_user(context.session, context.user.id)
    user = await service.update_user(
        context.session, context.clock, user, body.model_dump(exclude_unset=True)
    )
    return await context.commit(model_response(await _me(context, user)))


TokenContext = Annotated[Context, Depends(allowed(Action.manage_own_tokens))]


@me.get("/tokens", response_model=list[TokenOut], summary="My personal API tokens")
async def list_tokens(context: TokenContext) -> list[TokenOut]:
    tokens = await auth_service.list_tokens(context.session, context.user)
    return [TokenOut.model_validate(token) for token in tokens]


@me.post("/tokens", status_code=201, response_model=TokenCreated, summary="Create a personal API token")
async def create_token(body: TokenCreate, context: TokenContext) -> Response:
    issued = await auth_service.create_personal_token(
        context.session,
        context.settings,
        context.clock,
        user=context.user,
        name=body.name,
        expires_in_days=body.expires_in_days,
    )
    created = TokenCreated.model_validate(
        {**TokenOut.model_validate(issued.record).model_dump(), "token": issued.secret}
    )
    # The body carries the new token's secret: no cache on the way may keep a copy.
    return await context.commit(
        model_response(created, status_code=201, headers={"Cache-Control": "no-store"})
    )


@me.delete("/tokens/{token_id:int}", status_code=204, summary="Revoke a personal API token")
async def revoke_token(token_id: ObjectId, context: TokenContext) -> Response:
    await auth_service.revoke_token(context.session, context.clock, user=context.user, token_id=token_id)
    return await context.commit(Response(status_code=204))
