"""The one JSON parameter PostgreSQL's outbox statement reads its rows from: every column as the
statement's ``jsonb_to_recordset`` reads it, and nothing written that the column itself would refuse."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from supportdesk.jobs import outbox
from supportdesk.jobs.models import DeliveryChannel, DeliveryState

SENT_AT = datetime(2026, 12, 7, 8, 15, 0, 250_000, tzinfo=UTC)


def row(**changes: Any) -> dict[str, Any]:
    return {
        "workspace_id": 3,
        "channel": DeliveryChannel.webhook,
        "target": "7",
        "dedupe_key": "ticket:9:created:ticket.created:wh7",
        "ticket_id": 9,
        "payload": {"type": "ticket.created", "data": {"ticket": {"title": "Zoë's “export”", "x": 1.5}}},
        "state": DeliveryState.pending,
        "attempts": 0,
        "max_attempts": 7,
        "next_attempt_at": SENT_AT,
        "manual_retries": 0,
        "created_at": SENT_AT,
    } | changes


def test_the_rows_keep_their_order_and_every_value() -> None:
    rows = [row(), row(channel=DeliveryChannel.email, target="zoe@example.org", ticket_id=None)]

    decoded = json.loads(outbox.pg_rows_parameter(rows))

    assert [given["channel"] for given in decoded] == ["webhook", "email"]
    assert decoded[0]["state"] == "pending"
    assert decoded[0]["payload"] == rows[0]["payload"]
    assert decoded[1]["ticket_id"] is None
    assert decoded[0]["created_at"] == "2026-12-07T08:15:00.250000+00:00"


@pytest.mark.parametrize(
    "moment",
    [
        pytest.param(SENT_AT, id="utc"),
        pytest.param(SENT_AT.astimezone(timezone(timedelta(hours=-5))), id="another-offset"),
    ],
)
def test_a_timestamp_names_its_offset_so_it_means_the_same_instant(moment: datetime) -> None:
    decoded = json.loads(outbox.pg_rows_parameter([row(next_attempt_at=moment)]))

    assert datetime.fromisoformat(decoded[0]["next_attempt_at"]) == SENT_AT


def test_a_naive_timestamp_is_refused_as_the_column_refuses_it() -> None:
    with pytest.raises(ValueError, match="naive"):
        outbox.pg_rows_parameter([row(created_at=datetime(2026, 12, 7, 8, 15))])


def test_a_value_json_cannot_hold_is_refused() -> None:
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        outbox.pg_rows_parameter([row(payload={"tags": {"a", "b"}})])
