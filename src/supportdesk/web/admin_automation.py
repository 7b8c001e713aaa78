"""The automation admin pages, for admins only: triggers (listed in the order they run, added, edited,
switched on and off, deleted) and macros (listed, added, edited, deleted).

The pages act through the trigger and macro services the API uses (``/api/v1/triggers``,
``/api/v1/macros``), with the API's schemas and permission: the categories and people a definition
names must exist, names are unique, and a condition on a comment's text needs the ``commented`` event.
Conditions and actions are rich (a dozen kinds, each with its own fields), so the forms take them as
the JSON the API takes, in a text area; a refusal says which entry of the list is at fault. An edit
carries the version it showed, as the API's If-Match. A refused form is shown again with the message
beside the field and what was typed kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from supportdesk.auth.dependencies import Context, get_context
from supportdesk.automation import macros, triggers
from supportdesk.automation.actions import ACTION_MODELS
from supportdesk.automation.conditions import CONDITION_MODELS
from supportdesk.automation.models import Macro, Trigger, TriggerEvent
from supportdesk.automation.schemas import MacroCreate, MacroUpdate, TriggerCreate, TriggerUpdate
from supportdesk.core.errors import PreconditionFailed, SupportdeskError
from supportdesk.core.http import named_fields
from supportdesk.core.permissions import Action
from supportdesk.web.admin_edits import (
    MISSING_VERSION,
    STALE,
    attempt,
    describe_entry,
    json_list,
    posted_version,
    refused_field,
    schema_errors,
    shown_json,
)
from supportdesk.web.admin_parts import admin_page, in_range, saved, typed_number
from supportdesk.web.pages import WEB_PREFIX, PageRoute, checked_form, text

TRIGGERS_PATH = f"{WEB_PREFIX}/admin/triggers"
MACROS_PATH = f"{WEB_PREFIX}/admin/macros"
_NOTICES = {
    "added": "Added.",
    "changed": "Saved.",
    "on": "The trigger is on: it runs on its event from now.",
    "off": "The trigger is off: it no longer runs until it is switched on again.",
    "deleted": "Deleted.",
}
_MESSAGES = {
    "name": "Enter a name of up to 100 characters.",
    "event": "Choose one of the events.",
    "position": "Enter a whole number from 0 to 1000000.",
    "actions": "Give at least one action.",
}
# What a macro's reply may say about the ticket, as the reply template knows it.
_PLACEHOLDERS = ("customer.name", "customer.email", "ticket.number", "ticket.title", "agent.name")

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=PageRoute)
SignedIn = Annotated[Context, Depends(get_context)]


@dataclass(slots=True)
class DefinitionForm:
    """What the trigger and macro forms share: a name, JSON lists as typed, and why it was refused."""

    name: str = ""
    # Field name -> the JSON list as typed.
    lists: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    problem: str | None = None

    def read_lists(self) -> dict[str, list[Any]]:
        """The JSON lists as values; a list that is not JSON is refused beside its field and read as
        empty, so the schema still says what else is wrong."""
        values: dict[str, list[Any]] = {}
        for name, typed in self.lists.items():
            values[name], problem = json_list(typed)
            if problem is not None:
                self.errors[name] = problem
        return values

    def refused_by_schema(self, error: ValidationError) -> None:
        """Put each of the schema's complaints beside the field it is about, after any JSON problem."""
        for name, message in schema_errors(error, _MESSAGES).items():
            self.errors.setdefault(name, message)

    def refused_by_service(self, refusal: SupportdeskError) -> None:
        """Put the service's refusal beside its field, or say the definition changed meanwhile."""
        if isinstance(refusal, PreconditionFailed):
            self.problem = STALE
            return
        name, message = refused_field(refusal)
        self.errors[name] = message


@dataclass(slots=True)
class TriggerForm(DefinitionForm):
    """The form that adds or edits a trigger."""

    event: str = TriggerEvent.created.value
    position: str = "0"
    is_active: bool = True

    @classmethod
    def posted(cls, posted: FormData) -> TriggerForm:
        """The form as it was sent; an unticked checkbox is not sent at all."""
        return cls(
            name=text(posted, "name").strip(),
            lists={name: text(posted, name) for name in ("conditions", "any_conditions", "actions")},
            event=text(posted, "event"),
            position=text(posted, "position").strip(),
            is_active=bool(text(posted, "is_active")),
        )

    @classmethod
    def of(cls, trigger: Trigger) -> TriggerForm:
        """The form showing a stored trigger."""
        return cls(
            name=trigger.name,
            lists={
                "conditions": shown_json(trigger.conditions),
                "any_conditions": shown_json(trigger.any_conditions),
                "actions": shown_json(trigger.actions),
            },
            event=trigger.event.value,
            position=str(trigger.position),
            is_active=trigger.is_active,
        )

    def body(self) -> dict[str, Any]:
        """The form as the API's body gives it."""
        return {
            "name": self.name,
            "event": self.event,
            "position": typed_number(self.position) if self.position else 0,
            "is_active": self.is_active,
            **self.read_lists(),
        }


@dataclass(slots=True)
class MacroForm(DefinitionForm):
    """The form that adds or edits a macro."""

    reply: str = ""
    reply_public: bool = True

    @classmethod
    def posted(cls, posted: FormData) -> MacroForm:
        """The form as it was sent; an unticked checkbox is not sent at all."""
        return cls(
            name=text(posted, "name").strip(),
            lists={"actions": text(posted, "actions")},
            reply=text(posted, "reply"),
            reply_public=bool(text(posted, "reply_public")),
        )

    @classmethod
    def of(cls, macro: Macro) -> MacroForm:
        """The form showing a stored macro."""
        return cls(
            name=macro.name,
            lists={"actions": shown_json(macro.actions)},
            reply=macro.reply or "",
            reply_public=macro.reply_public,
        )

    def body(self) -> dict[str, Any]:
        """The form as the API's body gives it: an empty reply is none."""
        return {
            "name": self.name,
            "reply": self.reply if self.reply.strip() else None,
            "reply_public": self.reply_public,
            **self.read_lists(),
        }


def _vocabulary() -> dict[str, Any]:
    # What conditions and actions can say, read from their models, for the forms' help.
    return {
        "condition_fields": {name: list(operators) for name, operators in CONDITION_MODELS.items()},
        "action_fields": {
            kind: [name for name in model.model_fields if name != "type"]
            for kind, model in ACTION_MODELS.items()
        },
        "events": list(TriggerEvent),
        "placeholders": _PLACEHOLDERS,
        "describe": describe_entry,
    }


async def _page(
    request: Request, context: Context, template: str, *, status_code: int = 200, **values: Any
) -> HTMLResponse:
    return await admin_page(
        request,
        context,
        template,
        status_code=status_code,
        notice=_NOTICES.get(request.query_params.get("saved", "")),
        **_vocabulary(),
        **values,
    )


# --- triggers --------------------------------------------------------------------------------------


async def _triggers_page(
    request: Request, context: Context, *, form: TriggerForm | None = None, status_code: int = 200
) -> HTMLResponse:
    found = await triggers.list_triggers(context.session)
    return await _page(
        request,
        context,
        "admin_triggers.html",
        status_code=status_code,
        triggers=found,
        form=form or TriggerForm(),
    )


async def _trigger_page(
    request: Request, context: Context, trigger: Trigger, form: TriggerForm, version: int, status_code: int
) -> HTMLResponse:
    return await _page(
        request,
        context,
        "admin_trigger.html",
        status_code=status_code,
        trigger=trigger,
        version=version,
        form=form,
    )


@router.get("/admin/triggers")
async def triggers_page(request: Request, context: SignedIn) -> Response:
    """The workspace's triggers in the order they run, and the form that adds one."""
    context.require(Action.manage_automation)
    return await _triggers_page(request, context)


@router.post("/admin/triggers")
async def add_trigger(request: Request, context: SignedIn) -> Response:
    """Add a trigger, as ``POST /api/v1/triggers`` does."""
    posted = await checked_form(request, context.settings)
    context.require(Action.manage_automation)
    form = TriggerForm.posted(posted)
    refused = await attempt(
        context,
        form,
        lambda: TriggerCreate.model_validate(form.body()),
        lambda body: triggers.create_trigger(
            context.session, context.clock, workspace_id=context.workspace_id, **body.service_fields()
        ),
    )
    if refused is not None:
        return await _triggers_page(request, context, form=form, status_code=refused)
    return await context.commit(saved(TRIGGERS_PATH, "added"))


@router.get("/admin/triggers/{trigger_id:int}")
async def trigger_page(trigger_id: int, request: Request, context: SignedIn) -> Response:
    """The form that changes one trigger, showing it as stored."""
    context.require(Action.manage_automation)
    trigger = await triggers.get_trigger(context.session, in_range(trigger_id, "trigger"))
    return await _trigger_page(request, context, trigger, TriggerForm.of(trigger), trigger.version, 200)


async def _change_trigger(
    request: Request, context: Context, trigger_id: int, posted: FormData, form: TriggerForm | None
) -> Response:
    # A whole form (``form``) or only the switch (None: the posted ``is_active``) changes the trigger.
    context.require(Action.manage_automation)
    # Another workspace's trigger is not found, as in the API.
    trigger = await triggers.get_trigger(context.session, in_range(trigger_id, "trigger"))
    version = posted_version(posted)
    shown = form or TriggerForm.of(trigger)
    if version is None:
        shown.problem = MISSING_VERSION
        return await _trigger_page(request, context, trigger, shown, trigger.version, 422)
    values: dict[str, Any] = {"is_active": bool(text(posted, "is_active"))} if form is None else form.body()
    refused = await attempt(
        context,
        shown,
        lambda: named_fields(TriggerUpdate.model_validate(values)),
        lambda changes: triggers.update_trigger(
            context.session, context.clock, trigger, changes, expected_version=version
        ),
    )
    if refused is not None:
        trigger = await triggers.get_trigger(context.session, trigger_id)
        return await _trigger_page(request, context, trigger, shown, version, refused)
    notice = "changed" if form is not None else ("on" if values["is_active"] else "off")
    return await context.commit(saved(TRIGGERS_PATH, notice))


@router.post("/admin/triggers/{trigger_id:int}")
async def change_trigger(trigger_id: int, request: Request, context: SignedIn) -> Response:
    """Change a trigger, as ``PATCH /api/v1/triggers/{id}`` does with the whole trigger given."""
    posted = await checked_form(request, context.settings)
    return await _change_trigger(request, context, trigger_id, posted, TriggerForm.posted(posted))


@router.post("/admin/triggers/{trigger_id:int}/active")
async def switch_trigger(trigger_id: int, request: Request, context: SignedIn) -> Response:
    """Switch a trigger on (``is_active`` sent) or off, as ``PATCH /api/v1/triggers/{id}`` does with
    ``is_active``."""
    posted = await checked_form(request, context.settings)
    return await _change_trigger(request, context, trigger_id, posted, None)


@router.post("/admin/triggers/{trigger_id:int}/delete")
async def delete_trigger(trigger_id: int, request: Request, context: SignedIn) -> Response:
    """Delete a trigger, as ``DELETE /api/v1/triggers/{id}`` does."""
    await checked_form(request, context.settings)
    context.require(Action.manage_automation)
    trigger = await triggers.get_trigger(context.session, in_range(trigger_id, "trigger"))
    await triggers.delete_trigger(context.session, trigger)
    return await context.commit(saved(TRIGGERS_PATH, "deleted"))


# --- macros ----------------------------------------------------------------------------------------


async def _macros_page(
    request: Request, context: Context, *, form: MacroForm | None = None, status_code: int = 200
) -> HTMLResponse:
    found = await macros.list_macros(context.session)
    return await _page(
        request, context, "admin_macros.html", status_code=status_code, macros=found, form=form or MacroForm()
    )


async def _macro_page(
    request: Request, context: Context, macro: Macro, form: MacroForm, version: int, status_code: int
) -> HTMLResponse:
    return await _page(
        request, context, "admin_macro.html", status_code=status_code, macro=macro, version=version, form=form
    )


@router.get("/admin/macros")
async def macros_page(request: Request, context: SignedIn) -> Response:
    """The workspace's macros, and the form that adds one."""
    context.require(Action.manage_automation)
    return await _macros_page(request, context)


@router.post("/admin/macros")
async def add_macro(request: Request, context: SignedIn) -> Response:
    """Add a macro, as ``POST /api/v1/macros`` does."""
    posted = await checked_form(request, context.settings)
    context.require(Action.manage_automation)
    form = MacroForm.posted(posted)
    refused = await attempt(
        context,
        form,
        lambda: MacroCreate.model_validate(form.body()),
        lambda body: macros.create_macro(
            context.session, context.clock, workspace_id=context.workspace_id, **body.service_fields()
        ),
    )
    if refused is not None:
        return await _macros_page(request, context, form=form, status_code=refused)
    return await context.commit(saved(MACROS_PATH, "added"))


@router.get("/admin/macros/{macro_id:int}")
async def macro_page(macro_id: int, request: Request, context: SignedIn) -> Response:
    """The form that changes one macro, showing it as stored."""
    context.require(Action.manage_automation)
    macro = await macros.get_macro(context.session, in_range(macro_id, "macro"))
    return await _macro_page(request, context, macro, MacroForm.of(macro), macro.version, 200)


@router.post("/admin/macros/{macro_id:int}")
async def change_macro(macro_id: int, request: Request, context: SignedIn) -> Response:
    """Change a macro, as ``PATCH /api/v1/macros/{id}`` does with the whole macro given."""
    posted = await checked_form(request, context.settings)
    context.require(Action.manage_automation)
    # Another workspace's macro is not found, as in the API.
    macro = await macros.get_macro(context.session, in_range(macro_id, "macro"))
    form = MacroForm.posted(posted)
    version = posted_version(posted)
    if version is None:
        form.problem = MISSING_VERSION
        return await _macro_page(request, context, macro, form, macro.version, 422)
    refused = await attempt(
        context,
        form,
        lambda: named_fields(MacroUpdate.model_validate(form.body())),
        lambda changes: macros.update_macro(
            context.session, context.clock, macro, changes, expected_version=version
        ),
    )
    if refused is not None:
        macro = await macros.get_macro(context.session, macro_id)
        return await _macro_page(request, context, macro, form, version, refused)
    return await context.commit(saved(MACROS_PATH, "changed"))


@router.post("/admin/macros/{macro_id:int}/delete")
async def delete_macro(macro_id: int, request: Request, context: SignedIn) -> Response:
    """Delete a macro, as ``DELETE /api/v1/macros/{id}`` does."""
    await checked_form(request, context.settings)
    context.require(Action.manage_automation)
    macro = await macros.get_macro(context.session, in_range(macro_id, "macro"))
    await macros.delete_macro(context.session, macro)
    return await context.commit(saved(MACROS_PATH, "deleted"))
