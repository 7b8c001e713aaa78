"""Trigger conditions: every operator on every kind of field, how conditions combine, and how an
invalid condition is reported (the location names the key that is wrong)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from supportdesk.automation.conditions import (
    CONDITION_MODELS,
    Condition,
    TriggerFacts,
    conditions_hold,
    misplaced_comment_conditions,
)
from supportdesk.automation.models import TriggerEvent
from supportdesk.people.models import Tier
from supportdesk.tickets.models import Channel, Priority, TicketStatus

CONDITIONS = TypeAdapter(list[Condition])

FACTS = TriggerFacts(
    priority=Priority.high,
    status=TicketStatus.open,
    category="billing",
    tier=Tier.enterprise,
    tags=frozenset({"vip", "mobile"}),
    channel=Channel.email,
    title="Refund please",
    description="I was charged twice for March.",
    comment="Any news on this?",
)
NO_CUSTOMER = dataclasses.replace(FACTS, tier=None)
NO_COMMENT = dataclasses.replace(FACTS, comment=None)


def condition(field: str, operator: str, value: Any) -> Condition:
    return CONDITIONS.validate_python([{"field": field, "operator": operator, "value": value}])[0]


def case(
    field: str, operator: str, value: Any, expected: bool, name: str, facts: TriggerFacts = FACTS
) -> Any:
    return pytest.param(field, operator, value, facts, expected, id=name)


OPERATOR_CASES = [
    # priority (the ticket's is high)
    case("priority", "is", "high", True, "priority-is-its-own"),
    case("priority", "is", "low", False, "priority-is-another"),
    case("priority", "is_not", "low", True, "priority-is-not-another"),
    case("priority", "is_not", "high", False, "priority-is-not-its-own"),
    case("priority", "in", ["high", "critical"], True, "priority-in-a-list-with-it"),
    case("priority", "in", ["low", "medium"], False, "priority-in-a-list-without-it"),
    case("priority", "not_in", ["low", "medium"], True, "priority-not-in-a-list-without-it"),
    case("priority", "not_in", ["high"], False, "priority-not-in-a-list-with-it"),
    # status (open)
    case("status", "is", "open", True, "status-is-its-own"),
    case("status", "is", "pending", False, "status-is-another"),
    case("status", "is_not", "resolved", True, "status-is-not-another"),
    case("status", "is_not", "open", False, "status-is-not-its-own"),
    case("status", "in", ["open", "assigned"], True, "status-in-a-list-with-it"),
    case("status", "in", ["closed"], False, "status-in-a-list-without-it"),
    case("status", "not_in", ["resolved", "closed"], True, "status-not-in-a-list-without-it"),
    case("status", "not_in", ["open"], False, "status-not-in-a-list-with-it"),
    # category (billing)
    case("category", "is", "billing", True, "category-is-its-own"),
    case("category", "is", "Billing", True, "category-is-compared-lower-case"),
    case("category", "is", "technical", False, "category-is-another"),
    case("category", "is_not", "technical", True, "category-is-not-another"),
    case("category", "is_not", "billing", False, "category-is-not-its-own"),
    case("category", "in", ["account", "billing"], True, "category-in-a-list-with-it"),
    case("category", "in", ["account"], False, "category-in-a-list-without-it"),
    case("category", "not_in", ["account"], True, "category-not-in-a-list-without-it"),
    case("category", "not_in", ["billing"], False, "category-not-in-a-list-with-it"),
    # tier (enterprise; none without a customer)
    case("tier", "is", "enterprise", True, "tier-is-the-customers"),
    case("tier", "is", "free", False, "tier-is-another"),
    case("tier", "is_not", "free", True, "tier-is-not-another"),
    case("tier", "is_not", "enterprise", False, "tier-is-not-the-customers"),
    case("tier", "in", ["premium", "enterprise"], True, "tier-in-a-list-with-it"),
    case("tier", "in", ["free", "basic"], False, "tier-in-a-list-without-it"),
    case("tier", "not_in", ["free"], True, "tier-not-in-a-list-without-it"),
    case("tier", "not_in", ["enterprise"], False, "tier-not-in-a-list-with-it"),
    case("tier", "is", "free", False, "no-customer-has-no-tier", NO_CUSTOMER),
    case("tier", "is_not", "enterprise", True, "no-customer-is-not-any-tier", NO_CUSTOMER),
    case("tier", "in", list(Tier), False, "no-customer-is-in-no-list", NO_CUSTOMER),
    case("tier", "not_in", list(Tier), True, "no-customer-is-not-in-any-list", NO_CUSTOMER),
    # channel (email)
    case("channel", "is", "email", True, "channel-is-its-own"),
    case("channel", "is", "portal", False, "channel-is-another"),
    case("channel", "is_not", "api", True, "channel-is-not-another"),
    case("channel", "is_not", "email", False, "channel-is-not-its-own"),
    case("channel", "in", ["email", "portal"], True, "channel-in-a-list-with-it"),
    case("channel", "in", ["api"], False, "channel-in-a-list-without-it"),
    case("channel", "not_in", ["api"], True, "channel-not-in-a-list-without-it"),
    case("channel", "not_in", ["email"], False, "channel-not-in-a-list-with-it"),
    # tags (vip, mobile)
    case("tags", "includes", "vip", True, "tags-include-one-it-has"),
    case("tags", "includes", "VIP", True, "tags-are-compared-lower-case"),
    case("tags", "includes", "refund", False, "tags-include-one-it-lacks"),
    case("tags", "excludes", "refund", True, "tags-exclude-one-it-lacks"),
    case("tags", "excludes", "vip", False, "tags-exclude-one-it-has"),
    # text, case-insensitive
    case("title", "contains", "REFUND", True, "title-contains-in-any-case"),
    case("title", "contains", "invoice", False, "title-lacks-a-phrase"),
    case("title", "not_contains", "invoice", True, "title-does-not-contain-a-missing-phrase"),
    case("title", "not_contains", "refund", False, "title-does-not-contain-a-present-phrase"),
    case("title", "contains", "charged", False, "title-does-not-see-the-description"),
    case("description", "contains", "charged twice", True, "description-contains"),
    case("description", "not_contains", "charged", False, "description-not-contains"),
    case("comment", "contains", "news", True, "comment-contains"),
    case("comment", "not_contains", "news", False, "comment-not-contains"),
    case("comment", "contains", "news", False, "no-comment-contains-nothing", NO_COMMENT),
    case("comment", "not_contains", "news", True, "no-comment-lacks-everything", NO_COMMENT),
    case("text", "contains", "refund", True, "text-sees-the-title"),
    case("text", "contains", "MARCH", True, "text-sees-the-description"),
    case("text", "contains", "any news", True, "text-sees-the-comment"),
    case("text", "contains", "please i was", False, "text-does-not-join-title-and-description"),
    case("text", "not_contains", "refund", False, "text-not-contains-a-present-phrase"),
    case("text", "not_contains", "invoice", True, "text-not-contains-a-missing-phrase"),
]


def test_the_table_covers_every_field_and_operator() -> None:
    covered = {(values[0], values[1]) for values in (param.values for param in OPERATOR_CASES)}
    expected = {(field, operator) for field, operators in CONDITION_MODELS.items() for operator in operators}
    assert covered == expected


@pytest.mark.parametrize(("field", "operator", "value", "facts", "expected"), OPERATOR_CASES)
def test_each_operator(field: str, operator: str, value: Any, facts: TriggerFacts, expected: bool) -> None:
    assert condition(field, operator, value).holds(facts) is expected


class TestCombining:
    def test_no_conditions_always_hold(self) -> None:
        assert conditions_hold([], FACTS) is True

    def test_every_condition_must_hold(self) -> None:
        both = [condition("priority", "is", "high"), condition("tags", "includes", "vip")]
        one = [condition("priority", "is", "high"), condition("tags", "includes", "refund")]
        assert conditions_hold(both, FACTS) is True
        assert conditions_hold(one, FACTS) is False

    def test_one_of_the_any_conditions_is_enough(self) -> None:
        any_of = [condition("channel", "is", "portal"), condition("tier", "is", "enterprise")]
        assert conditions_hold([condition("priority", "is", "high")], FACTS, any_of=any_of) is True

    def test_none_of_the_any_conditions_is_not_enough(self) -> None:
        any_of = [condition("channel", "is", "portal"), condition("tier", "is", "free")]
        assert conditions_hold([], FACTS, any_of=any_of) is False

    def test_any_conditions_do_not_excuse_a_failing_condition(self) -> None:
        any_of = [condition("tier", "is", "enterprise")]
        assert conditions_hold([condition("priority", "is", "low")], FACTS, any_of=any_of) is False


class TestCommentConditions:
    def test_a_comment_condition_belongs_to_commented_triggers(self) -> None:
        conditions = [condition("priority", "is", "high"), condition("comment", "contains", "refund")]
        assert misplaced_comment_conditions(TriggerEvent.created, conditions) == [1]
        assert misplaced_comment_conditions(TriggerEvent.updated, conditions) == [1]
        assert misplaced_comment_conditions(TriggerEvent.commented, conditions) == []

    def test_text_includes_the_comment_but_fits_every_event(self) -> None:
        assert misplaced_comment_conditions(TriggerEvent.created, [condition("text", "contains", "x")]) == []


# --- properties ----------------------------------------------------------------------------------

ENUM_VALUES: dict[str, list[Any]] = {
    "priority": list(Priority),
    "status": list(TicketStatus),
    "category": ["billing", "technical", "account"],
    "tier": list(Tier),
    "channel": list(Channel),
}
TAGS = ["vip", "mobile", "refund", "beta"]
words = st.text(alphabet="abcAB ", max_size=12)
facts_strategy = st.builds(
    TriggerFacts,
    priority=st.sampled_from(Priority),
    status=st.sampled_from(TicketStatus),
    category=st.sampled_from(ENUM_VALUES["category"]),
    tier=st.none() | st.sampled_from(Tier),
    tags=st.frozensets(st.sampled_from(TAGS)),
    channel=st.sampled_from(Channel),
    title=words,
    description=words,
    comment=st.none() | words,
)
enum_field = st.sampled_from(sorted(ENUM_VALUES))
hypothesis = hypothesis_settings(database=None, deadline=None)


@hypothesis
@given(data=st.data(), field=enum_field, facts=facts_strategy)
def test_is_and_is_not_are_complements(data: st.DataObject, field: str, facts: TriggerFacts) -> None:
    value = data.draw(st.sampled_from(ENUM_VALUES[field]))
    assert condition(field, "is", value).holds(facts) is not condition(field, "is_not", value).holds(facts)


@hypothesis
@given(data=st.data(), field=enum_field, facts=facts_strategy)
def test_in_a_single_value_is_is(data: st.DataObject, field: str, facts: TriggerFacts) -> None:
    value = data.draw(st.sampled_from(ENUM_VALUES[field]))
    assert condition(field, "in", [value]).holds(facts) is condition(field, "is", value).holds(facts)


@hypothesis
@given(data=st.data(), field=enum_field, facts=facts_strategy)
def test_in_and_not_in_are_complements(data: st.DataObject, field: str, facts: TriggerFacts) -> None:
    values = data.draw(st.lists(st.sampled_from(ENUM_VALUES[field]), min_size=1, max_size=4))
    assert condition(field, "in", values).holds(facts) is not condition(field, "not_in", values).holds(facts)


@hypothesis
@given(facts=facts_strategy, tag=st.sampled_from(TAGS))
def test_includes_and_excludes_are_complements(facts: TriggerFacts, tag: str) -> None:
    assert condition("tags", "includes", tag).holds(facts) is not condition("tags", "excludes", tag).holds(
        facts
    )


@hypothesis
@given(facts=facts_strategy, field=st.sampled_from(["title", "description", "comment"]), phrase=words)
def test_a_phrase_in_any_text_field_is_in_text(facts: TriggerFacts, field: str, phrase: str) -> None:
    assume(phrase.strip())  # a blank phrase is not a valid condition
    if condition(field, "contains", phrase).holds(facts):
        assert condition("text", "contains", phrase).holds(facts)
    assert condition(field, "contains", phrase).holds(facts) is not condition(
        field, "not_contains", phrase
    ).holds(facts)


# --- validation ----------------------------------------------------------------------------------


def _errors(conditions: list[Any]) -> list[tuple[tuple[int | str, ...], str]]:
    with pytest.raises(ValidationError) as refused:
        CONDITIONS.validate_python(conditions)
    return [(error["loc"], error["type"]) for error in refused.value.errors()]


@pytest.mark.parametrize(
    ("given", "location", "error_type"),
    [
        pytest.param(
            {"field": "colour", "operator": "is", "value": "red"},
            (0, "field"),
            "unknown-field",
            id="unknown-field",
        ),
        pytest.param({"operator": "is", "value": "high"}, (0, "field"), "missing", id="no-field"),
        pytest.param(
            {"field": "priority", "operator": "contains", "value": "high"},
            (0, "operator"),
            "unknown-operator",
            id="operator-of-another-kind-of-field",
        ),
        pytest.param({"field": "priority", "value": "high"}, (0, "operator"), "missing", id="no-operator"),
        pytest.param(
            {"field": "priority", "operator": "is", "value": "urgent"},
            (0, "value"),
            "enum",
            id="unknown-priority",
        ),
        pytest.param(
            {"field": "status", "operator": "in", "value": ["open", "done"]},
            (0, "value", 1),
            "enum",
            id="unknown-status-in-a-list",
        ),
        pytest.param(
            {"field": "tier", "operator": "in", "value": []}, (0, "value"), "too_short", id="empty-list"
        ),
        pytest.param(
            {"field": "priority", "operator": "in", "value": "high"},
            (0, "value"),
            "list_type",
            id="in-needs-a-list",
        ),
        pytest.param(
            {"field": "tags", "operator": "includes", "value": "two words"},
            (0, "value"),
            "string_pattern_mismatch",
            id="invalid-tag",
        ),
        pytest.param(
            {"field": "title", "operator": "contains", "value": "  "},
            (0, "value"),
            "string_too_short",
            id="blank-phrase",
        ),
        pytest.param(
            {"field": "title", "operator": "contains", "value": "x", "case": "exact"},
            (0, "case"),
            "extra_forbidden",
            id="unknown-key",
        ),
        pytest.param("priority is high", (0,), "model_type", id="not-an-object"),
    ],
)
def test_an_invalid_condition_is_reported_where_it_is_wrong(
    given: Any, location: tuple[int | str, ...], error_type: str
) -> None:
    assert (location, error_type) in _errors([given])


def test_conditions_round_trip_through_json() -> None:
    given = [
        {"field": "priority", "operator": "in", "value": ["high", "critical"]},
        {"field": "text", "operator": "not_contains", "value": "spam"},
    ]
    assert CONDITIONS.dump_python(CONDITIONS.validate_python(given), mode="json") == given
