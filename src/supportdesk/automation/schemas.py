"""Request and response bodies of the trigger and macro API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from supportdesk.automation.actions import Action
from supportdesk.automation.conditions import Condition
from supportdesk.automation.models import TriggerEvent
from supportdesk.automation.templates import ReplyTemplateError, check_reply_template
from supportdesk.core.schemas import (
    Integer,
    PatchModel,
    RequestModel,
    ResponseModel,
    StrictBoolean,
    Text,
)

Name = Annotated[str, Text(strip_whitespace=True, min_length=1, max_length=100)]
Conditions = Annotated[list[Condition], Field(max_length=50)]
Actions = Annotated[list[Action], Field(min_length=1, max_length=20)]
Position = Annotated[int, Integer(ge=0, le=1_000_000)]
# Not stripped: leading and trailing blank lines are part of how a reply reads.
Reply = Annotated[str, Text(strip_whitespace=False, min_length=1, max_length=10_000)]


def _checked_reply(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.strip():
        raise PydanticCustomError("string_too_short", "A reply needs some text; leave it out for none.")
    try:
        check_reply_template(value)
    except ReplyTemplateError as error:
        raise PydanticCustomError(error.reason, "{message}", {"message": error.message}) from None
    return value


class TriggerCreate(RequestModel):
    name: Name
    event: TriggerEvent
    conditions: Conditions = Field(default_factory=list)
    any_conditions: Conditions = Field(
        default_factory=list, description="When not empty, at least one of these must hold too."
    )
    actions: Actions
    is_active: StrictBoolean = True
    position: Position = Field(default=0, description="Triggers run in position order, then by id.")

    def service_fields(self) -> dict[str, Any]:
        """The trigger as ``triggers.create_trigger`` takes it: conditions and actions as models."""
        return {name: getattr(self, name) for name in type(self).model_fields}


class TriggerUpdate(PatchModel):
    name: Name | None = None
    event: TriggerEvent | None = None
    conditions: Conditions | None = None
    any_conditions: Conditions | None = None
    actions: Actions | None = None
    is_active: StrictBoolean | None = None
    position: Position | None = None


class TriggerOut(ResponseModel):
    id: int
    name: str
    event: TriggerEvent
    conditions: list[Condition]
    any_conditions: list[Condition]
    actions: list[Action]
    is_active: bool
    position: int
    created_at: datetime
    updated_at: datetime
    version: int


def _actions_or_reply(schema: dict[str, Any]) -> None:
    # The service refuses a macro with neither actions nor a reply ("empty-macro"); published here,
    # the rule tells clients (and generated tests) which bodies are valid before they are sent.
    schema["anyOf"] = [
        {"required": ["actions"], "properties": {"actions": {"minItems": 1}}},
        {"required": ["reply"], "properties": {"reply": {"type": "string"}}},
    ]


class MacroCreate(RequestModel):
    """A macro needs actions, a reply or both."""

    model_config = ConfigDict(json_schema_extra=_actions_or_reply)

    name: Name
    actions: Annotated[list[Action], Field(max_length=20)] = Field(default_factory=list)
    reply: Reply | None = Field(
        default=None,
        description="A canned reply with placeholders: {{ customer.name }}, {{ customer.email }}, "
        "{{ ticket.number }}, {{ ticket.title }}, {{ agent.name }}.",
    )
    reply_public: StrictBoolean = Field(default=True, description="Post the reply publicly, or as a note.")

    _reply = field_validator("reply")(_checked_reply)

    def service_fields(self) -> dict[str, Any]:
        """The macro as ``macros.create_macro`` takes it: actions as models."""
        return {name: getattr(self, name) for name in type(self).model_fields}


class MacroUpdate(PatchModel):
    __nullable__ = frozenset({"reply"})

    name: Name | None = None
    actions: Annotated[list[Action], Field(max_length=20)] | None = None
    reply: Reply | None = None
    reply_public: StrictBoolean | None = None

    _reply = field_validator("reply")(_checked_reply)


class MacroOut(ResponseModel):
    id: int
    name: str
    actions: list[Action]
    reply: str | None
    reply_public: bool
    created_at: datetime
    updated_at: datetime
    version: int
