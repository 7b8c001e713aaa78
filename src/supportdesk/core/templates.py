"""Templates that admins write (macro replies, e-mails): a sandboxed jinja2 subset of placeholders, ``if``
blocks and a few text filters, checked when saved and rendered when used. No I/O.

The subset is small on purpose: a template can say what it needs to say, but cannot loop, compute, call
methods or reach past a placeholder into the objects behind it, so a workspace's admin can never make a
template read more than it is offered or render for long.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment

# Filters that only reshape text; anything that loops, computes or reaches into objects is refused.
TEXT_FILTERS = frozenset({"default", "upper", "lower", "title", "capitalize", "trim"})
# The template language: placeholders, `if` blocks, those filters, and comparisons.
_ALLOWED_NODES = (
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
_PLAIN = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_HTML = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True, keep_trailing_newline=True)


class TemplateRefused(ValueError):
    """A template that cannot be saved or rendered; ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool) -> Template:
    # Templates are few and rendered often (every e-mail of a kind uses the same source): parsing and
    # compiling once per process keeps rendering to a function call.
    return (_HTML if html else _PLAIN).from_string(source)


@dataclass(frozen=True)
class TemplateLanguage:
    """The placeholders one kind of template may use, and how its errors name it ("the reply")."""

    noun: str
    placeholders: Mapping[str, frozenset[str]]
    filters: frozenset[str] = field(default=TEXT_FILTERS)

    def known(self) -> str:
        return ", ".join(
            f"{root}.{name}" for root, names in self.placeholders.items() for name in sorted(names)
        )

    def check(self, source: str, sample: Mapping[str, Any], *, html: bool = False) -> None:
        """Refuse a template that does not parse, names an unknown placeholder or uses more than the
        language offers; then render it with ``sample`` values. Raises :class:`TemplateRefused`."""
        try:
            tree = _PLAIN.parse(source)
        except TemplateError as error:
            raise TemplateRefused(
                "template-syntax", f"{self.noun.capitalize()} does not parse: {error.message}"
            ) from None
        except RecursionError:  # absurdly deep nesting
            raise TemplateRefused("template-syntax", f"{self.noun.capitalize()} nests too deeply.") from None
        attribute_of: set[int] = set()
        # Parents come before children in the walk, so a placeholder's object name is known as one.
        for node in [tree, *tree.find_all(nodes.Node)]:
            self._check_node(node, attribute_of)
        self.render(source, sample, html=html)

    def render(self, source: str, context: Mapping[str, Any], *, html: bool = False) -> str:
        """The template with its placeholders filled in; HTML templates escape what they insert."""
        try:
            return _compiled(source, html).render(context)
        except TemplateError as error:
            raise TemplateRefused(
                "template-error", f"{self.noun.capitalize()} cannot be rendered: {error.message}"
            ) from None
        except (TypeError, ValueError, ArithmeticError, LookupError, RecursionError) as error:
            # A comparison of text with a number, say: the template's fault, whatever Python called it.
            raise TemplateRefused(
                "template-error", f"{self.noun.capitalize()} cannot be rendered: {error}"
            ) from None

    def _unknown_placeholder(self, name: str) -> TemplateRefused:
        return TemplateRefused(
            "unknown-placeholder", f"Unknown placeholder {name}; use one of: {self.known()}."
        )

    def _check_node(self, node: nodes.Node, attribute_of: set[int]) -> None:
        if not isinstance(node, _ALLOWED_NODES):
            offered = ", ".join(sorted(self.filters))
            raise TemplateRefused(
                "unsupported-template",
                f"Templates support placeholders, if blocks and the filters {offered}; "
                f"not {type(node).__name__.lower()}.",
            )
        if isinstance(node, nodes.Filter) and node.name not in self.filters:
            raise TemplateRefused("unsupported-template", f"The filter {node.name} is not available.")
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            # Only `root.name` (or `root["name"]`): nothing reaches past a placeholder into its value.
            if not isinstance(node.node, nodes.Name):
                raise TemplateRefused("unsupported-template", "A placeholder's value cannot be looked into.")
            root = node.node.name
            key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", "?")
            if root not in self.placeholders or key not in self.placeholders[root]:
                raise self._unknown_placeholder(f"{root}.{key}")
            attribute_of.add(id(node.node))
        elif isinstance(node, nodes.Name) and id(node) not in attribute_of:
            raise self._unknown_placeholder(node.name)
