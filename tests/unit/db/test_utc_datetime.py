"""UTCDateTime: what goes into the database and what comes back, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import cast

import pytest
from sqlalchemy.engine import Dialect

from supportdesk.db.base import UTCDateTime

MONDAY_9_UTC = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PLUS_0200 = timezone(timedelta(hours=2))


@dataclass(frozen=True)
class FakeDialect:
    """All UTCDateTime looks at is the dialect's name."""

    name: str


SQLITE = cast(Dialect, FakeDialect("sqlite"))
POSTGRESQL = cast(Dialect, FakeDialect("postgresql"))
BOTH = [pytest.param(SQLITE, id="sqlite"), pytest.param(POSTGRESQL, id="postgresql")]


@pytest.fixture
def column_type() -> UTCDateTime:
    return UTCDateTime()


class TestStoring:
    @pytest.mark.parametrize("dialect", BOTH)
    def test_a_naive_datetime_is_refused(self, column_type: UTCDateTime, dialect: Dialect) -> None:
        with pytest.raises(ValueError, match="naive"):
            column_type.process_bind_param(datetime(2026, 3, 2, 9, 0), dialect)

    @pytest.mark.parametrize("dialect", BOTH)
    def test_none_stays_none(self, column_type: UTCDateTime, dialect: Dialect) -> None:
        assert column_type.process_bind_param(None, dialect) is None

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param(MONDAY_9_UTC, id="utc-value"),
            pytest.param(datetime(2026, 3, 2, 11, 0, tzinfo=PLUS_0200), id="offset-value-is-converted-first"),
        ],
    )
    def test_sqlite_gets_utc_wall_time_without_an_offset(
        self, column_type: UTCDateTime, value: datetime
    ) -> None:
        stored = column_type.process_bind_param(value, SQLITE)
        assert stored == datetime(2026, 3, 2, 9, 0)
        assert stored is not None
        assert stored.tzinfo is None

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param(MONDAY_9_UTC, id="utc-value"),
            pytest.param(datetime(2026, 3, 2, 11, 0, tzinfo=PLUS_0200), id="offset-value-is-converted"),
        ],
    )
    def test_postgresql_gets_an_aware_utc_value(self, column_type: UTCDateTime, value: datetime) -> None:
        stored = column_type.process_bind_param(value, POSTGRESQL)
        assert stored == MONDAY_9_UTC
        assert stored is not None
        assert stored.utcoffset() == timedelta(0)

    def test_sqlite_values_sort_like_the_instants_they_stand_for(self, column_type: UTCDateTime) -> None:
        earlier = datetime(2026, 3, 2, 10, 0, tzinfo=PLUS_0200)  # 08:00 UTC
        later = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        stored_earlier = column_type.process_bind_param(earlier, SQLITE)
        stored_later = column_type.process_bind_param(later, SQLITE)
        assert stored_earlier is not None
        assert stored_later is not None
        assert stored_earlier.isoformat() < stored_later.isoformat()


class TestReading:
    @pytest.mark.parametrize("dialect", BOTH)
    def test_none_stays_none(self, column_type: UTCDateTime, dialect: Dialect) -> None:
        assert column_type.process_result_value(None, dialect) is None

    @pytest.mark.parametrize(
        ("raw", "dialect"),
        [
            pytest.param(datetime(2026, 3, 2, 9, 0), SQLITE, id="sqlite-naive-value-is-utc"),
            pytest.param(MONDAY_9_UTC, POSTGRESQL, id="postgresql-utc-value"),
            pytest.param(
                datetime(2026, 3, 2, 11, 0, tzinfo=PLUS_0200),
                POSTGRESQL,
                id="postgresql-session-in-another-zone",
            ),
        ],
    )
    def test_values_come_back_aware_utc(
        self, column_type: UTCDateTime, raw: datetime, dialect: Dialect
    ) -> None:
        loaded = column_type.process_result_value(raw, dialect)
        assert loaded == MONDAY_9_UTC
        assert loaded is not None
        assert loaded.tzinfo is UTC

    @pytest.mark.parametrize("dialect", BOTH)
    @pytest.mark.parametrize(
        "value",
        [
            pytest.param(MONDAY_9_UTC, id="utc"),
            pytest.param(
                datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))), id="offset"
            ),
        ],
    )
    def test_a_stored_value_reads_back_as_the_same_instant(
        self, column_type: UTCDateTime, dialect: Dialect, value: datetime
    ) -> None:
        loaded = column_type.process_result_value(column_type.process_bind_param(value, dialect), dialect)
        assert loaded == value
        assert loaded is not None
        assert loaded.tzinfo is UTC
