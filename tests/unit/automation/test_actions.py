"""The actions of triggers and macros: the JSON shapes accepted, and where an invalid one is reported."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from supportdesk.automation.actions import Action, AddTags, Assign, Notify, categories_named
from supportdesk.automation.conditions import Condition as ConditionType

ACTIONS = TypeAdapter(list[Action])
CONDITIONS = TypeAdapter(list[ConditionType])


@pytest.mark.parametrize(
    "given",
    [
        pytest.param({"type": "set_priority", "value": "critical"}, id="set-priority"),
        pytest.param({"type": "set_status", "value": "pending"}, id="set-status"),
        pytest.param({"type": "set_category", "value": "billing"}, id="set-category"),
        pytest.param({"type": "add_tags", "tags": ["refund", "vip"]}, id="add-tags"),
        pytest.param({"type": "remove_tags", "tags": ["spam"]}, id="remove-tags"),
        pytest.param({"type": "assign", "agent_id": 7}, id="assign-an-agent"),
        pytest.param({"type": "assign", "strategy": "auto"}, id="assign-automatically"),
        pytest.param({"type": "add_note", "content": "Check the invoice"}, id="add-note"),
        pytest.param({"type": "notify", "assignee": True}, id="notify-the-assignee"),
        pytest.param({"type": "notify", "roles": ["senior_agent"], "message": "Look"}, id="notify-roles"),
        pytest.param({"type": "notify", "user_ids": [3, 4]}, id="notify-people"),
    ],
)
def test_every_action_type_round_trips(given: dict[str, Any]) -> None:
    dumped = ACTIONS.dump_python(ACTIONS.validate_python([given]), mode="json", exclude_defaults=True)
    assert dumped == [given]


def test_tags_are_normalised_like_ticket_tags() -> None:
    (action,) = ACTIONS.validate_python([{"type": "add_tags", "tags": ["Refund"]}])
    assert isinstance(action, AddTags)
    assert action.tags == ["refund"]


def test_an_automatic_assignment_names_no_agent() -> None:
    (action,) = ACTIONS.validate_python([{"type": "assign", "strategy": "auto"}])
    assert action == Assign(type="assign", strategy="auto")


def test_notify_needs_only_one_kind_of_recipient() -> None:
    (action,) = ACTIONS.validate_python([{"type": "notify", "assignee": True}])
    assert isinstance(action, Notify)
    assert (action.roles, action.user_ids, action.message) == ([], [], None)


@pytest.mark.parametrize(
    ("given", "location", "error_type"),
    [
        pytest.param({"type": "escalate"}, (0, "type"), "unknown-action", id="unknown-type"),
        pytest.param({"value": "high"}, (0, "type"), "missing", id="no-type"),
        pytest.param(
            {"type": "set_priority", "value": "urgent"}, (0, "value"), "enum", id="unknown-priority"
        ),
        pytest.param({"type": "set_status", "value": "done"}, (0, "value"), "enum", id="unknown-status"),
        pytest.param({"type": "add_tags", "tags": []}, (0, "tags"), "too_short", id="no-tags"),
        pytest.param({"type": "assign"}, (0, "agent_id"), "agent-or-strategy", id="assign-to-nobody"),
        pytest.param(
            {"type": "assign", "agent_id": 3, "strategy": "auto"},
            (0, "agent_id"),
            "agent-or-strategy",
            id="assign-two-ways",
        ),
        pytest.param(
            {"type": "assign", "strategy": "random"}, (0, "strategy"), "literal_error", id="unknown-strategy"
        ),
        pytest.param({"type": "assign", "agent_id": "7"}, (0, "agent_id"), "int_type", id="agent-id-as-text"),
        pytest.param({"type": "notify"}, (0, "assignee"), "no-recipient", id="notify-nobody"),
        pytest.param({"type": "notify", "roles": ["boss"]}, (0, "roles", 0), "enum", id="unknown-role"),
        pytest.param(
            {"type": "add_note", "content": ""}, (0, "content"), "string_too_short", id="empty-note"
        ),
        pytest.param(
            {"type": "set_priority", "value": "low", "when": "now"},
            (0, "when"),
            "extra_forbidden",
            id="unknown-key",
        ),
    ],
)
def test_an_invalid_action_is_reported_where_it_is_wrong(
    given: dict[str, Any], location: tuple[int | str, ...], error_type: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        ACTIONS.validate_python([given])
    assert (location, error_type) in [(error["loc"], error["type"]) for error in refused.value.errors()]


def test_the_categories_a_rule_names_are_found_with_their_location() -> None:
    conditions = CONDITIONS.validate_python(
        [
            {"field": "category", "operator": "is", "value": "billing"},
            {"field": "priority", "operator": "is", "value": "high"},
            {"field": "category", "operator": "not_in", "value": ["account", "hardware"]},
        ]
    )
    any_conditions = CONDITIONS.validate_python([{"field": "category", "operator": "is_not", "value": "x"}])
    actions = ACTIONS.validate_python(
        [{"type": "add_tags", "tags": ["a"]}, {"type": "set_category", "value": "refunds"}]
    )
    assert categories_named([("conditions", conditions), ("any_conditions", any_conditions)], actions) == [
        ("conditions.0.value", "billing"),
        ("conditions.2.value.0", "account"),
        ("conditions.2.value.1", "hardware"),
        ("any_conditions.0.value", "x"),
        ("actions.1.value", "refunds"),
    ]
