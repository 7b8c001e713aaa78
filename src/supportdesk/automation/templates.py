"""Macro reply templates: a sandboxed jinja2 subset (placeholders, ``if`` blocks, a few text filters),
checked when a macro is saved and rendered when it is applied. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment

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
