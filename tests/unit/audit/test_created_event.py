"""The "created" event of a row written by a statement is the one the flush hook would have written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from supportdesk.audit.models import ActorType
from supportdesk.audit.recorder import Actor, act_as, created_event_parameters, insert_with_created_event
from supportdesk.core.clock import FrozenClock
from supportdesk.tickets.models import Channel, Priority, Ticket, TicketStatus

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TICKET = {
    "workspace_id": 3,
    "number": 41,
    "title": "Printer on fire",
    "description": "",
    "status": TicketStatus.open,
    "priority": Priority.high,
    "category": "general",
    "channel": Channel.api,
    "escalated": False,
    "customer_email": None,
    "created_at": NOW,
    "updated_at": NOW,
    "version": 1,
}


def test_the_event_holds_the_actor_the_time_and_every_audited_value_as_the_hook_writes_them() -> None:
    session = Session()
    act_as(session, Actor(ActorType.user, 12), FrozenClock(NOW))

    parameters = created_event_parameters(session, Ticket, TICKET)

    assert parameters["audit_actor_type"] is ActorType.user
    assert parameters["audit_actor_id"] == 12
    assert parameters["audit_created_at"] == NOW
    assert parameters["audit_changes"] == {
        "workspace_id": [None, 3],
        "number": [None, 41],
        "title": [None, "Printer on fire"],
        "description": [None, ""],
        "status": [None, "open"],
        "priority": [None, "high"],
        "category": [None, "general"],
        "channel": [None, "api"],
        "escalated": [None, False],
        "created_at": [None, NOW.isoformat()],
    }


def test_without_an_actor_the_event_is_the_systems() -> None:
    parameters = created_event_parameters(Session(), Ticket, TICKET)

    assert (parameters["audit_actor_type"], parameters["audit_actor_id"]) == (ActorType.system, None)


@pytest.mark.parametrize("left_out", ["status", "priority", "channel", "escalated", "description"])
def test_a_statement_that_leaves_an_audited_default_to_the_database_is_refused(left_out: str) -> None:
    keys = [key for key in TICKET if key != left_out]

    with pytest.raises(ValueError, match=left_out):
        insert_with_created_event(Ticket, keys)
