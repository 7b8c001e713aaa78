"""Enum fields take their string values, and the code that reads them compares by equality.

A model given ``status="open"`` holds the member once the attribute is set, but code that runs before
(or without) the conversion may still see the plain string. ``"open" == TicketStatus.open`` holds for a
``StrEnum``; ``"open" is TicketStatus.open`` never does. The scan below keeps identity comparisons with
enum members out of the rules and the services, where model values arrive.
"""

from __future__ import annotations

import ast
import importlib
from enum import Enum
from pathlib import Path
from types import ModuleType

import pytest

import supportdesk
from supportdesk.db import defaults  # noqa: F401  (the conversion of string values is installed here)
from supportdesk.people.models import Customer, Tier
from supportdesk.sla.models import SlaPolicy
from supportdesk.tickets.models import Priority, Ticket, TicketStatus

PACKAGE = Path(supportdesk.__file__).parent
# The modules that read model values: each domain's rules, services, jobs and models.
SCANNED_STEMS = frozenset(
    {"rules", "service", "tasks", "flows", "models", "defaults"}
    # automation/ keeps its rules and its service in modules named for what they hold.
    | {"conditions", "actions", "templates", "validation", "checks", "triggers", "engine", "macros"}
)


def test_a_string_value_becomes_the_member() -> None:
    ticket = Ticket(status="pending", priority="low")
    assert ticket.status is TicketStatus.pending
    assert ticket.priority is Priority.low
    ticket.status = "closed"  # type: ignore[assignment]
    assert ticket.status is TicketStatus.closed


def test_members_and_none_are_kept_as_they_are() -> None:
    assert Customer(tier=Tier.premium).tier is Tier.premium
    assert SlaPolicy(tier=None).tier is None


def test_an_unknown_value_fails_where_it_is_set() -> None:
    with pytest.raises(ValueError, match="urgentest"):
        Ticket(priority="urgentest")


def _scanned_modules() -> list[str]:
    paths = sorted(
        path for path in PACKAGE.rglob("*.py") if path.stem in SCANNED_STEMS or path.stem.endswith("_service")
    )
    return [
        ".".join(("supportdesk", *path.relative_to(PACKAGE).with_suffix("").parts))
        for path in paths
        if "migrations" not in path.parts
    ]


def identity_comparisons_with_enum_members(source: str, module: ModuleType) -> list[str]:
    """``x is Enum.member`` and ``x is not Enum.member`` in ``source``, as "line: code"; the enum's
    name is looked up in ``module``, so aliases (``S = TicketStatus``) count too."""

    def is_enum_member(node: ast.expr) -> bool:
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
            return False
        owner = getattr(module, node.value.id, None)
        return isinstance(owner, type) and issubclass(owner, Enum)

    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for index, operator in enumerate(node.ops):
            if isinstance(operator, ast.Is | ast.IsNot) and (
                is_enum_member(operands[index]) or is_enum_member(operands[index + 1])
            ):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_scan_finds_identity_comparisons() -> None:
    module = ModuleType("example")
    module.__dict__.update(TicketStatus=TicketStatus, S=TicketStatus, Path=Path)
    source = (
        "a = status is TicketStatus.open\n"
        "b = S.closed is not status\n"
        "c = status == TicketStatus.open\n"
        "d = x is None\n"
        "e = x is Path.home\n"
    )
    assert identity_comparisons_with_enum_members(source, module) == [
        "1: status is TicketStatus.open",
        "2: S.closed is not status",
    ]


@pytest.mark.parametrize("module_name", _scanned_modules())
def test_enum_members_are_compared_by_equality(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__file__ is not None
    source = Path(module.__file__).read_text(encoding="utf-8")
    assert identity_comparisons_with_enum_members(source, module) == [], (
        "compare enum values with == / != (a model given a string holds the plain string)"
    )
