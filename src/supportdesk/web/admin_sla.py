"""The SLA policies admin page, for admins only: every policy and what it promises per priority, the
form that adds one, a page that edits one, and deleting one.

The pages act through the SLA configuration service the API uses (``/api/v1/sla/policies``), with its
rules and permission: one policy per tier and category, names unique, and the due times of every ticket
in play computed again with each change. An edit carries the version it showed, as the API's If-Match.
A refused form is shown again with the message beside the field and what was typed kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from supportdesk.auth.dependencies import Context, get_context
from supportdesk.core.errors import PreconditionFailed, SupportdeskError
from supportdesk.core.permissions import Action
from supportdesk.people.models import Tier
from supportdesk.sla import config_service
from supportdesk.sla.models import SlaPolicy
from supportdesk.sla.rules import DEFAULT_FIRST_RESPONSE_HOURS, DEFAULT_RESOLUTION_HOURS
from supportdesk.sla.schemas import PolicyCreate, PolicyUpdate
from supportdesk.tickets.models import Priority
from supportdesk.web.admin_edits import (
    MISSING_VERSION,
    STALE,
    attempt,
    posted_version,
)
from supportdesk.web.admin_parts import admin_page, in_range, typed_number
from supportdesk.web.pages import WEB_PREFIX, PageRoute, checked_form, text
from supportdesk.workspaces import service as workspace_service

POLICIES_PATH = f"{WEB_PREFIX}/admin/sla"
_POLICY_NOTICES = {
    "added": "The policy was added; the due times of the tickets in play follow it now.",
    "changed": "The policy was changed; the due times of the tickets in play follow it now.",
    "deleted": "The policy was deleted; its tickets follow the next policy that applies.",
}
_TARGETS = ("first_response", "resolution")
_DEFAULT_HOURS = {"first_response": DEFAULT_FIRST_RESPONSE_HOURS, "resolution": DEFAULT_RESOLUTION_HOURS}
# A refusal of the service about one of these is shown beside its own field; any other beside the name.
_REFUSED_FIELDS = {"calendar_id": "calendar", "category": "category", "tier": "tier"}

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=PageRoute)
SignedIn = Annotated[Context, Depends(get_context)]


@dataclass(slots=True)
class PolicyForm:
    """The form that adds or edits an SLA policy, as shown: what was chosen and typed, and why it was
    refused."""

    name: str = ""
    tier: str = ""
    category: str = ""
    calendar: str = ""
    # "first_response.high" -> "30": minutes as typed; empty keeps the built-in target.
    minutes: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    problem: str | None = None

    @classmethod
    def posted(cls, posted: FormData) -> PolicyForm:
        """The form as it was sent."""
        return cls(
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

    @classmethod
    def of(cls, policy: SlaPolicy) -> PolicyForm:
        """The form showing a stored policy."""
        stored = {"first_response": policy.first_response_minutes, "resolution": policy.resolution_minutes}
        return cls(
            name=policy.name,
            tier=policy.tier.value if policy.tier is not None else "",
            category=policy.category or "",
            calendar=str(policy.calendar_id or ""),
            minutes={
                f"{target}.{priority}": str(minutes)
                for target in _TARGETS
                for priority, minutes in stored[target].items()
            },
        )

    def body(self) -> dict[str, Any]:
        """The form as the API's body gives it: numbers where numbers were typed, anything else as
        typed, for the schema to refuse; an empty choice is none."""
        body: dict[str, Any] = {
            "name": self.name,
            "tier": self.tier or None,
            "category": self.category or None,
            "calendar_id": typed_number(self.calendar),
        }
        for target in _TARGETS:
            body[f"{target}_minutes"] = {
                priority.value: typed_number(typed)
                for priority in Priority
                if (typed := self.minutes.get(f"{target}.{priority.value}", ""))
            }
        return body

    def refused_by_schema(self, error: ValidationError) -> None:
        """Put each of the schema's complaints beside the field it is about."""
        for item in error.errors():
            location = [str(part) for part in item["loc"]]
            name = ".".join(location[:2]).replace("_minutes", "") if location else "name"
            self.errors.setdefault(_REFUSED_FIELDS.get(name, name), _policy_message(location))

    def refused_by_service(self, refusal: SupportdeskError) -> None:
        """Put the service's refusal beside its field, or say the policy changed meanwhile."""
        if isinstance(refusal, PreconditionFailed):
            self.problem = STALE
            return
        self.errors[_REFUSED_FIELDS.get(str(getattr(refusal, "field", "")), "name")] = refusal.detail


def _policy_message(location: list[str]) -> str:
    if not location or location[0] == "name":
        return "Enter a name of up to 100 characters."
    if location[0].endswith("_minutes"):
        return "Enter whole minutes (1 or more), or leave it empty for the built-in target."
    return "Choose one of the values offered."


async def _form_values(context: Context) -> dict[str, Any]:
    # What the add and the edit forms offer to choose from.
    session = context.session
    workspace = await workspace_service.get_workspace(session, context.workspace_id)
    calendars = await config_service.list_calendars(session)
    return {
        "calendars": {calendar.id: calendar.name for calendar in calendars},
        "categories": workspace.categories,
        "tiers": list(Tier),
        "priorities": list(Priority),
        "targets": _TARGETS,
        "default_hours": _DEFAULT_HOURS,
    }


async def _policies_page(
    request: Request, context: Context, *, form: PolicyForm | None = None, status_code: int = 200
) -> HTMLResponse:
    return await admin_page(
        request,
        context,
        "admin_sla.html",
        status_code=status_code,
        policies=await config_service.list_policies(context.session),
        form=form or PolicyForm(),
        notice=_POLICY_NOTICES.get(request.query_params.get("saved", "")),
        **await _form_values(context),
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
    form = PolicyForm.posted(posted)
    refused = await attempt(
        context,
        form,
        lambda: PolicyCreate.model_validate(form.body()),
        lambda body: config_service.create_policy(
            context.session, context.clock, workspace_id=context.workspace_id, **body.service_fields()
        ),
    )
    if refused is not None:
        return await _policies_page(request, context, form=form, status_code=refused)
    return await context.commit(RedirectResponse(f"{POLICIES_PATH}?saved=added", status_code=303))


async def _policy_page(
    request: Request,
    context: Context,
    policy: SlaPolicy,
    *,
    form: PolicyForm | None = None,
    version: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return await admin_page(
        request,
        context,
        "admin_sla_policy.html",
        status_code=status_code,
        policy=policy,
        version=policy.version if version is None else version,
        form=form or PolicyForm.of(policy),
        **await _form_values(context),
    )


@router.get("/admin/sla/{policy_id:int}")
async def policy_page(policy_id: int, request: Request, context: SignedIn) -> Response:
    """The form that changes one SLA policy, showing it as stored."""
    context.require(Action.manage_sla)
    policy = await config_service.get_policy(context.session, in_range(policy_id, "SLA policy"))
    return await _policy_page(request, context, policy)


@router.post("/admin/sla/{policy_id:int}")
async def change_policy(policy_id: int, request: Request, context: SignedIn) -> Response:
    """Change an SLA policy, as ``PATCH /api/v1/sla/policies/{id}`` does with the whole policy given:
    a target left empty goes back to the built-in one."""
    posted = await checked_form(request, context.settings)
    context.require(Action.manage_sla)
    # Another workspace's policy is not found, as in the API.
    policy = await config_service.get_policy(context.session, in_range(policy_id, "SLA policy"))
    form = PolicyForm.posted(posted)
    version = posted_version(posted)
    if version is None:
        form.problem = MISSING_VERSION
        return await _policy_page(request, context, policy, form=form, status_code=422)
    refused = await attempt(
        context,
        form,
        lambda: PolicyUpdate.model_validate(form.body()).changes(),
        lambda changes: config_service.update_policy(
            context.session, context.clock, policy, changes, expected_version=version
        ),
    )
    if refused is not None:
        policy = await config_service.get_policy(context.session, policy_id)
        return await _policy_page(request, context, policy, form=form, version=version, status_code=refused)
    return await context.commit(RedirectResponse(f"{POLICIES_PATH}?saved=changed", status_code=303))


@router.post("/admin/sla/{policy_id:int}/delete")
async def delete_policy(policy_id: int, request: Request, context: SignedIn) -> Response:
    """Delete an SLA policy, as ``DELETE /api/v1/sla/policies/{id}`` does."""
    await checked_form(request, context.settings)
    context.require(Action.manage_sla)
    policy = await config_service.get_policy(context.session, in_range(policy_id, "SLA policy"))
    await config_service.delete_policy(context.session, policy)
    return await context.commit(RedirectResponse(f"{POLICIES_PATH}?saved=deleted", status_code=303))
