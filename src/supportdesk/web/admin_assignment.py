"""The assignment admin page, for admins only: whether new tickets are assigned automatically, by which
strategy (for the workspace and per category), and how many open tickets an agent takes at most.

The page changes the workspace's settings through the workspace service and permission that
``PATCH /api/v1/workspace`` uses, with the body that endpoint validates. It shows the agents the
strategies choose from, with their skills and their own capacities, which are set per person through
``/api/v1/admin/users``. A refused form is shown again with the message beside the field and what was
chosen kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from supportdesk.assignment.rules import ASSIGNABLE_ROLES
from supportdesk.auth.dependencies import Context, get_context
from supportdesk.core.errors import SupportdeskError
from supportdesk.core.permissions import Action
from supportdesk.people import service as people_service
from supportdesk.web.admin_parts import admin_page, typed_number
from supportdesk.web.pages import WEB_PREFIX, PageRoute, checked_form, text
from supportdesk.workspaces import service as workspace_service
from supportdesk.workspaces.models import AssignmentStrategy, Workspace
from supportdesk.workspaces.schemas import WorkspaceUpdate

ASSIGNMENT_PATH = f"{WEB_PREFIX}/admin/assignment"
_NOTICES = {"saved": "The assignment settings were saved; they apply to the next new ticket."}
_MESSAGES = {
    "assignment_strategy": "Choose one of the strategies.",
    "agent_capacity": "Enter a whole number from 1 to 10000, or leave it empty for no limit.",
    "category_strategies": "Choose one of the strategies, or the workspace's.",
}
# What each strategy does, as the assignment rules decide it.
STRATEGIES = {
    AssignmentStrategy.round_robin: "Round robin: the agent whose last automatic assignment is the oldest.",
    AssignmentStrategy.least_loaded: "Least loaded: the agent with the fewest open tickets.",
    AssignmentStrategy.by_priority: "By priority: critical tickets to senior agents, the others to agents.",
    AssignmentStrategy.by_skill: "By skill: agents whose skills include the ticket's category.",
}

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=PageRoute)
SignedIn = Annotated[Context, Depends(get_context)]


@dataclass(slots=True)
class AssignmentForm:
    """The assignment settings as the form shows them: what was chosen and typed, and why it was
    refused."""

    auto_assign: bool = False
    strategy: str = AssignmentStrategy.round_robin.value
    # category -> strategy value; empty follows the workspace's strategy.
    categories: dict[str, str] = field(default_factory=dict)
    capacity: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def posted(cls, posted: FormData, categories: list[str]) -> AssignmentForm:
        """The form as it was sent; a checkbox left unticked is not sent at all."""
        return cls(
            auto_assign=bool(text(posted, "auto_assign")),
            strategy=text(posted, "assignment_strategy"),
            categories={category: text(posted, f"strategy.{category}") for category in categories},
            capacity=text(posted, "agent_capacity").strip(),
        )

    @classmethod
    def of(cls, workspace: Workspace) -> AssignmentForm:
        """The form showing the workspace's settings."""
        return cls(
            auto_assign=workspace.auto_assign,
            strategy=AssignmentStrategy(workspace.assignment_strategy).value,
            categories=dict(workspace.category_strategies),
            capacity=str(workspace.agent_capacity or ""),
        )

    def body(self) -> dict[str, Any]:
        """The form as the API's body gives it; what is not a number or a strategy stays as typed,
        for the schema to refuse."""
        return {
            "auto_assign": self.auto_assign,
            "assignment_strategy": self.strategy,
            "category_strategies": {
                category: chosen for category, chosen in self.categories.items() if chosen
            },
            "agent_capacity": typed_number(self.capacity),
        }

    def refused_by_schema(self, error: ValidationError) -> None:
        """Put each of the schema's complaints beside the field it is about."""
        for item in error.errors():
            location = [str(part) for part in item["loc"]]
            name = location[0] if location else "assignment_strategy"
            key = f"strategy.{location[1]}" if name == "category_strategies" and len(location) > 1 else name
            self.errors.setdefault(key, _MESSAGES.get(name, "Check this field."))


async def _assignment_page(
    request: Request, context: Context, *, form: AssignmentForm | None = None, status_code: int = 200
) -> HTMLResponse:
    workspace = await workspace_service.get_workspace(context.session, context.workspace_id)
    staff = await people_service.list_users(context.session)
    return await admin_page(
        request,
        context,
        "admin_assignment.html",
        status_code=status_code,
        form=form or AssignmentForm.of(workspace),
        categories=workspace.categories,
        strategies=STRATEGIES,
        agents=sorted(
            (member for member in staff if member.is_active and member.role in ASSIGNABLE_ROLES),
            key=lambda member: member.name.lower(),
        ),
        notice=_NOTICES.get(request.query_params.get("saved", "")),
    )


@router.get("/admin/assignment")
async def assignment_page(request: Request, context: SignedIn) -> Response:
    """The workspace's assignment settings and the agents they choose from."""
    context.require(Action.manage_workspace)
    return await _assignment_page(request, context)


@router.post("/admin/assignment")
async def save_assignment(request: Request, context: SignedIn) -> Response:
    """Change the assignment settings, as ``PATCH /api/v1/workspace`` does with them given."""
    posted = await checked_form(request, context.settings)
    context.require(Action.manage_workspace)
    workspace = await workspace_service.get_workspace(context.session, context.workspace_id)
    form = AssignmentForm.posted(posted, workspace.categories)
    try:
        body = WorkspaceUpdate.model_validate(form.body())
    except ValidationError as error:
        form.refused_by_schema(error)
        return await _assignment_page(request, context, form=form, status_code=422)
    try:
        await workspace_service.update_settings(
            context.session, workspace, body.model_dump(exclude_unset=True)
        )
    except SupportdeskError as refusal:
        # A category removed while the form was open: the whole choice per category is refused.
        await context.session.rollback()
        form.errors["category_strategies"] = refusal.detail
        return await _assignment_page(request, context, form=form, status_code=refusal.status_code)
    return await context.commit(RedirectResponse(f"{ASSIGNMENT_PATH}?saved=saved", status_code=303))
