"""When an outbox message is tried again: pure rules, one policy per delivery channel."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from supportdesk.jobs.models import DeliveryChannel


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with "equal jitter": the n-th retry waits between half and all of
    ``min(cap, base * 2**(n-1))``. The fixed half keeps a retry from coming too early; the random half
    keeps the retries of messages that failed together (a provider outage) from arriving together."""

    base: timedelta
    cap: timedelta
    max_attempts: int

    def step(self, attempt: int) -> timedelta:
        """The longest wait after the ``attempt``-th attempt failed (1-based)."""
        # Capping the exponent first keeps 2**n small for any attempt number.
        doublings = min(attempt - 1, 32)
        step: timedelta = self.base * (1 << doublings)
        return min(self.cap, step)

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        step = self.step(attempt)
        return step / 2 + step / 2 * rng.random()


@dataclass(frozen=True, slots=True)
class Schedule:
    """Retries at fixed waits after each failed attempt, as the Standard Webhooks guidance lists them; the
    first attempt is immediate, so there is one attempt more than there are waits."""

    waits: Sequence[timedelta]
    # A little jitter still spreads a burst of failures over a few seconds.
    jitter: float = 0.1

    @property
    def max_attempts(self) -> int:
        return len(self.waits) + 1

    def step(self, attempt: int) -> timedelta:
        return self.waits[min(attempt, len(self.waits)) - 1]

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        return self.step(attempt) * (1 + self.jitter * rng.random())


RetryPolicy = Backoff | Schedule

WEBHOOK_SCHEDULE = Schedule(
    waits=(
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
    )
)
# Ten attempts over about three hours: a mail or CRM outage of an afternoon delays, it does not lose.
MAIL_BACKOFF = Backoff(base=timedelta(seconds=30), cap=timedelta(hours=1), max_attempts=10)

# Arrived mail is processed again soon after a failure (a customer waits for the acknowledgement), eight
# attempts over about half an hour, and then set aside for an admin (channels.email.processing).
INBOUND_BACKOFF = Backoff(base=timedelta(seconds=10), cap=timedelta(minutes=10), max_attempts=8)

RETRY_POLICIES: dict[DeliveryChannel, RetryPolicy] = {
    DeliveryChannel.email: MAIL_BACKOFF,
    DeliveryChannel.webhook: WEBHOOK_SCHEDULE,
    DeliveryChannel.crm: MAIL_BACKOFF,
    DeliveryChannel.inbound: INBOUND_BACKOFF,
}
# However long a receiver asks us to wait, a retry is never put off longer than this.
LONGEST_RETRY_AFTER = timedelta(hours=12)


def retry_delay(
    policy: RetryPolicy, attempt: int, rng: random.Random, *, retry_after: timedelta | None = None
) -> timedelta | None:
    """How long to wait after the ``attempt``-th attempt failed, or ``None`` when that was the last one.

    A receiver's ``Retry-After`` is honoured when it asks for longer than the policy would wait, up to
    :data:`LONGEST_RETRY_AFTER`; it never makes a retry come sooner.
    """
    if attempt < 1:
        raise ValueError(f"attempts are counted from 1, not {attempt}")
    if attempt >= policy.max_attempts:
        return None
    delay = policy.delay(attempt, rng)
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, LONGEST_RETRY_AFTER)
    return delay
