"""Cursors: opaque to clients, faithful round trips, and a clear 422 for anything forged or stale."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from supportdesk.core.errors import InvalidInput
from supportdesk.core.pagination import decode_cursor, encode_cursor

URL_SAFE = re.compile(r"^[A-Za-z0-9_-]*$")


def _forge(payload: Any) -> str:
    """A cursor made by hand from any JSON, the way a curious client might."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


class TestRoundTrip:
    @pytest.mark.parametrize(
        "value",
        [
            pytest.param(0, id="zero"),
            pytest.param(42, id="positive-int"),
            pytest.param(-3, id="negative-int"),
            pytest.param(2**63, id="int-beyond-64-bits"),
            pytest.param("", id="empty-string"),
            pytest.param("Cannot export", id="plain-string"),
            pytest.param('quote " and slash / and = sign', id="string-with-json-and-base64-characters"),
            pytest.param("Zürich 東京 🎫", id="non-ascii-string"),
            pytest.param(None, id="null-sort-value"),
            pytest.param(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), id="utc-datetime"),
            pytest.param(datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC), id="datetime-with-microseconds"),
            pytest.param(
                datetime(2026, 3, 2, 14, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
                id="datetime-with-positive-offset",
            ),
            pytest.param(
                datetime(2026, 3, 2, 1, 0, tzinfo=timezone(timedelta(hours=-8))), id="datetime-west-of-utc"
            ),
        ],
    )
    def test_a_cursor_gives_back_what_was_encoded(self, value: Any) -> None:
        decoded, row_id = decode_cursor(encode_cursor("created_at", value, 17), "created_at")
        assert decoded == value
        assert type(decoded) is type(value)
        assert row_id == 17

    def test_an_aware_datetime_comes_back_aware_with_its_offset(self) -> None:
        moment = datetime(2026, 3, 2, 14, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
        decoded, _ = decode_cursor(encode_cursor("updated_at", moment, 1), "updated_at")
        assert decoded.tzinfo is not None
        assert decoded.utcoffset() == timedelta(hours=5, minutes=30)

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param(">>>???", id="characters-that-base64-turns-into-plus-and-slash"),
            pytest.param("x", id="short"),
        ],
    )
    def test_cursors_are_url_safe_without_padding(self, value: str) -> None:
        cursor = encode_cursor("number", value, 1)
        assert URL_SAFE.match(cursor)

    def test_cursors_for_different_rows_differ(self) -> None:
        assert encode_cursor("number", 5, 1) != encode_cursor("number", 5, 2)


class TestRefusedCursors:
    @pytest.mark.parametrize(
        "cursor",
        [
            pytest.param("", id="empty-cursor"),
            pytest.param("!!!!", id="not-base64"),
            pytest.param("abc", id="base64-of-garbage-bytes"),
            pytest.param(base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(), id="not-utf-8"),
            pytest.param(_forge({"sort": "number"}), id="json-object-instead-of-list"),
            pytest.param(_forge(["number", 5]), id="list-missing-the-row-id"),
            pytest.param(_forge(["number", 5, 1, 2]), id="list-with-an-extra-item"),
            pytest.param(_forge(12), id="bare-number"),
            pytest.param(_forge(None), id="json-null"),
            pytest.param(_forge(["number", 5, "1"]), id="row-id-as-string"),
            pytest.param(_forge(["number", 5, 1.5]), id="row-id-as-float"),
            pytest.param(_forge(["number", 5, None]), id="row-id-missing"),
            pytest.param(_forge(["number", {"dt": "yesterday"}, 1]), id="unreadable-date"),
            pytest.param(_forge(["number", {"dt": 5}, 1]), id="date-that-is-a-number"),
            pytest.param(encode_cursor("number", 5, 1)[:-3], id="truncated-cursor"),
        ],
    )
    def test_a_malformed_cursor_is_invalid_input_on_the_cursor_field(self, cursor: str) -> None:
        with pytest.raises(InvalidInput) as raised:
            decode_cursor(cursor, "number")
        assert raised.value.field == "cursor"
        assert raised.value.status_code == 422
        assert raised.value.extra["errors"][0]["type"] == "invalid-cursor"

    @pytest.mark.parametrize(
        ("made_for", "used_with"),
        [
            pytest.param("created_at", "number", id="created-at-cursor-used-for-number"),
            pytest.param("number", "-number", id="ascending-cursor-used-descending"),
            pytest.param("priority", "Priority", id="sort-names-are-exact"),
        ],
    )
    def test_a_cursor_from_another_sort_is_refused(self, made_for: str, used_with: str) -> None:
        cursor = encode_cursor(made_for, 5, 1)
        with pytest.raises(InvalidInput, match="another sort") as raised:
            decode_cursor(cursor, used_with)
        assert raised.value.field == "cursor"


_OFFSETS = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_SORT_VALUES = st.one_of(
    st.none(),
    st.integers(),
    st.text(),
    st.datetimes(timezones=_OFFSETS),
)


@hypothesis_settings(database=None, deadline=None)
@given(sort=st.text(), value=_SORT_VALUES, row_id=st.integers())
def test_every_cursor_round_trips(sort: str, value: Any, row_id: int) -> None:
    cursor = encode_cursor(sort, value, row_id)
    assert URL_SAFE.match(cursor)
    decoded, decoded_id = decode_cursor(cursor, sort)
    assert decoded == value
    assert type(decoded) is type(value)
    if isinstance(value, datetime):
        assert decoded.utcoffset() == value.utcoffset()
    assert decoded_id == row_id
