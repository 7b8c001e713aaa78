"""Trigger rules answer the same for enum members and for their plain string values, which is what
models hold when they were given them."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from supportdesk.automation.conditions import (
    Condition,
    TriggerFacts,
    conditions_hold,
    misplaced_comment_conditions,
)
from supportdesk.automation.models import TriggerEvent
from supportdesk.people.models import Tier
from supportdesk.tickets.models import Channel, Priority, TicketStatus
from tests.unit.plain import plain

CONDITIONS = TypeAdapter(list[Condition]).validate_python(
    [
        {"field": "status", "operator": "is", "value": "open"},
        {"field": "priority", "operator": "in", "value": ["high", "critical"]},
        {"field": "tier", "operator": "is_not", "value": "free"},
        {"field": "channel", "operator": "is", "value": "email"},
        {"field": "comment", "operator": "contains", "value": "refund"},
    ]
)
FACTS = TriggerFacts(
    priority=plain(Priority.high),
    status=plain(TicketStatus.open),
    category="billing",
    tier=plain(Tier.enterprise),
    tags=frozenset(),
    channel=plain(Channel.email),
    title="Charged twice",
    description="",
    comment="A refund, please",
)


def test_conditions_hold_for_plain_strings() -> None:
    assert conditions_hold(CONDITIONS, FACTS)


@pytest.mark.parametrize(
    ("event", "misplaced"),
    [
        pytest.param(TriggerEvent.created, [4], id="created"),
        pytest.param(TriggerEvent.updated, [4], id="updated"),
        pytest.param(TriggerEvent.commented, [], id="commented"),
    ],
)
def test_comment_conditions_are_placed_by_the_events_value(event: TriggerEvent, misplaced: list[int]) -> None:
    assert misplaced_comment_conditions(plain(event), CONDITIONS) == misplaced
    assert misplaced_comment_conditions(event, CONDITIONS) == misplaced
