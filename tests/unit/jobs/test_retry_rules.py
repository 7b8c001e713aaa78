"""When a failed delivery is tried again: backoff with jitter for mail and CRM calls, the Standard Webhooks
schedule for webhooks, a receiver's Retry-After honoured, and a last attempt that gives up."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportdesk.jobs.models import DeliveryChannel
from supportdesk.jobs.rules import (
    LONGEST_RETRY_AFTER,
    MAIL_BACKOFF,
    RETRY_POLICIES,
    WEBHOOK_SCHEDULE,
    Backoff,
    retry_delay,
)

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)

pytestmark = pytest.mark.unit


class Fixed(random.Random):
    """A random source that always draws the same number, to pin the jitter to one end."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


LOWEST, HIGHEST = Fixed(0.0), Fixed(0.999999)


@pytest.mark.parametrize(
    ("attempt", "shortest", "longest"),
    [
        pytest.param(1, 15 * SECOND, 30 * SECOND, id="after-the-first-attempt-15-to-30-seconds"),
        pytest.param(2, 30 * SECOND, MINUTE, id="after-the-second-30-seconds-to-a-minute"),
        pytest.param(5, 4 * MINUTE, 8 * MINUTE, id="after-the-fifth-4-to-8-minutes"),
        pytest.param(8, 30 * MINUTE, HOUR, id="capped-at-an-hour"),
        pytest.param(9, 30 * MINUTE, HOUR, id="stays-at-the-cap"),
    ],
)
def test_mail_backs_off_exponentially_with_equal_jitter(
    attempt: int, shortest: timedelta, longest: timedelta
) -> None:
    assert retry_delay(MAIL_BACKOFF, attempt, LOWEST) == shortest
    highest = retry_delay(MAIL_BACKOFF, attempt, HIGHEST)
    assert highest is not None
    assert longest - SECOND < highest <= longest


def test_mail_gives_up_after_ten_attempts_about_three_hours_in() -> None:
    waits = [retry_delay(MAIL_BACKOFF, attempt, HIGHEST) for attempt in range(1, 11)]
    assert waits[-1] is None, "the tenth failure is the last"
    total = sum((wait for wait in waits if wait is not None), timedelta())
    assert 2 * HOUR < total < 4 * HOUR


def test_webhooks_follow_the_standard_schedule_then_give_up() -> None:
    # The first attempt is immediate; then 5 s, 5 min, 30 min, 2 h, 5 h and 10 h after each failure.
    expected = [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR]
    assert [retry_delay(WEBHOOK_SCHEDULE, attempt, LOWEST) for attempt in range(1, 7)] == expected
    assert retry_delay(WEBHOOK_SCHEDULE, 7, LOWEST) is None
    assert WEBHOOK_SCHEDULE.max_attempts == 7


def test_webhook_jitter_only_ever_delays_a_little() -> None:
    delay = retry_delay(WEBHOOK_SCHEDULE, 2, HIGHEST)
    assert delay is not None
    assert 5 * MINUTE < delay < 5.5 * MINUTE


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        pytest.param(10 * MINUTE, 10 * MINUTE, id="a-longer-wait-is-honoured"),
        pytest.param(SECOND, 15 * SECOND, id="a-shorter-wait-never-brings-a-retry-forward"),
        pytest.param(3 * 24 * HOUR, LONGEST_RETRY_AFTER, id="an-excessive-wait-is-cut-to-twelve-hours"),
    ],
)
def test_a_receivers_retry_after(retry_after: timedelta, expected: timedelta) -> None:
    assert retry_delay(MAIL_BACKOFF, 1, LOWEST, retry_after=retry_after) == expected


def test_retry_after_does_not_buy_an_attempt_past_the_last() -> None:
    assert retry_delay(WEBHOOK_SCHEDULE, 7, LOWEST, retry_after=MINUTE) is None


def test_attempts_are_counted_from_one() -> None:
    with pytest.raises(ValueError, match="counted from 1"):
        retry_delay(MAIL_BACKOFF, 0, LOWEST)


def test_every_channel_has_a_policy() -> None:
    assert set(RETRY_POLICIES) == set(DeliveryChannel)


@given(
    base_seconds=st.integers(min_value=1, max_value=600),
    cap_minutes=st.integers(min_value=1, max_value=24 * 60),
    attempt=st.integers(min_value=1, max_value=200),
    draw=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_stays_between_half_and_all_of_a_capped_doubling_step(
    base_seconds: int, cap_minutes: int, attempt: int, draw: float
) -> None:
    policy = Backoff(
        base=timedelta(seconds=base_seconds), cap=timedelta(minutes=cap_minutes), max_attempts=1000
    )
    step = min(policy.cap.total_seconds(), base_seconds * 2.0 ** (attempt - 1))
    delay = retry_delay(policy, attempt, Fixed(draw))
    assert delay is not None
    assert step / 2 - 1e-6 <= delay.total_seconds() <= step + 1e-6
    assert delay <= policy.cap
    following = retry_delay(policy, attempt + 1, Fixed(draw))
    assert following is not None
    assert following >= delay, "waits never shrink"
