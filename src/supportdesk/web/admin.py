"""The workspace's admin pages, for admins only: the staff and their roles, and the SLA policies.

The pages act through the services the admin API uses, with the same permissions and rules: staff
through the people service (``/api/v1/admin/users``: an address is staff once per workspace, and a
workspace keeps at least one active admin), policies through the SLA configuration service
(``/api/v1/sla/policies``: the due times of every ticket in play are computed again). A refused form
is shown again with the message beside the field and what was typed kept (never a password).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from supportdesk.auth.dependencies import Context, get_context
from supportdesk.core.errors import NotFound, SupportdeskError
from supportdesk.core.permissions import Action, Role
from supportdesk.core.schemas import MAX_ID
from supportdesk.people import service as people_service
from supportdesk.people.models import Tier
from supportdesk.people.schemas import UserCreate
from supportdesk.sla import config_service
from supportdesk.sla.rules import DEFAULT_FIRST_RESPONSE_HOURS, DEFAULT_RESOLUTION_HOURS
from supportdesk.sla.schemas import PolicyCreate
from supportdesk.tickets.models import Priority
from supportdesk.web.pages import WEB_PREFIX, PageRoute, checked_form, chrome, render, text
from supportdesk.workspaces import service as workspace_service

STAFF_PATH = f"{WEB_PREFIX}/admin/staff"
_NOTICES = {
    "added": "The staff member was added.",
    "role": "The role was changed.",
    "deactivated": "The staff member was deactivated: they can no longer sign in or use their tokens.",
}
_FIELD_MESSAGES = {
    "email": "Enter an e-mail address, like name@example.com.",
    "name": "Enter a name of up to 200 characters.",
    "role": "Choose one of the roles.",
    "password": "A password has at least 10 characters; leave it empty for someone who only uses API tokens.",
}

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=PageRoute)
SignedIn = Annotated[Context, Depends(get_context)]


@dataclass(slots=True)
class NewStaff:
    """The form that adds a staff member, as shown: what was typed (never the password) and why not."""

    email: str = ""
    name: str = ""
    role: str = Role.agent.value
    errors: dict[str, str] = field(default_factory=dict)


async def _staff_page(
    request: Request,
    context: Context,
    *,
    form: NewStaff | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    staff = await people_service.list_users(context.session)
    notice = _NOTICES.get(request.query_params.get("saved", ""))
    return render(
        request,
        "admin_staff.html",
        status_code=status_code,
        **await chrome(
            request,
            context,
            section="admin",
            staff=sorted(staff, key=lambda member: (not member.is_active, member.name.lower())),
            roles=list(Role),
            form=form or NewStaff(),
            problem=problem,
            notice=notice,
        ),
    )


@router.get("/admin/staff")
async def staff_page(request: Request, context: SignedIn) -> Response:
    """Every staff member of the workspace with their role, and the form that adds one."""
    context.require(Action.create_user)
    return await _staff_page(request, context)


@router.post("/admin/staff")
async def add_staff(request: Request, context: SignedIn) -> Response:
    """Add a staff member, as ``POST /api/v1/admin/users`` does."""
    posted = await checked_form(request, context.settings)
    context.require(Action.create_user)
    form = NewStaff(
        email=text(posted, "email").strip(), name=text(posted, "name").strip(), role=text(posted, "role")
    )
    password = text(posted, "password")
    try:
        body = UserCreate.model_validate(
            {"email": form.email, "name": form.name, "role": form.role, "password": password or None}
        )
    except ValidationError as error:
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else "email"
            form.errors.setdefault(name, _FIELD_MESSAGES.get(name, "Check this field."))
        return await _staff_page(request, context, form=form, status_code=422)
    try:
        await people_service.create_user(
            context.session, context.clock, workspace_id=context.workspace_id, **body.model_dump()
        )
    except SupportdeskError as refusal:
        await context.session.rollback()
        form.errors["email"] = refusal.detail
        return await _staff_page(request, context, form=form, status_code=refusal.status_code)
    return await context.commit(RedirectResponse(f"{STAFF_PATH}?saved=added", status_code=303))


async def _member_change(
    request: Request, context: Context, user_id: int, action: Action, saved: str, role: str | None = None
) -> Response:
    await checked_form(request, context.settings)
    context.require(action)
    if not 0 < user_id <= MAX_ID:
        raise NotFound("No such user")
    # Another workspace's staff member is not found, as in the API.
    member = await people_service.get_user(context.session, user_id)
    try:
        if role is None:
            await people_service.deactivate_user(context.session, context.clock, member)
        else:
            await people_service.update_user(context.session, context.clock, member, {"role": Role(role)})
    except SupportdeskError as refusal:
        # The last active admin keeps their role: the page says so and changes nothing.
        await context.session.rollback()
        return await _staff_page(request, context, problem=refusal.detail, status_code=refusal.status_code)
    return await context.commit(RedirectResponse(f"{STAFF_PATH}?saved={saved}", status_code=303))


@router.post("/admin/staff/{user_id:int}/role")
async def change_role(user_id: int, request: Request, context: SignedIn) -> Response:
    """Give a staff member another role, as ``PATCH /api/v1/admin/users/{id}`` does."""
    posted = await checked_form(request, context.settings)
    role = text(posted, "role")
    if role not in {member.value for member in Role}:
        context.require(Action.change_role)
        return await _staff_page(request, context, problem="Choose one of the roles.", status_code=422)
    return await _member_change(request, context, user_id, Action.change_role, "role", role)


@router.post("/admin/staff/{user_id:int}/deactivate")
async def deactivate(user_id: int, request: Request, context: SignedIn) -> Response:
    """Deactivate a staff member, as ``POST /api/v1/admin/users/{id}/deactivate`` does."""
    return await _member_change(request, context, user_id, Action.deactivate_user, "deactivated")


# --- SLA policies -----------------------------------------------------------------------------------------

POLICIES_PATH = f"{WEB_PREFIX}/admin/sla"
_POLICY_NOTICES = {
    "added": "The policy was added; the due times of the tickets in play follow it now.",
    "deleted": "The policy was deleted; its tickets follow the next policy that applies.",
}
_TARGETS = ("first_response", "resolution")
_DEFAULT_HOURS = {"first_response": DEFAULT_FIRST_RESPONSE_HOURS, "resolution": DEFAULT_RESOLUTION_HOURS}


@dataclass(slots=True)
class NewPolicy:
    """The form that adds an SLA policy, as shown: what was chosen and typed, and why it was refused."""

    name: str = ""
    tier: str = ""
    category: str = ""
    calendar: str = ""
    # "first_response.high" -> "30": minutes as typed; empty keeps the built-in target.
    minutes: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _targets_body(form: NewPolicy) -> dict[str, dict[str, int | str]]:
    """The targets as the API's body gives them: whole minutes as numbers; anything else as typed, for
    the schema to refuse."""
    body: dict[str, dict[str, int | str]] = {}
    for target in _TARGETS:
        body[f"{target}_minutes"] = {}
        for priority in Priority:
            typed = form.minutes.get(f"{target}.{priority.value}", "")
            if typed:
                number = typed.isdigit() and len(typed) <= 9
                body[f"{target}_minutes"][priority.value] = int(typed) if number else typed
    return body


async def _policies_page(
    request: Request, context: Context, *, form: NewPolicy | None = None, status_code: int = 200
) -> HTMLResponse:
    session = context.session
    workspace = await workspace_service.get_workspace(session, context.workspace_id)
    calendars = await config_service.list_calendars(session)
    return render(
        request,
        "admin_sla.html",
        status_code=status_code,
        **await chrome(
            request,
            context,
            section="admin",
            policies=await config_service.list_policies(session),
            calendars={calendar.id: calendar.name for calendar in calendars},
            categories=workspace.categories,
            tiers=list(Tier),
            priorities=list(Priority),
            targets=_TARGETS,
            default_hours=_DEFAULT_HOURS,
            form=form or NewPolicy(),
            notice=_POLICY_NOTICES.get(request.query_params.get("saved", "")),
        ),
    )


@router.get("/admin/sla")
async def policies_page(request: Request, context: SignedIn) -> Response:
    """The workspace's SLA policies, what each promises per priority, and the form that adds one."""
    context.require(Action.manage_sla)
    return await _policies_page(request, context)


@router.post("/admin/sla")
async def add_policy(request: Request, context: SignedIn) -> Response:
    """Add an SLA policy, as ``POST /api/v1/sla/policies`` does."""
    posted = await checked_form(request, context.settings)
    context.require(Action.manage_sla)
    form = NewPolicy(
        name=text(posted, "name").strip(),
        tier=text(posted, "tier"),
        category=text(posted, "category"),
        calendar=text(posted, "calendar"),
        minutes={
            f"{target}.{priority.value}": text(posted, f"{target}.{priority.value}").strip()
            for target in _TARGETS
            for priority in Priority
        },
    )
    values = {
        "name": form.name,
        "tier": form.tier or None,
        "category": form.category or None,
        "calendar_id": int(form.calendar)
        if form.calendar.isdigit() and len(form.calendar) <= 18
        else form.calendar or None,
        **_targets_body(form),
    }
    try:
        body = PolicyCreate.model_validate(values)
    except ValidationError as error:
        for item in error.errors():
            location = [str(part) for part in item["loc"]]
            name = ".".join(location[:2]).replace("_minutes", "") if location else "name"
            name = {"calendar_id": "calendar"}.get(name, name)
            form.errors.setdefault(name, _policy_message(location))
        return await _policies_page(request, context, form=form, status_code=422)
    try:
        await config_service.create_policy(
            context.session, context.clock, workspace_id=context.workspace_id, **body.service_fields()
        )
    except SupportdeskError as refusal:
        await context.session.rollback()
        # A refused calendar or category is named beside its own field; anything else beside the name.
        shown = {"calendar_id": "calendar", "category": "category", "tier": "tier"}
        form.errors[shown.get(str(getattr(refusal, "field", "")), "name")] = refusal.detail
        return await _policies_page(request, context, form=form, status_code=refusal.status_code)
    return await context.commit(RedirectResponse(f"{POLICIES_PATH}?saved=added", status_code=303))


def _policy_message(location: list[str]) -> str:
    if not location or location[0] == "name":
        return "Enter a name of up to 100 characters."
    if location[0].endswith("_minutes"):
        return "Enter whole minutes (1 or more), or leave it empty for the built-in target."
    return "Choose one of the values offered."


@router.post("/admin/sla/{policy_id:int}/delete")
async def delete_policy(policy_id: int, request: Request, context: SignedIn) -> Response:
    """Delete an SLA policy, as ``DELETE /api/v1/sla/policies/{id}`` does."""
    await checked_form(request, context.settings)
    context.require(Action.manage_sla)
    if not 0 < policy_id <= MAX_ID:
        raise NotFound("No such SLA policy")
    policy = await config_service.get_policy(context.session, policy_id)
    await config_service.delete_policy(context.session, policy)
    return await context.commit(RedirectResponse(f"{POLICIES_PATH}?saved=deleted", status_code=303))
