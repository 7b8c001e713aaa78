"""The clock: every "now" in the desk is aware UTC, and tests can stop or move time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy.orm import Session

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.core.clock import SESSION_CLOCK_KEY, FrozenClock, SystemClock, ensure_utc, session_clock

MONDAY_9_UTC = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PLUS_0530 = timezone(timedelta(hours=5, minutes=30))
MINUS_0800 = timezone(timedelta(hours=-8))


def _is_utc(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() == timedelta(0)


class TestEnsureUtc:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(datetime(2026, 3, 2, 9, 0), MONDAY_9_UTC, id="naive-is-taken-as-utc-not-local-time"),
            pytest.param(MONDAY_9_UTC, MONDAY_9_UTC, id="utc-is-kept"),
            pytest.param(
                datetime(2026, 3, 2, 14, 30, tzinfo=PLUS_0530), MONDAY_9_UTC, id="india-is-converted"
            ),
            pytest.param(
                datetime(2026, 3, 2, 1, 0, tzinfo=MINUS_0800), MONDAY_9_UTC, id="california-is-converted"
            ),
            pytest.param(
                datetime(2026, 3, 1, 23, 0, tzinfo=timezone(timedelta(hours=-10))),
                MONDAY_9_UTC,
                id="offset-crossing-midnight-moves-the-date",
            ),
        ],
    )
    def test_the_result_is_the_same_instant_in_utc(self, value: datetime, expected: datetime) -> None:
        result = ensure_utc(value)
        assert result == expected
        assert result.tzinfo is UTC
        assert (result.year, result.month, result.day, result.hour, result.minute) == (2026, 3, 2, 9, 0)


class TestFrozenClock:
    def test_it_stands_still(self) -> None:
        clock = FrozenClock(MONDAY_9_UTC)
        assert clock.now() == clock.now() == MONDAY_9_UTC

    @pytest.mark.parametrize(
        "start",
        [
            pytest.param(datetime(2026, 3, 2, 9, 0), id="naive-start-is-utc"),
            pytest.param(datetime(2026, 3, 2, 14, 30, tzinfo=PLUS_0530), id="offset-start-is-converted"),
        ],
    )
    def test_it_always_tells_utc(self, start: datetime) -> None:
        now = FrozenClock(start).now()
        assert now == MONDAY_9_UTC
        assert _is_utc(now)

    @pytest.mark.parametrize(
        "target",
        [
            pytest.param(datetime(2026, 4, 1, 12, 0, tzinfo=UTC), id="aware-target"),
            pytest.param(datetime(2026, 4, 1, 12, 0), id="naive-target-is-utc"),
            pytest.param(datetime(2026, 4, 1, 4, 0, tzinfo=MINUS_0800), id="offset-target-is-converted"),
        ],
    )
    def test_set_jumps_to_the_moment(self, target: datetime) -> None:
        clock = FrozenClock(MONDAY_9_UTC)
        clock.set(target)
        assert clock.now() == datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
        assert _is_utc(clock.now())

    def test_set_can_go_back_in_time(self) -> None:
        clock = FrozenClock(MONDAY_9_UTC)
        clock.set(datetime(2020, 1, 1, tzinfo=UTC))
        assert clock.now() == datetime(2020, 1, 1, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("delta", "expected"),
        [
            pytest.param(timedelta(hours=2), datetime(2026, 3, 2, 11, 0, tzinfo=UTC), id="two-hours-later"),
            pytest.param(timedelta(days=5), datetime(2026, 3, 7, 9, 0, tzinfo=UTC), id="five-days-later"),
            pytest.param(
                timedelta(minutes=-30), datetime(2026, 3, 2, 8, 30, tzinfo=UTC), id="negative-goes-back"
            ),
            pytest.param(timedelta(0), MONDAY_9_UTC, id="zero-stays-put"),
        ],
    )
    def test_advance_moves_by_the_delta(self, delta: timedelta, expected: datetime) -> None:
        clock = FrozenClock(MONDAY_9_UTC)
        clock.advance(delta)
        assert clock.now() == expected
        assert _is_utc(clock.now())

    def test_advances_add_up(self) -> None:
        clock = FrozenClock(MONDAY_9_UTC)
        for _ in range(3):
            clock.advance(timedelta(minutes=20))
        assert clock.now() == MONDAY_9_UTC + timedelta(hours=1)


class TestSystemClock:
    def test_it_follows_the_wall_clock(self) -> None:
        with time_machine.travel(datetime(2031, 7, 14, 12, 0, tzinfo=UTC), tick=False):
            assert SystemClock().now() == datetime(2031, 7, 14, 12, 0, tzinfo=UTC)

    def test_it_tells_utc_even_when_the_wall_clock_was_set_in_another_zone(self) -> None:
        with time_machine.travel(datetime(2031, 7, 14, 17, 30, tzinfo=PLUS_0530), tick=False):
            now = SystemClock().now()
        assert now == datetime(2031, 7, 14, 12, 0, tzinfo=UTC)
        assert now.tzinfo is UTC

    def test_it_follows_time_moving_on(self) -> None:
        clock = SystemClock()
        with time_machine.travel(datetime(2031, 7, 14, 12, 0, tzinfo=UTC), tick=False) as traveller:
            before = clock.now()
            traveller.shift(timedelta(hours=3))
            after = clock.now()
        assert after - before == timedelta(hours=3)


class TestSessionClock:
    def test_is_the_clock_the_session_was_given(self) -> None:
        frozen = FrozenClock(MONDAY_9_UTC)
        assert session_clock({SESSION_CLOCK_KEY: frozen}) is frozen

    def test_falls_back_to_the_wall_clock(self) -> None:
        assert isinstance(session_clock({}), SystemClock)

    def test_is_where_act_as_puts_it(self) -> None:
        session = Session()
        frozen = FrozenClock(MONDAY_9_UTC)
        act_as(session, SYSTEM, frozen)
        assert session_clock(session.info) is frozen
