"""The statement that ends the processing of an arrived message, below the ORM's unit of work and naming
its workspace itself (the session's scoped workspace): what became of the message, the event in the
ticket's audit trail that says which rule brought it there, and the side effects processing put into
the outbox (a new ticket's acknowledgement and webhooks).

Every message ends here, so the flush's bookkeeping for an update of fifteen columns and an insert
that reads its id back was paid once per message; on PostgreSQL all of it is one statement, which also
shortens the time a new ticket's transaction holds its workspace's number counter.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.models import AuditEvent
from supportdesk.audit.recorder import updated_event
from supportdesk.channels.email.models import InboundMessage
from supportdesk.db import direct
from supportdesk.db.tenancy import required_workspace_id
from supportdesk.jobs import outbox

_messages = cast(Table, InboundMessage.__table__)
_events = cast(Table, AuditEvent.__table__)
# What processing may have set on a message, whichever way it ended. Each is written with the value the
# object holds, changed or not, so one statement serves every ending.
FINISHED_KEYS = (
    "message_id",
    "sender",
    "subject",
    "state",
    "outcome",
    "thread_rule",
    "thread_evidence",
    "automated_reason",
    "authenticity",
    "defects",
    "ticket_id",
    "comment_id",
    "attempts",
    "last_error",
    "processed_at",
)
_EVENT_KEYS = tuple(column.key for column in _events.c if column.key != "id")


def _finish_message() -> Update:
    return (
        update(_messages)
        .where(_messages.c.id == bindparam("m_id"), _messages.c.workspace_id == bindparam("m_workspace"))
        .values({key: bindparam(f"m_{key}", type_=_messages.c[key].type) for key in FINISHED_KEYS})
    )


_FINISH = _finish_message()
_INSERT_EVENT = insert(_events)


@functools.cache
def _finish_with(event: bool, outbox_rows: bool) -> Update:
    """PostgreSQL's one statement: the ticket's event and the outbox's held rows inserted in ``WITH``
    parts of the message's update."""
    statement = _finish_message()
    if event:
        values = {key: bindparam(f"e_{key}", type_=_events.c[key].type) for key in _EVENT_KEYS}
        statement = statement.add_cte(insert(_events).values(values).cte("ticket_event"))
    if outbox_rows:
        statement = statement.add_cte(outbox.PG_HELD_ROWS)
    return statement


async def finish_message(
    session: AsyncSession,
    message: InboundMessage,
    now: datetime,
    *,
    ticket_changes: Mapping[str, tuple[Any, Any]] | None = None,
) -> None:
    """Write what processing set on ``message`` (:data:`FINISHED_KEYS`), with ``ticket_changes`` an
    "updated" event of the message's ticket, and the outbox's messages held since
    :func:`outbox.hold_until_taken`; the object then holds the values as written, so the unit of work
    does not write them again."""
    workspace_id = required_workspace_id(session.sync_session)
    values = {key: getattr(message, key) for key in FINISHED_KEYS}
    parameters = {f"m_{key}": value for key, value in values.items()}
    parameters |= {"m_id": message.id, "m_workspace": workspace_id}
    event = None
    if ticket_changes is not None and message.ticket_id is not None:
        event = updated_event(
            session.sync_session, workspace_id, "ticket", message.ticket_id, ticket_changes, now
        )
    held = outbox.take_held(session)
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        if event is not None:
            parameters |= {f"e_{key}": event[key] for key in _EVENT_KEYS}
        if held:
            parameters["outbox_rows"] = outbox.pg_rows_parameter(held)
        statement = _finish_with(event is not None, bool(held))
        if not await direct.run_in_one_trip(connection.sync_connection, statement, parameters):
            await connection.execute(statement, parameters)
    else:
        if held:
            await outbox.write_rows(session, held)
        if event is not None:
            await connection.execute(_INSERT_EVENT, event)
        await connection.execute(_FINISH, parameters)
    direct.as_written(session.sync_session, message, FINISHED_KEYS)
