"""A new comment written below the unit of work where that is safe: on PostgreSQL, a comment that
changes nothing on its ticket but when it was last updated is one statement with its audit event and the
ticket's versioned update (decision 0064). Every other comment is written by the flush, with its hooks.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from sqlalchemy import Integer, Select, Table, bindparam, column, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from supportdesk.audit.recorder import created_event_parameters, insert_with_created_event
from supportdesk.db import direct, objects
from supportdesk.db.tenancy import check_write
from supportdesk.tickets import repository
from supportdesk.tickets.models import Comment, Ticket

_ticket_table = cast(Table, Ticket.__table__)
_comment_table = cast(Table, Comment.__table__)
_COMMENT_COLUMNS = tuple(column.key for column in _comment_table.c)
_COMMENT_KEYS = tuple(key for key in _COMMENT_COLUMNS if key != "id")


@functools.cache
def _comment_written(touched: bool) -> Select[Any]:
    """PostgreSQL's one statement for a comment that changes nothing on its ticket but when it was last
    updated: the comment and its "created" event, and, when the ticket was ``touched``, the ticket's
    update (its version checked and moved on, as the unit of work does), with the ticket's new version,
    ``NULL`` when another transaction changed the ticket first."""
    if not touched:
        return insert_with_created_event(Comment, _COMMENT_KEYS)
    # Text, not a Core UPDATE: the insert is compiled for the comment's columns, and SQLAlchemy would
    # set those of them the ticket has too (its created_at, its workspace) in a Core UPDATE.
    update = (
        text(
            "UPDATE ticket SET updated_at = :t_updated_at, version = version + 1 "
            "WHERE id = :t_id AND workspace_id = :workspace_id AND version = :t_version RETURNING version"
        )
        .bindparams(
            bindparam("t_updated_at", type_=_ticket_table.c.updated_at.type),
            bindparam("t_id", type_=_ticket_table.c.id.type),
            bindparam("workspace_id", type_=_ticket_table.c.workspace_id.type),
            bindparam("t_version", type_=_ticket_table.c.version.type),
        )
        .columns(column("version", Integer))
        .cte("touched")
    )
    written = insert_with_created_event(Comment, _COMMENT_KEYS, also=(lambda _row: update,))
    return written.add_columns(select(update.c.version).scalar_subquery().label("ticket_version"))


def _only_touched(session: AsyncSession, ticket: Ticket) -> bool:
    """Whether the session's only change is the ticket's ``updated_at`` (or none at all)."""
    sync = session.sync_session
    if (
        sync.new
        or sync.deleted
        or any(sync.is_modified(other) for other in sync.dirty if other is not ticket)
    ):
        return False
    state = inspect(ticket)
    if not state.persistent:
        return False
    # A value set again to what it was (a reply's status on an open ticket) is no change.
    return all(
        key == "updated_at" or not state.attrs[key].history.has_changes() for key in state.committed_state
    )


async def insert_comment(session: AsyncSession, ticket: Ticket, comment: Comment) -> Comment:
    """Write a new ``comment`` on ``ticket``, with the changes the session holds (the ticket's among
    them) and the comment's audit event; the comment comes back in the session as if loaded.

    Every reply that arrives by e-mail comes through here. When all the ticket gains is its new
    ``updated_at`` (a customer's reply to an open ticket, an internal note), PostgreSQL writes the
    comment, its event and the ticket's update in one statement: the unit of work's flush took three,
    with its own bookkeeping for each. Any other change (a reopened ticket, a first response) is the
    flush's, with the audit events and SLA clocks its hooks keep."""
    values = {key: getattr(comment, key) for key in _COMMENT_KEYS}
    if (
        not repository.in_one_statement(session)
        or not _only_touched(session, ticket)
        or values["workspace_id"] is None
    ):
        return await _flushed(session, comment)
    # The checks the flush makes of a new row's workspace and of a changed ticket's.
    check_write(session.sync_session, "A comment", values["workspace_id"])
    check_write(session.sync_session, "A ticket", ticket.workspace_id)
    parameters = values | created_event_parameters(session.sync_session, Comment, values)
    # A ticket whose updated_at is what it was (the same moment) is not updated, as the flush would not.
    touched = inspect(ticket).attrs.updated_at.history.has_changes()
    if touched:
        parameters |= {"t_id": ticket.id, "t_version": ticket.version, "t_updated_at": ticket.updated_at}
    connection = await session.connection()
    found = await direct.fetch_row_in_one_trip(
        connection.sync_connection, _comment_written(touched), parameters
    )
    if found is None:
        return await _flushed(session, comment)
    row, version = (found[:-1], found[-1]) if touched else (found, ticket.version)
    if version is None:
        raise StaleDataError(f"ticket {ticket.id} was changed by another transaction")
    # What else the ticket holds was set again to the value it had (see _only_touched).
    direct.as_written(session.sync_session, ticket, tuple(inspect(ticket).committed_state), version=version)
    if touched:
        objects.note_changed(session, "ticket", ticket.workspace_id, (ticket.id,))
    columns = dict(zip(_COMMENT_COLUMNS, row, strict=True))
    return direct.as_loaded(session.sync_session, inspect(Comment), columns)


async def _flushed(session: AsyncSession, comment: Comment) -> Comment:
    session.add(comment)
    await session.flush()
    return comment
