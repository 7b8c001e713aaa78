"""Pure automation rules: trigger conditions and the facts they read, the actions of triggers and
macros, and macro reply templates. No I/O.

Conditions and actions are stored as JSON and validated by the models below. Each is a member of a
discriminated union (conditions by ``field``, then ``operator``; actions by ``type``). The unions are
dispatched by hand (:func:`_dispatch_condition`, :func:`_dispatch_action`) so that error locations
read like the JSON they point at (``conditions.0.value``) instead of carrying pydantic's union tags,
and so that an unknown field, operator or type is reported at its own key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment
from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    StringConstraints,
    ValidationError,
    WrapValidator,
    model_validator,
)
from pydantic import Tag as UnionTag  # ours is a ticket tag
from pydantic_core import InitErrorDetails, PydanticCustomError

from supportdesk.automation.models import TriggerEvent
from supportdesk.core.permissions import Role
from supportdesk.core.schemas import BodyId, Category, RequestModel, StrictBoolean, Tag
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


def _field_error(loc: tuple[str | int, ...], kind: str, message: str, value: Any) -> ValidationError:
    # Raised inside a validator, a ValidationError's errors keep their locations (relative to the value
    # being validated), which is how the dispatchers name `field`, `operator` or `type` precisely.
    error = PydanticCustomError(kind, "{message}", {"message": message})
    return ValidationError.from_exception_data(
        "automation", [InitErrorDetails(type=error, loc=loc, input=value)]
    )


# --- conditions ----------------------------------------------------------------------------------

TextValue = Annotated[str, StringConstraints(min_length=1, max_length=500)]
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


def _literals(model: type[BaseModel], name: str) -> tuple[str, ...]:
    return get_args(model.model_fields[name].annotation)


# field -> operator -> model, read from the models' own literals so the table cannot drift from them.
CONDITION_MODELS: Mapping[str, Mapping[str, type[RequestModel]]] = {
    field: {
        operator: model
        for model in _CONDITION_TYPES
        if field in _literals(model, "field")
        for operator in _literals(model, "operator")
    }
    for field in dict.fromkeys(field for model in _CONDITION_TYPES for field in _literals(model, "field"))
}


def _dispatch_condition(value: Any, handler: Callable[[Any], Any]) -> Any:
    if not isinstance(value, dict):
        if isinstance(value, _CONDITION_TYPES):
            return value
        raise PydanticCustomError("model_type", "Give a condition as an object: field, operator, value.")
    if "field" not in value:
        raise _field_error(("field",), "missing", "Name the field the condition looks at.", value)
    operators = CONDITION_MODELS.get(value["field"]) if isinstance(value["field"], str) else None
    if operators is None:
        known = ", ".join(CONDITION_MODELS)
        raise _field_error(
            ("field",), "unknown-field", f"Unknown field; use one of: {known}.", value["field"]
        )
    if "operator" not in value:
        raise _field_error(("operator",), "missing", "Give the condition's operator.", value)
    model = operators.get(value["operator"]) if isinstance(value["operator"], str) else None
    if model is None:
        known = ", ".join(operators)
        raise _field_error(
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
    if event is TriggerEvent.commented:
        return []
    return [
        index
        for index, condition in enumerate(conditions)
        if isinstance(condition, TextCondition) and condition.field == "comment"
    ]


# --- actions -------------------------------------------------------------------------------------

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
            raise _field_error(
                ("agent_id",),
                "agent-or-strategy",
                'Give either agent_id or "strategy": "auto".',
                self.agent_id,
            )
        return self


class AddNote(RequestModel):
    """An internal comment."""

    type: Literal["add_note"]
    content: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


class Notify(RequestModel):
    """Notify the ticket's assignee, every active user with one of ``roles``, and/or ``user_ids``."""

    type: Literal["notify"]
    assignee: StrictBoolean = False
    roles: Annotated[list[Role], Field(max_length=4)] = Field(default_factory=list)
    user_ids: Annotated[list[BodyId], Field(max_length=50)] = Field(default_factory=list)
    message: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None

    @model_validator(mode="after")
    def _someone(self) -> Notify:
        if not (self.assignee or self.roles or self.user_ids):
            raise _field_error(
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
    _literals(model, "type")[0]: model for model in _ACTION_TYPES
}


def _dispatch_action(value: Any, handler: Callable[[Any], Any]) -> Any:
    if not isinstance(value, dict):
        if isinstance(value, _ACTION_TYPES):
            return value
        raise PydanticCustomError("model_type", "Give an action as an object with a type.")
    if "type" not in value:
        raise _field_error(("type",), "missing", "Give the action's type.", value)
    model = ACTION_MODELS.get(value["type"]) if isinstance(value["type"], str) else None
    if model is None:
        known = ", ".join(ACTION_MODELS)
        message = f"Unknown action; use one of: {known}."
        raise _field_error(("type",), "unknown-action", message, value["type"])
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


# --- macro replies -------------------------------------------------------------------------------

REPLY_PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    "customer": frozenset({"name", "email"}),
    "ticket": frozenset({"number", "title"}),
    "agent": frozenset({"name"}),
}
# Filters that only reshape text; anything that loops, computes or reaches into objects is refused.
REPLY_FILTERS = frozenset({"default", "upper", "lower", "title", "capitalize", "trim"})
# The template language a reply may use: placeholders, `if` blocks, those filters, and comparisons.
_REPLY_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Const,
    nodes.If,
    nodes.Filter,
    nodes.CondExpr,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Compare,
    nodes.Operand,
    nodes.Concat,
)
_REPLY_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class ReplyTemplateError(ValueError):
    """A reply template that cannot be saved or rendered; ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class ReplyValues:
    """The values a reply's placeholders stand for. Missing customer values are empty text."""

    customer_name: str = ""
    customer_email: str = ""
    ticket_number: int = 0
    ticket_title: str = ""
    agent_name: str = ""

    def context(self) -> dict[str, dict[str, Any]]:
        return {
            "customer": {"name": self.customer_name, "email": self.customer_email},
            "ticket": {"number": self.ticket_number, "title": self.ticket_title},
            "agent": {"name": self.agent_name},
        }


_SAMPLE = ReplyValues("Maria Lopez", "maria@example.com", 42, "Cannot export", "Sam Agent")
_KNOWN = ", ".join(f"{root}.{name}" for root, names in REPLY_PLACEHOLDERS.items() for name in sorted(names))


def _unknown_placeholder(name: str) -> ReplyTemplateError:
    return ReplyTemplateError("unknown-placeholder", f"Unknown placeholder {name}; use one of: {_KNOWN}.")


def _check_node(node: nodes.Node, attribute_of: set[int]) -> None:
    if not isinstance(node, _REPLY_NODES):
        raise ReplyTemplateError(
            "unsupported-template",
            f"Replies support placeholders, if blocks and the filters {', '.join(sorted(REPLY_FILTERS))}; "
            f"not {type(node).__name__.lower()}.",
        )
    if isinstance(node, nodes.Filter) and node.name not in REPLY_FILTERS:
        raise ReplyTemplateError("unsupported-template", f"The filter {node.name} is not available.")
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        # Only `root.name` (or `root["name"]`): nothing reaches past a placeholder into its value.
        if not isinstance(node.node, nodes.Name):
            raise ReplyTemplateError("unsupported-template", "A placeholder's value cannot be looked into.")
        root = node.node.name
        key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", "?")
        if root not in REPLY_PLACEHOLDERS or key not in REPLY_PLACEHOLDERS[root]:
            raise _unknown_placeholder(f"{root}.{key}")
        attribute_of.add(id(node.node))
    elif isinstance(node, nodes.Name) and id(node) not in attribute_of:
        raise _unknown_placeholder(node.name)


def check_reply_template(source: str) -> None:
    """Refuse a reply template that does not parse, names an unknown placeholder or uses more than
    placeholders, ``if`` blocks and a few text filters; raises :class:`ReplyTemplateError`."""
    try:
        tree = _REPLY_ENV.parse(source)
    except TemplateError as error:
        raise ReplyTemplateError("template-syntax", f"The reply does not parse: {error.message}") from None
    except RecursionError:  # absurdly deep nesting
        raise ReplyTemplateError("template-syntax", "The reply nests too deeply.") from None
    attribute_of: set[int] = set()
    # Parents come before children in the walk, so a placeholder's object name is known as one.
    for node in [tree, *tree.find_all(nodes.Node)]:
        _check_node(node, attribute_of)
    render_reply(source, _SAMPLE)


def render_reply(source: str, values: ReplyValues) -> str:
    """The reply with its placeholders filled in."""
    try:
        return _REPLY_ENV.from_string(source).render(values.context())
    except TemplateError as error:
        raise ReplyTemplateError("template-error", f"The reply cannot be rendered: {error.message}") from None
