"""The workspace's category strategies publish which keys are valid, as the server checks them.

Pydantic would publish the key pattern as ``patternProperties``, which leaves any other key allowed;
the server refuses a key that is not a category slug, so the pattern belongs in ``propertyNames``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from supportdesk.workspaces.schemas import WorkspaceUpdate
from tests.fixtures.openapi import published_openapi


@pytest.fixture(scope="module")
def strategies_schema() -> dict[str, Any]:
    published = published_openapi()
    strategies: dict[str, Any] = published["components"]["schemas"]["WorkspaceUpdate"]["properties"][
        "category_strategies"
    ]
    return strategies


def test_the_key_pattern_is_published_as_property_names(strategies_schema: dict[str, Any]) -> None:
    assert "patternProperties" not in strategies_schema
    names = strategies_schema["propertyNames"]
    assert names["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_-]*$"
    assert (names["minLength"], names["maxLength"]) == (1, 64)
    assert strategies_schema["additionalProperties"] == {"$ref": "#/components/schemas/AssignmentStrategy"}


@pytest.mark.parametrize("key", ["billing", "Billing", "2fa", "tier-1_support"])
def test_a_key_the_pattern_admits_is_accepted(strategies_schema: dict[str, Any], key: str) -> None:
    assert re.search(strategies_schema["propertyNames"]["pattern"], key)
    WorkspaceUpdate.model_validate({"category_strategies": {key: "round_robin"}})


@pytest.mark.parametrize("key", ["-billing", "_x", "bil ling", "bill/ing", "é"])
def test_a_key_the_pattern_refuses_is_refused(strategies_schema: dict[str, Any], key: str) -> None:
    assert not re.search(strategies_schema["propertyNames"]["pattern"], key)
    with pytest.raises(ValidationError):
        WorkspaceUpdate.model_validate({"category_strategies": {key: "round_robin"}})
