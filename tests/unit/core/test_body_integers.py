"""An integer in a request body is a JSON number without a fractional part, whichever way it is written.

JSON has one number type and JSON Schema counts ``7.0`` as an integer, so a client that writes every
number with a fraction must still be able to send an id, a number of days or of minutes. Booleans,
strings and numbers with a fractional part stay refused.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from supportdesk.automation.actions import Assign
from supportdesk.automation.schemas import TriggerUpdate
from supportdesk.core.schemas import MAX_ID, BodyId, Integer
from supportdesk.people.schemas import TokenCreate
from supportdesk.sla.schemas import PriorityMinutes
from supportdesk.workspaces.schemas import WorkspaceUpdate

integers: TypeAdapter[int] = TypeAdapter(Annotated[int, Integer()])
ids: TypeAdapter[int] = TypeAdapter(BodyId)


@pytest.mark.parametrize(
    ("value", "read"),
    [
        pytest.param(7, 7, id="integer"),
        pytest.param(7.0, 7, id="whole-float"),
        pytest.param(-3.0, -3, id="negative-whole-float"),
        pytest.param(0.0, 0, id="zero-float"),
        pytest.param(1e3, 1000, id="exponent"),
    ],
)
def test_a_whole_number_is_an_integer(value: Any, read: int) -> None:
    accepted = integers.validate_python(value)
    assert accepted == read
    assert type(accepted) is int


@pytest.mark.parametrize("text", ["135.0", "1e2", "135"])
def test_a_whole_number_in_json_is_an_integer(text: str) -> None:
    assert integers.validate_json(text) == int(float(text))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param("7", id="digits"),
        pytest.param("7.0", id="decimal-string"),
        pytest.param(7.5, id="fraction"),
        pytest.param(1e-9, id="tiny-fraction"),
        pytest.param(float("inf"), id="infinity"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(None, id="null"),
        pytest.param([7], id="list"),
    ],
)
def test_anything_but_a_whole_number_is_refused(value: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        integers.validate_python(value)
    assert [error["type"] for error in raised.value.errors()] == ["int_type"]


@pytest.mark.parametrize("value", [0.0, -1.0, float(MAX_ID + 1), 1e300])
def test_a_whole_float_keeps_the_bounds(value: float) -> None:
    with pytest.raises(ValidationError) as raised:
        ids.validate_python(value)
    assert [error["type"] for error in raised.value.errors()] in (
        ["greater_than_equal"],
        ["less_than_equal"],
    )


def test_the_published_schema_is_a_plain_integer() -> None:
    assert ids.json_schema() == {"type": "integer", "minimum": 1, "maximum": MAX_ID}


@pytest.mark.parametrize(
    ("model", "body", "field", "read"),
    [
        pytest.param(
            TokenCreate, {"name": "ci", "expires_in_days": 135.0}, "expires_in_days", 135, id="token"
        ),
        pytest.param(Assign, {"type": "assign", "agent_id": 564.0}, "agent_id", 564, id="assign"),
        pytest.param(PriorityMinutes, {"critical": 30.0}, "critical", 30, id="minutes"),
        pytest.param(TriggerUpdate, {"position": 2.0}, "position", 2, id="position"),
        pytest.param(WorkspaceUpdate, {"agent_capacity": 5.0}, "agent_capacity", 5, id="capacity"),
        pytest.param(
            WorkspaceUpdate, {"escalation_delay_minutes": 0.0}, "escalation_delay_minutes", 0, id="delay"
        ),
        pytest.param(WorkspaceUpdate, {"auto_close_after_days": 7.0}, "auto_close_after_days", 7, id="days"),
    ],
)
def test_request_bodies_take_whole_floats_for_integers(
    model: type[BaseModel], body: dict[str, Any], field: str, read: int
) -> None:
    parsed = model.model_validate_json(json.dumps(body))
    assert getattr(parsed, field) == read
    with pytest.raises(ValidationError):
        model.model_validate_json(json.dumps({**body, field: read + 0.5}))
    with pytest.raises(ValidationError):
        model.model_validate_json(json.dumps({**body, field: True}))
