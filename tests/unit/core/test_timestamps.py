"""A Timestamp input is an instant that has a UTC equivalent; times at the calendar's edges are refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from supportdesk.core.schemas import Timestamp

timestamps: TypeAdapter[datetime] = TypeAdapter(Timestamp)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("0001-01-01T00:00:00+14:00", id="year-1-east-of-utc"),
        pytest.param("0001-01-01T13:59:59.999999+14:00", id="last-moment-before-year-1-in-utc"),
        pytest.param("0001-01-01T00:00:00+00:01", id="one-minute-east"),
        pytest.param("9999-12-31T23:59:59-14:00", id="year-9999-west-of-utc"),
        pytest.param("9999-12-31T23:59:59.999999-00:01", id="one-minute-west"),
    ],
)
def test_a_time_without_a_utc_equivalent_is_refused(text: str) -> None:
    with pytest.raises(ValidationError) as raised:
        timestamps.validate_python(text)
    assert [error["type"] for error in raised.value.errors()] == ["datetime-out-of-range"]


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        pytest.param("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC), id="first-moment"),
        pytest.param("0001-01-01T14:00:00+14:00", datetime(1, 1, 1, tzinfo=UTC), id="first-moment-east"),
        pytest.param("0001-01-01T00:00:00-14:00", datetime(1, 1, 1, 14, tzinfo=UTC), id="year-1-west"),
        pytest.param(
            "9999-12-31T23:59:59.999999Z", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), id="last"
        ),
        pytest.param(
            "9999-12-31T09:59:59-14:00", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), id="last-second-west"
        ),
        pytest.param("2026-03-02T10:00:00+01:00", datetime(2026, 3, 2, 9, tzinfo=UTC), id="an-ordinary-time"),
    ],
)
def test_a_time_is_read_as_the_same_instant_in_utc(text: str, utc: datetime) -> None:
    moment = timestamps.validate_python(text)
    assert moment == utc
    assert moment.tzinfo is UTC
