"""The workspace's staff admin page, for admins only: the staff and their roles.

The page acts through the people service the admin API uses (``/api/v1/admin/users``), with the same
permissions and rules: an address is staff once per workspace, and a workspace keeps at least one
active admin. A refused form is shown again with the message beside the field and what was typed kept
(never a password). The other admin pages live in ``admin_*`` modules beside this one.
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
from supportdesk.people.schemas import UserCreate
from supportdesk.web.admin_parts import admin_page
from supportdesk.web.pages import WEB_PREFIX, PageRoute, checked_form, text

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
    return await admin_page(
        request,
        context,
        "admin_staff.html",
        status_code=status_code,
        staff=sorted(staff, key=lambda member: (not member.is_active, member.name.lower())),
        roles=list(Role),
        form=form or NewStaff(),
        problem=problem,
        notice=notice,
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
