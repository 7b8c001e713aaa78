"""The actions of triggers and macros: one model per kind of action, and the categories a definition
names. No I/O.

Actions are stored as JSON and validated by the models below. They form a union discriminated by
``type``, dispatched by hand (:func:`_dispatch_action`) so that error locations read like the JSON they
point at (``actions.0.value``) and an unknown type is reported at its own key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, WrapValidator, model_validator
from pydantic_core import PydanticCustomError

from supportdesk.automation.conditions import CategoryIn, CategoryIs, Condition
from supportdesk.automation.validation import field_error, literals
from supportdesk.core.permissions import Role
from supportdesk.core.schemas import BodyId, Category, RequestModel, StrictBoolean, Tag, Text
from supportdesk.tickets.models import Priority, TicketStatus

Tags = Annotated[list[Tag], Field(min_length=1, max_length=20)]


class SetPriority(RequestModel):
    type: Literal["set_priority"]
    value: Priority


class SetStatus(RequestModel):
    type: Literal["set_status"]
    value: TicketStatus


class SetCategory(RequestModel):
    type: Literal["set_category"]
    value: Category


class AddTags(RequestModel):
    type: Literal["add_tags"]
    tags: Tags


class RemoveTags(RequestModel):
    type: Literal["remove_tags"]
    tags: Tags


class Assign(RequestModel):
    """Assign to one agent (``agent_id``), or by the workspace's automatic assignment (``strategy``)."""

    type: Literal["assign"]
    agent_id: BodyId | None = None
    strategy: Literal["auto"] | None = None

    @model_validator(mode="after")
    def _one_assignee(self) -> Assign:
        if (self.agent_id is None) == (self.strategy is None):
            raise field_error(
                ("agent_id",),
                "agent-or-strategy",
                'Give either agent_id or "strategy": "auto".',
                self.agent_id,
            )
        return self


class AddNote(RequestModel):
    """An internal comment."""

    type: Literal["add_note"]
    content: Annotated[str, Text(min_length=1, max_length=10_000)]


class Notify(RequestModel):
    """Notify the ticket's assignee, every active user with one of ``roles``, and/or ``user_ids``."""

    type: Literal["notify"]
    assignee: StrictBoolean = False
    roles: Annotated[list[Role], Field(max_length=4)] = Field(default_factory=list)
    user_ids: Annotated[list[BodyId], Field(max_length=50)] = Field(default_factory=list)
    message: Annotated[str, Text(min_length=1, max_length=1000)] | None = None

    @model_validator(mode="after")
    def _someone(self) -> Notify:
        if not (self.assignee or self.roles or self.user_ids):
            raise field_error(
                ("assignee",), "no-recipient", "Notify the assignee, roles or user_ids.", self.assignee
            )
        return self


_ACTION_TYPES: tuple[type[RequestModel], ...] = (
    SetPriority,
    SetStatus,
    SetCategory,
    AddTags,
    RemoveTags,
    Assign,
    AddNote,
    Notify,
)
ACTION_MODELS: Mapping[str, type[RequestModel]] = {
    literals(model, "type")[0]: model for model in _ACTION_TYPES
}


def _dispatch_action(value: Any, handler: Callable[[Any], Any]) -> Any:
    if not isinstance(value, dict):
        if isinstance(value, _ACTION_TYPES):
            return value
        raise PydanticCustomError("model_type", "Give an action as an object with a type.")
    if "type" not in value:
        raise field_error(("type",), "missing", "Give the action's type.", value)
    model = ACTION_MODELS.get(value["type"]) if isinstance(value["type"], str) else None
    if model is None:
        known = ", ".join(ACTION_MODELS)
        message = f"Unknown action; use one of: {known}."
        raise field_error(("type",), "unknown-action", message, value["type"])
    return model.model_validate(value)


_Actions = SetPriority | SetStatus | SetCategory | AddTags | RemoveTags | Assign | AddNote | Notify
Action = Annotated[_Actions, Field(discriminator="type"), WrapValidator(_dispatch_action)]
"""One action: ``{"type": ..., ...}``."""


def categories_named(
    conditions: Iterable[tuple[str, Sequence[Condition]]], actions: Sequence[Action]
) -> list[tuple[str, str]]:
    """Every category the conditions and actions name, with its location, e.g. ``conditions.0.value.1``."""
    named: list[tuple[str, str]] = []
    for prefix, group in conditions:
        for index, condition in enumerate(group):
            if isinstance(condition, CategoryIs):
                named.append((f"{prefix}.{index}.value", condition.value))
            elif isinstance(condition, CategoryIn):
                named.extend(
                    (f"{prefix}.{index}.value.{position}", value)
                    for position, value in enumerate(condition.value)
                )
    named.extend(
        (f"actions.{index}.value", action.value)
        for index, action in enumerate(actions)
        if isinstance(action, SetCategory)
    )
    return named
