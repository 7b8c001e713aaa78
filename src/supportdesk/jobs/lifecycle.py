"""The statements that move an outbox message through its states (pending → queued → sending →
delivered, or dead), each in a short transaction of its own, outside any request.

A relay claims due messages (:func:`claim_due`), a worker takes one attempt at each message of a batch
with a compare-and-set (:func:`start_attempts`), sends with no transaction open, and records the
outcomes fenced by those attempts (:func:`finish_attempts`), one transaction at each end of the batch.
A worker that lost its lease (it was too slow, or another took the message over) changes nothing.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, tuple_, update

from supportdesk.core.clock import Clock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import check_write
from supportdesk.jobs.channels import Delivery, DeliveryFailed, Sent
from supportdesk.jobs.models import (
    OPEN_STATES,
    DeliveryAttempt,
    DeliveryChannel,
    DeliveryState,
    OutboxMessage,
)
from supportdesk.jobs.rules import RETRY_POLICIES, retry_delay

_log = logging.getLogger("supportdesk.outbox")

_table = cast(Table, OutboxMessage.__table__)
_attempts = cast(Table, DeliveryAttempt.__table__)
MAX_TEXT = 2000  # last_error, delivery_attempt.error
LOST_AT_LAST_ATTEMPT = "the worker was lost during the last attempt"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message a relay claimed: hand ``(id, attempts)`` to a worker."""

    id: int
    attempts: int


async def claim_due(
    database: Database, clock: Clock, *, limit: int, lease: timedelta, owner: str
) -> list[Claimed]:
    """Claim up to ``limit`` messages that are due, oldest due first, for ``lease``.

    Due: pending messages whose retry time has come, and queued or sending ones whose lease ran out
    (their queue message or their worker was lost). On PostgreSQL, ``FOR UPDATE SKIP LOCKED`` lets any
    number of relays split the due messages without waiting for each other; SQLite has one writer at a
    time anyway, and SQLAlchemy leaves the clause out there.
    """
    now = clock.now()
    async with database.unit_of_work() as session:
        # A message whose worker vanished during its last allowed attempt is not tried again: a
        # message that kills its worker would otherwise be handed out forever.
        await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.state == DeliveryState.sending,
                OutboxMessage.next_attempt_at <= now,
                OutboxMessage.attempts >= OutboxMessage.max_attempts,
            )
            .values(state=DeliveryState.dead, last_error=LOST_AT_LAST_ATTEMPT, claimed_by=None)
            .execution_options(synchronize_session=False)
        )
        due = (
            select(OutboxMessage.id)
            .where(OutboxMessage.state.in_(OPEN_STATES), OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()))
            .values(state=DeliveryState.queued, next_attempt_at=now + lease, claimed_by=owner)
            .returning(OutboxMessage.id, OutboxMessage.attempts)
            .execution_options(synchronize_session=False)
        )
        return [Claimed(int(row.id), int(row.attempts)) for row in result]


async def release(database: Database, clock: Clock, claims: Sequence[Claimed], *, owner: str) -> int:
    """Hand back claimed messages the queue did not take, due now; returns how many were handed back.

    No worker will start them, so their lease would only delay them (five minutes by default, for every
    message claimed while the broker is down). A claim that no longer holds is left alone: another
    relay took the message over after the lease ran out, or a worker started it, which a queue that
    took the message after all (its answer lost) allows. Should the queue hold it after all, the
    worker's compare-and-set on the attempt count drops the copy that comes second.
    """
    if not claims:
        return 0
    async with database.unit_of_work() as session:
        result = await session.execute(
            update(OutboxMessage)
            .where(
                tuple_(OutboxMessage.id, OutboxMessage.attempts).in_(
                    [(claim.id, claim.attempts) for claim in claims]
                ),
                OutboxMessage.state == DeliveryState.queued,
                OutboxMessage.claimed_by == owner,
            )
            .values(state=DeliveryState.pending, next_attempt_at=clock.now(), claimed_by=None)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


async def next_due(database: Database) -> datetime | None:
    """When the earliest open message is due, or ``None`` when there is none."""
    async with database.unit_of_work(readonly=True) as session:
        query = select(OutboxMessage.next_attempt_at).where(OutboxMessage.state.in_(OPEN_STATES))
        earliest = (await session.execute(query.order_by(OutboxMessage.next_attempt_at).limit(1))).scalar()
    return earliest


async def start_attempt(
    database: Database, clock: Clock, claimed: Claimed, *, lease: timedelta, owner: str
) -> Delivery | None:
    """Take the next attempt at a claimed message: ``None`` when the claim is stale (the message was
    handed out again, delivered, or retried by an admin), which a repeated queue message is."""
    started = await start_attempts(database, clock, [claimed], lease=lease, owner=owner)
    return started[0] if started else None


# Built once: a worker runs it for every batch, and building the statement cost more than running it.
_START_ATTEMPTS = (
    update(_table)
    .where(
        tuple_(_table.c.id, _table.c.attempts).in_(bindparam("b_claims", expanding=True)),
        _table.c.state == DeliveryState.queued,
    )
    .values(
        state=DeliveryState.sending,
        attempts=_table.c.attempts + 1,
        next_attempt_at=bindparam("b_next_attempt_at", type_=_table.c.next_attempt_at.type),
        last_attempt_at=bindparam("b_now", type_=_table.c.last_attempt_at.type),
        claimed_by=bindparam("b_owner", type_=_table.c.claimed_by.type),
    )
    .returning(
        _table.c.id,
        _table.c.workspace_id,
        _table.c.channel,
        _table.c.target,
        _table.c.dedupe_key,
        _table.c.payload,
        _table.c.attempts,
        _table.c.created_at,
    )
)


async def start_attempts(
    database: Database, clock: Clock, claims: Sequence[Claimed], *, lease: timedelta, owner: str
) -> list[Delivery]:
    """Take the next attempt at each claimed message whose claim still holds, in one statement; the
    stale claims (see :func:`start_attempt`) are left out of the answer."""
    if not claims:
        return []
    now = clock.now()
    async with database.unit_of_work() as session:
        connection = await session.connection()
        result = await connection.execute(
            _START_ATTEMPTS,
            {
                "b_claims": [(claim.id, claim.attempts) for claim in claims],
                "b_next_attempt_at": now + lease,
                "b_now": now,
                "b_owner": owner,
            },
        )
        rows = result.all()
    return [
        Delivery(
            message_id=int(row.id),
            workspace_id=int(row.workspace_id),
            channel=DeliveryChannel(row.channel),
            target=str(row.target),
            dedupe_key=str(row.dedupe_key),
            payload=dict(row.payload),
            attempt=int(row.attempts),
            created_at=row.created_at,
        )
        for row in sorted(rows, key=lambda row: int(row.id))
    ]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one attempt."""

    state: DeliveryState
    recorded: bool  # False when the attempt had lost its lease: another worker owns the message now


@dataclass(frozen=True, slots=True)
class Finished:
    """One attempt as it ended: what the receiver answered, and when the attempt began and ended."""

    delivery: Delivery
    result: Sent | DeliveryFailed
    started_at: datetime
    ended_at: datetime


async def finish_attempt(
    database: Database,
    clock: Clock,
    delivery: Delivery,
    result: Sent | DeliveryFailed,
    *,
    started_at: datetime,
    rng: random.Random,
) -> Outcome:
    """Record how ``delivery``'s attempt ended: delivered, to be retried after the channel's backoff,
    or dead (refused for good, or out of attempts)."""
    finished = Finished(delivery, result, started_at, clock.now())
    return (await finish_attempts(database, clock, [finished], rng=rng))[0]


def _decided(
    finished: Finished, now: datetime, rng: random.Random
) -> tuple[DeliveryState, dict[str, Any], dict[str, Any]]:
    """The message's new state, the columns that record it, and its attempt's log row. Every outcome
    sets the same columns, so that one statement records a whole batch."""
    delivery, result = finished.delivery, finished.result
    duration_ms = max(0, round((finished.ended_at - finished.started_at).total_seconds() * 1000))
    log = {
        "workspace_id": delivery.workspace_id,
        "message_id": delivery.message_id,
        "number": delivery.attempt,
        "started_at": finished.started_at,
        "duration_ms": duration_ms,
        "provider": result.provider,
        "status_code": result.status_code,
    }
    values: dict[str, Any] = {
        "b_id": delivery.message_id,
        "b_attempt": delivery.attempt,
        "b_delivered_at": None,
        "b_provider": None,
        "b_provider_message_id": None,
        # Only an open message's next attempt time is ever read; a closed one keeps its lease's end.
        "b_next_attempt_at": None,
    }
    if isinstance(result, Sent):
        values |= {
            "b_state": DeliveryState.delivered,
            "b_delivered_at": now,
            "b_provider": result.provider,
            "b_provider_message_id": result.provider_message_id,
            "b_last_error": None,
        }
        return DeliveryState.delivered, values, log | {"succeeded": True, "error": None}
    error = _cut(result.reason)
    log |= {"succeeded": False, "error": error}
    delay = None
    if not result.permanent:
        policy = RETRY_POLICIES[delivery.channel]
        delay = retry_delay(policy, delivery.attempt, rng, retry_after=result.retry_after)
    if delay is None:
        return DeliveryState.dead, values | {"b_state": DeliveryState.dead, "b_last_error": error}, log
    values |= {"b_state": DeliveryState.pending, "b_last_error": error, "b_next_attempt_at": now + delay}
    return DeliveryState.pending, values, log


# One statement records any outcome (see _decided), fenced by the attempt it ends.
_RECORD_OUTCOME = (
    update(_table)
    .where(
        _table.c.id == bindparam("b_id"),
        _table.c.state == DeliveryState.sending,
        _table.c.attempts == bindparam("b_attempt"),
    )
    .values(
        state=bindparam("b_state"),
        delivered_at=bindparam("b_delivered_at"),
        provider=bindparam("b_provider"),
        provider_message_id=bindparam("b_provider_message_id"),
        last_error=bindparam("b_last_error"),
        next_attempt_at=func.coalesce(
            bindparam("b_next_attempt_at", type_=_table.c.next_attempt_at.type), _table.c.next_attempt_at
        ),
        claimed_by=None,
    )
)


# Which messages are still being sent, and at which attempt; locked until the outcomes are recorded.
_OWNED_ATTEMPTS = (
    select(_table.c.id, _table.c.attempts)
    .where(_table.c.id.in_(bindparam("b_ids", expanding=True)), _table.c.state == DeliveryState.sending)
    .with_for_update()
)


async def finish_attempts(
    database: Database, clock: Clock, finished: Sequence[Finished], *, rng: random.Random
) -> list[Outcome]:
    """Record how each attempt ended (see :func:`finish_attempt`), in one transaction of three
    statements whatever the batch's size: which attempts still own their messages (locked until the
    commit), the outcomes of those, and the log of every attempt."""
    if not finished:
        return []
    now = clock.now()
    decided = [_decided(one, now, rng) for one in finished]
    async with database.unit_of_work() as session:
        connection = await session.connection()
        owned = await connection.execute(
            _OWNED_ATTEMPTS, {"b_ids": [one.delivery.message_id for one in finished]}
        )
        current = {int(row.id): int(row.attempts) for row in owned}
        recorded = [current.get(one.delivery.message_id) == one.delivery.attempt for one in finished]
        outcomes = [
            Outcome(state=state, recorded=kept) for (state, _, _), kept in zip(decided, recorded, strict=True)
        ]
        updates = [values for (_, values, _), kept in zip(decided, recorded, strict=True) if kept]
        if updates:
            await connection.execute(_RECORD_OUTCOME, updates)
        # The attempt is logged whether or not it still owned the message: it did reach the receiver,
        # or try to, and the log is where an admin looks for that.
        for workspace_id in {one.delivery.workspace_id for one in finished}:
            check_write(session.sync_session, "A delivery attempt", workspace_id)
        await connection.execute(insert(_attempts), [log_row for _state, _values, log_row in decided])
    for one, outcome in zip(finished, outcomes, strict=True):
        if not outcome.recorded:
            _log.warning(
                "outbox message %d: attempt %d ended after its lease; another worker has it now",
                one.delivery.message_id,
                one.delivery.attempt,
            )
    return outcomes


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
