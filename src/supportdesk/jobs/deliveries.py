"""The delivery log as admins read it: outbox messages with their attempts, and retrying dead ones.

Reads and the retry run in the caller's unit of work (an API request or a CLI command); the session's
workspace scopes every statement, like any other row's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.recorder import record_updates
from supportdesk.core.clock import Clock
from supportdesk.core.errors import Conflict
from supportdesk.core.pagination import decode_cursor_as, encode_cursor, split_page
from supportdesk.db.lookups import get_in_workspace
from supportdesk.jobs import outbox
from supportdesk.jobs.models import (
    OPEN_STATES,
    DeliveryAttempt,
    DeliveryChannel,
    DeliveryState,
    OutboxMessage,
)
from supportdesk.jobs.schemas import DeliveryOut

_SORT = "-id"


class DeliveryInFlight(Conflict):
    code = "delivery-in-flight"
    title = "The delivery is being attempted now"


class DeliveryDelivered(Conflict):
    code = "delivery-delivered"
    title = "The delivery was delivered; send a new message instead of retrying it"


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    state: DeliveryState | None = None
    channel: DeliveryChannel | None = None
    ticket_id: int | None = None
    target: str | None = None


async def list_deliveries(
    session: AsyncSession, filters: DeliveryFilter, *, limit: int, cursor: str | None = None
) -> tuple[list[OutboxMessage], str | None]:
    """A page of the workspace's outbox messages, newest first, and the next page's cursor."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit + 1)
    if filters.state is not None:
        query = query.where(OutboxMessage.state == filters.state)
    if filters.channel is not None:
        query = query.where(OutboxMessage.channel == filters.channel)
    if filters.ticket_id is not None:
        query = query.where(OutboxMessage.ticket_id == filters.ticket_id)
    if filters.target is not None:
        query = query.where(OutboxMessage.target == filters.target)
    if cursor is not None:
        _value, before_id = decode_cursor_as(cursor, _SORT, int)
        query = query.where(OutboxMessage.id < before_id)
    rows = list((await session.execute(query)).scalars())
    return split_page(rows, limit, lambda last: encode_cursor(_SORT, last.id, last.id))


async def get_delivery(session: AsyncSession, message_id: int) -> OutboxMessage:
    """The outbox message with ``message_id`` in the session's workspace."""
    return await get_in_workspace(session, OutboxMessage, message_id, "delivery")


async def attempts_of(session: AsyncSession, message_ids: Sequence[int]) -> dict[int, list[DeliveryAttempt]]:
    """Each message's attempts, first first."""
    found: dict[int, list[DeliveryAttempt]] = {message_id: [] for message_id in message_ids}
    if not message_ids:
        return found
    query = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.message_id.in_(list(message_ids)))
        .order_by(DeliveryAttempt.message_id, DeliveryAttempt.number, DeliveryAttempt.id)
    )
    for attempt in (await session.execute(query)).scalars():
        found[attempt.message_id].append(attempt)
    return found


def delivery_out(message: OutboxMessage, attempts: Sequence[DeliveryAttempt] = ()) -> DeliveryOut:
    """A message as the log shows it: the lease or retry time only while it is still open, and what
    the latest of ``attempts`` got."""
    view = DeliveryOut.model_validate(message)
    if message.state not in OPEN_STATES:
        view.next_attempt_at = None
    if attempts:
        view.last_status_code = attempts[-1].status_code
        view.last_duration_ms = attempts[-1].duration_ms
    return view


async def delivery_views(session: AsyncSession, rows: Sequence[OutboxMessage]) -> list[DeliveryOut]:
    """A page of messages as the log shows them, each with what its latest attempt got (one query for
    the page); the API and the admin pages show the same."""
    attempts = await attempts_of(session, [row.id for row in rows])
    return [delivery_out(row, attempts[row.id]) for row in rows]


async def retry_delivery(session: AsyncSession, clock: Clock, message: OutboxMessage) -> OutboxMessage:
    """Make a dead (or waiting) message due now with a fresh set of attempts.

    Refused while a worker has it (its outcome would overwrite the retry) and once it was delivered (a
    second send is a new message, not a retry). The state is checked in the statement itself, so a
    worker that took the message meanwhile wins and the retry is refused.
    """
    if message.state == DeliveryState.delivered:
        raise DeliveryDelivered(f"Delivery {message.id} was delivered at {message.delivered_at}")
    now = clock.now()
    before_state, before_retries = message.state, message.manual_retries
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message.id,
            OutboxMessage.state.in_((DeliveryState.dead, DeliveryState.pending)),
        )
        .values(
            state=DeliveryState.pending,
            attempts=0,
            next_attempt_at=now,
            claimed_by=None,
            manual_retries=OutboxMessage.manual_retries + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise DeliveryInFlight(f"Delivery {message.id} is being attempted; try again when it has finished")
    await session.refresh(message)
    # The statement is below the ORM's audit hook, so the retry is put on record here.
    changes: dict[str, list[Any]] = {
        "state": [before_state, message.state],
        "manual_retries": [before_retries, message.manual_retries],
    }
    await record_updates(session, clock, message.workspace_id, "delivery", {message.id: changes})
    outbox.mark_written(session)
    return message
