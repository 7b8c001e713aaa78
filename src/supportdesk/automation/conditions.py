"""Trigger conditions: the facts they read of a ticket, one model per kind of condition, and whether
a trigger's conditions hold. No I/O.

Conditions are stored as JSON and validated by the models below. Each is a member of a discriminated
union (by ``field``, then ``operator``), dispatched by hand (:func:`_dispatch_condition`) so that error
locations read like the JSON they point at (``conditions.0.value``) instead of carrying pydantic's
union tags, and so that an unknown field or operator is reported at its own key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, WrapValidator
from pydantic import Tag as UnionTag  # ours is a ticket tag
from pydantic_core import PydanticCustomError

from supportdesk.automation.models import TriggerEvent
from supportdesk.automation.validation import field_error, literals
from supportdesk.core.schemas import Category, RequestModel, Tag, Text
from supportdesk.people.models import Tier
from supportdesk.tickets.models import Channel, Priority, TicketStatus


@dataclass(frozen=True, slots=True)
class TriggerFacts:
    """What trigger conditions look at: a snapshot of a ticket (and the comment of a ``commented`` event)."""

    priority: Priority
    status: TicketStatus
    category: str
    tier: Tier | None  # the customer's; a ticket without customer has none
    tags: frozenset[str]
    channel: Channel
    title: str
    description: str
    comment: str | None = None

    @property
    def text(self) -> str:
        """Title, description and comment; one per line, so a phrase never spans two of them."""
        return "\n".join(part for part in (self.title, self.description, self.comment or "") if part)


TextValue = Annotated[str, Text(min_length=1, max_length=500)]
Choices = Annotated[list[Any], Field(min_length=1, max_length=50)]


class _Is(RequestModel):
    """``is`` / ``is_not`` one value of an enumerated field."""

    field: str
    operator: Literal["is", "is_not"]
    value: Any

    def holds(self, facts: TriggerFacts) -> bool:
        matched = getattr(facts, self.field) == self.value
        return matched if self.operator == "is" else not matched


class _In(RequestModel):
    """``in`` / ``not_in`` a list of values of an enumerated field."""

    field: str
    operator: Literal["in", "not_in"]
    value: Choices

    def holds(self, facts: TriggerFacts) -> bool:
        matched = getattr(facts, self.field) in self.value
        return matched if self.operator == "in" else not matched


class PriorityIs(_Is):
    field: Literal["priority"]
    value: Priority


class PriorityIn(_In):
    field: Literal["priority"]
    value: Annotated[list[Priority], Field(min_length=1, max_length=50)]


class StatusIs(_Is):
    field: Literal["status"]
    value: TicketStatus


class StatusIn(_In):
    field: Literal["status"]
    value: Annotated[list[TicketStatus], Field(min_length=1, max_length=50)]


class CategoryIs(_Is):
    field: Literal["category"]
    value: Category


class CategoryIn(_In):
    field: Literal["category"]
    value: Annotated[list[Category], Field(min_length=1, max_length=50)]


class TierIs(_Is):
    field: Literal["tier"]
    value: Tier


class TierIn(_In):
    field: Literal["tier"]
    value: Annotated[list[Tier], Field(min_length=1, max_length=50)]


class ChannelIs(_Is):
    field: Literal["channel"]
    value: Channel


class ChannelIn(_In):
    field: Literal["channel"]
    value: Annotated[list[Channel], Field(min_length=1, max_length=50)]


class TagsCondition(RequestModel):
    """The ticket has (``includes``) or lacks (``excludes``) a tag."""

    field: Literal["tags"]
    operator: Literal["includes", "excludes"]
    value: Tag

    def holds(self, facts: TriggerFacts) -> bool:
        return (self.value in facts.tags) is (self.operator == "includes")


class TextCondition(RequestModel):
    """A text field contains, or does not contain, a phrase; case does not matter."""

    field: Literal["title", "description", "comment", "text"]
    operator: Literal["contains", "not_contains"]
    value: TextValue

    def holds(self, facts: TriggerFacts) -> bool:
        text: str = facts.text if self.field == "text" else getattr(facts, self.field) or ""
        return (self.value.casefold() in text.casefold()) is (self.operator == "contains")


_CONDITION_TYPES: tuple[type[RequestModel], ...] = (
    PriorityIs,
    PriorityIn,
    StatusIs,
    StatusIn,
    CategoryIs,
    CategoryIn,
    TierIs,
    TierIn,
    ChannelIs,
    ChannelIn,
    TagsCondition,
    TextCondition,
)


# field -> operator -> model, read from the models' own literals so the table cannot drift from them.
CONDITION_MODELS: Mapping[str, Mapping[str, type[RequestModel]]] = {
    field: {
        operator: model
        for model in _CONDITION_TYPES
        if field in literals(model, "field")
        for operator in literals(model, "operator")
    }
    for field in dict.fromkeys(field for model in _CONDITION_TYPES for field in literals(model, "field"))
}


def _dispatch_condition(value: Any, handler: Callable[[Any], Any]) -> Any:
    if not isinstance(value, dict):
        if isinstance(value, _CONDITION_TYPES):
            return value
        raise PydanticCustomError("model_type", "Give a condition as an object: field, operator, value.")
    if "field" not in value:
        raise field_error(("field",), "missing", "Name the field the condition looks at.", value)
    operators = CONDITION_MODELS.get(value["field"]) if isinstance(value["field"], str) else None
    if operators is None:
        known = ", ".join(CONDITION_MODELS)
        raise field_error(("field",), "unknown-field", f"Unknown field; use one of: {known}.", value["field"])
    if "operator" not in value:
        raise field_error(("operator",), "missing", "Give the condition's operator.", value)
    model = operators.get(value["operator"]) if isinstance(value["operator"], str) else None
    if model is None:
        known = ", ".join(operators)
        raise field_error(
            ("operator",),
            "unknown-operator",
            f"Unknown operator for {value['field']}; use one of: {known}.",
            value["operator"],
        )
    return model.model_validate(value)


def _condition_tag(value: Any) -> str | None:
    # The member a condition is, by its model's name. Conditions given as JSON reach the union only
    # through the dispatcher, so this mostly sees models; it answers for JSON too, to be a true
    # discriminator.
    if not isinstance(value, dict):
        return type(value).__name__
    model = CONDITION_MODELS.get(str(value.get("field")), {}).get(str(value.get("operator")))
    return model.__name__ if model is not None else None


# A flat union tagged by model: OpenAPI's discriminator cannot describe a two-level one (field, then
# operator), so the published schema lists the members and the dispatcher tells them apart.
_Conditions = Annotated[
    Annotated[PriorityIs, UnionTag("PriorityIs")]
    | Annotated[PriorityIn, UnionTag("PriorityIn")]
    | Annotated[StatusIs, UnionTag("StatusIs")]
    | Annotated[StatusIn, UnionTag("StatusIn")]
    | Annotated[CategoryIs, UnionTag("CategoryIs")]
    | Annotated[CategoryIn, UnionTag("CategoryIn")]
    | Annotated[TierIs, UnionTag("TierIs")]
    | Annotated[TierIn, UnionTag("TierIn")]
    | Annotated[ChannelIs, UnionTag("ChannelIs")]
    | Annotated[ChannelIn, UnionTag("ChannelIn")]
    | Annotated[TagsCondition, UnionTag("TagsCondition")]
    | Annotated[TextCondition, UnionTag("TextCondition")],
    Discriminator(_condition_tag),
]
Condition = Annotated[_Conditions, WrapValidator(_dispatch_condition)]
"""One condition: ``{"field": ..., "operator": ..., "value": ...}``."""


def conditions_hold(
    conditions: Sequence[Condition], facts: TriggerFacts, *, any_of: Sequence[Condition] = ()
) -> bool:
    """Whether every condition holds and, when ``any_of`` is not empty, at least one of those."""
    return all(condition.holds(facts) for condition in conditions) and (
        not any_of or any(condition.holds(facts) for condition in any_of)
    )


def misplaced_comment_conditions(event: TriggerEvent, conditions: Sequence[Condition]) -> list[int]:
    """Indexes of conditions on the comment's text in a trigger that does not run on a comment."""
    if event == TriggerEvent.commented:
        return []
    return [
        index
        for index, condition in enumerate(conditions)
        if isinstance(condition, TextCondition) and condition.field == "comment"
    ]
