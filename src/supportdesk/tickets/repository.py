"""The ticket statements that run below the ORM: opening a ticket and reading a list page, the busiest
write and the busiest read.

The session's tenancy hook only sees ORM statements, so each statement here names its workspace itself:
the insert carries ``NAMES_ITS_WORKSPACE``, which the hook checks against the session's workspace, and
the reads filter by ``tenancy.required_workspace_id``, which refuses an unscoped session. This module is
the only one in the package that does either, and the only one that asks which database it talks to.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Insert,
    Select,
    Table,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ExecutableReturnsRows

from supportdesk.audit.recorder import created_event_parameters, insert_with_created_event, record_created
from supportdesk.core.pagination import after_cursor, decode_cursor_as, encode_cursor, split_page
from supportdesk.db import direct
from supportdesk.db.tenancy import NAMES_ITS_WORKSPACE, check_write, required_workspace_id
from supportdesk.notifications import service as notifications
from supportdesk.tickets import rules
from supportdesk.tickets.models import (
    FIRST_RESPONSE_RUNNING_STATUSES,
    RESOLUTION_RUNNING_STATUSES,
    Channel,
    ListedTicket,
    Priority,
    Ticket,
    TicketStatus,
    TicketTag,
    first_response_running,
    resolution_running,
)
from supportdesk.tickets.schemas import TicketSort
from supportdesk.workspaces.service import NUMBER_RESERVED_BY_THE_INSERT

_ticket_table = cast(Table, Ticket.__table__)
_tag_table = cast(Table, TicketTag.__table__)
# A Core INSERT ... RETURNING loaded as a Ticket: the ORM's bulk INSERT would inspect every attribute of
# the values first, which costs more than the statement.
_INSERT_TICKET = select(Ticket).from_statement(insert(_ticket_table).returning(*_ticket_table.c))


@functools.cache
def _ticket_and_event(keys: tuple[str, ...], with_note: bool) -> Select[Any]:
    # Built once for the columns creation sets (always the same): PostgreSQL's one-statement form.
    also = (notifications.insert_note_about,) if with_note else ()
    # A ticket given without its number reserves it here (see reserves_the_number).
    computed = (
        {}
        if "number" in keys
        else {"number": select(NUMBER_RESERVED_BY_THE_INSERT.c.ticket_counter).scalar_subquery()}
    )
    return insert_with_created_event(Ticket, keys, also=also, computed=computed)


def reserves_the_number(session: AsyncSession) -> bool:
    """Whether :func:`insert_ticket` reserves the workspace's next number for a ticket given without one.

    It does on PostgreSQL, in the ticket's own statement. Reserving the number locks the workspace's row
    until the commit, and every other ticket opened in the workspace waits that long: taken by the
    insert, the lock leaves out one round trip and every rule decided before it. SQLite lets one writer
    at a time anyway, so there the number is reserved before, with what intake reads.
    """
    return in_one_statement(session)


def in_one_statement(session: AsyncSession) -> bool:
    """Whether ``session``'s database writes a row with what goes with it (its audit event, a note) in
    one statement: PostgreSQL, with its data-modifying ``WITH``."""
    return session.bind is not None and session.bind.dialect.name == "postgresql"


@functools.cache
def _insert_ticket_and_event(keys: tuple[str, ...], with_note: bool) -> ExecutableReturnsRows:
    return select(Ticket).from_statement(_ticket_and_event(keys, with_note))


async def insert_ticket(
    session: AsyncSession,
    values: dict[str, Any],
    tags: Sequence[str] = (),
    *,
    note: notifications.Note | None = None,
) -> Ticket:
    """Write a new ticket with every column in ``values``, its audit event, its ``tags`` and ``note``
    about it (for whoever must hear of the new ticket); the ticket comes back loaded, with its tags.
    A ``number`` of ``None`` is reserved by the ticket's own statement, where
    :func:`reserves_the_number`.

    The ticket's workspace stays locked from its number's reservation to the commit, and every other
    ticket opened in the workspace waits that long: on PostgreSQL the note is written by the ticket's own
    statement, one round trip fewer inside that window."""
    workspace_id = values["workspace_id"]
    one_statement = in_one_statement(session)
    if values.get("number", 0) is None:
        if not one_statement:
            raise ValueError("this database reserves a ticket's number before the ticket is written")
        values = {key: value for key, value in values.items() if key != "number"}
    # Every ticket opened goes through here: one INSERT ... RETURNING and its audit event, without the
    # unit of work's bookkeeping (about a sixth of the request). The flush hooks do not see this
    # statement: the session checks the workspace it names, and the event is recorded here.
    named = {NAMES_ITS_WORKSPACE: workspace_id}
    if one_statement:
        # PostgreSQL writes the audit event in the same statement (a data-modifying WITH).
        statement = _insert_ticket_and_event(tuple(values), note is not None)
        parameters = values | created_event_parameters(session.sync_session, Ticket, values)
        if note is not None:
            parameters |= notifications.note_parameters(note, values["created_at"])
    else:
        statement, parameters = _INSERT_TICKET, values
    ticket = await _written_by_the_driver(
        session,
        _ticket_and_event(tuple(values), note is not None) if one_statement else _RETURNING_TICKET,
        parameters,
    )
    if ticket is None:
        ticket = (await session.execute(statement, parameters, execution_options=named)).scalar_one()
    set_committed_value(ticket, "tag_rows", [])
    if note is not None:
        note = replace(note, ticket_id=ticket.id, about=notifications.About.of(ticket))
    if not one_statement:
        await record_created(session, ticket)
        if note is not None:
            await notifications.record_at(session, workspace_id, [note], values["created_at"])
    elif note is not None:
        # The statement wrote the in-app note; its push and its e-mail copy go now.
        await notifications.tell(session, workspace_id, [note], values["created_at"])
    if tags:
        # Filed under the ticket as an update, as adding tags later is.
        ticket.tag_rows.extend(TicketTag(workspace_id=workspace_id, name=tag) for tag in dict.fromkeys(tags))
        await session.flush()
    return ticket


_RETURNING_TICKET = insert(_ticket_table).returning(*_ticket_table.c)


async def _written_by_the_driver(
    session: AsyncSession, statement: Select[Any] | Insert, parameters: dict[str, Any]
) -> Ticket | None:
    """The new ticket written by ``statement`` and read back with the driver's own call, put in the
    session as if a query had loaded it; ``None``, with nothing written, where the driver's way is not
    taken (see ``direct.returned_object``). SQLAlchemy's execution of the statement and its
    loading of the row into a ``Ticket`` cost each ticket opened some 0.9 M instructions on SQLite,
    with its four trips to aiosqlite's thread, and 0.8 M on PostgreSQL (docs/performance.md)."""
    # The check the tenancy hook makes of the ORM statement's NAMES_ITS_WORKSPACE.
    check_write(session.sync_session, "A ticket", parameters["workspace_id"])
    returned = await direct.returned_object(session, Ticket, statement, parameters)
    if returned is None:
        raise LookupError("the ticket's statement returned no row")
    return None if isinstance(returned, direct.NotSent) else returned


@dataclass(frozen=True, slots=True)
class TicketFilters:
    """What a ticket list may be narrowed by; every field is optional."""

    status: Sequence[TicketStatus] = ()
    priority: Sequence[Priority] = ()
    assignee_id: int | None = None
    unassigned: bool = False
    customer_id: int | None = None
    category: str | None = None
    tag: str | None = None
    urgent: bool | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    channel: Channel | None = None
    escalated: bool | None = None
    # Tickets whose SLA is in some state, as the sla package words it (sla.service.sla_condition).
    sla_condition: ColumnElement[bool] | None = None
    # What a search box was given: a ticket number ("42" or "#42"), a customer's address, or words of
    # the title (case does not matter).
    text: str | None = None


_LISTED_COLUMNS = tuple(_ticket_table.c[name] for name in ListedTicket.__dataclass_fields__ if name != "tags")
_LISTED_TAGS = select(_tag_table.c.ticket_id, _tag_table.c.name).where(
    _tag_table.c.workspace_id == bindparam("workspace_id"),
    _tag_table.c.ticket_id.in_(bindparam("ticket_ids", expanding=True)),
)
# PostgreSQL takes the page's ids as one array, where IN would render fifty parameters per request.
_LISTED_TAGS_BY_ARRAY = select(_tag_table.c.ticket_id, _tag_table.c.name).where(
    _tag_table.c.workspace_id == bindparam("workspace_id"),
    _tag_table.c.ticket_id == any_(bindparam("ticket_ids", type_=postgresql.ARRAY(BigInteger))),
)


@dataclass(slots=True)
class TicketPage:
    items: list[ListedTicket]
    next_cursor: str | None


# The next running SLA target's due time (the first response while it is owed, the resolution while
# work is owed): tickets with neither clock running sort after every due time, as if due at the end of
# time, so that the order and its cursor never meet a NULL.
_NEVER_DUE = datetime(9999, 12, 31, tzinfo=UTC)
_FIRST = case((first_response_running(), Ticket.first_response_due_at), else_=None)
_RESOLUTION = case((resolution_running(), Ticket.resolution_due_at), else_=None)
_NEXT_DUE: ColumnElement[Any] = func.coalesce(
    case(
        (_FIRST.is_(None), _RESOLUTION),
        (_RESOLUTION.is_(None) | (_FIRST <= _RESOLUTION), _FIRST),
        else_=_RESOLUTION,
    ),
    bindparam("never_due", _NEVER_DUE, type_=Ticket.created_at.type),
)


def _constant_in(column: Any, values: Sequence[TicketStatus]) -> ColumnElement[bool]:
    """``column IN (...)`` with the values written into the statement, as the partial indexes' own
    conditions are: a database uses a partial index only for a query whose conditions it can see
    imply the index's, and a bound parameter hides its value from the planner."""
    return cast(
        "ColumnElement[bool]",
        column.in_(bindparam(None, [value.value for value in values], expanding=True, literal_execute=True)),
    )


# What the due-time indexes (ix_ticket_first_response_due, ix_ticket_resolution_due) cover.
_FIRST_RUNNING = and_(
    Ticket.first_responded_at.is_(None),
    _constant_in(Ticket.status, FIRST_RESPONSE_RUNNING_STATUSES),
    Ticket.first_response_due_at.is_not(None),
)
_RESOLUTION_RUNNING = and_(
    _constant_in(Ticket.status, RESOLUTION_RUNNING_STATUSES), Ticket.resolution_due_at.is_not(None)
)


async def _first_by_next_due(
    connection: AsyncConnection, query: Select[Any], count: int, since: datetime | None
) -> list[Row[Any]]:
    """The first ``count`` rows of ``query`` (filtered, and past the cursor) in next-due order, read
    along the two due-time indexes instead of computing and sorting every match's next due time.

    A ticket's next due time is the earlier of its running targets, so the first ``count`` by next due
    are among the first ``count`` by first-response due (of tickets whose first-response clock runs)
    together with the first ``count`` by resolution due (of those whose resolution clock runs): every
    ticket ahead of one in its own index's order is ahead of it in next-due order too. Tickets with no
    running target come last, by id. The three short reads are merged here, in the order the cursor
    was made with."""
    by_first = query.where(_FIRST_RUNNING)
    by_resolution = query.where(_RESOLUTION_RUNNING)
    if since is not None:
        # A target due before the cursor cannot belong to a ticket after it (the next due time is never
        # later than either); these bounds let each read seek its index to the cursor.
        by_first = by_first.where(Ticket.first_response_due_at >= since)
        by_resolution = by_resolution.where(Ticket.resolution_due_at >= since)
    found: dict[int, Row[Any]] = {}
    for read in (
        by_first.order_by(Ticket.first_response_due_at, Ticket.id),
        by_resolution.order_by(Ticket.resolution_due_at, Ticket.id),
    ):
        for row in await connection.execute(read.limit(count)):
            found.setdefault(row.id, row)
    if len(found) < count:
        # Only a page that runs out of tickets with a running target reaches those without one.
        never = query.where(~_FIRST_RUNNING, ~_RESOLUTION_RUNNING).order_by(Ticket.id).limit(count)
        for row in await connection.execute(never):
            found.setdefault(row.id, row)
    return sorted(found.values(), key=lambda row: (next_due(row), row.id))[:count]


def next_due(ticket: Row[Any] | ListedTicket) -> datetime:
    """When the ticket's next running SLA target is due, as the ``sla_due`` order reads it."""
    first = (
        ticket.first_response_due_at
        if ticket.first_responded_at is None and ticket.status in FIRST_RESPONSE_RUNNING_STATUSES
        else None
    )
    resolution = ticket.resolution_due_at if ticket.status in RESOLUTION_RUNNING_STATUSES else None
    due = [moment for moment in (first, resolution) if moment is not None]
    return min(due) if due else _NEVER_DUE


_SORT_COLUMNS: dict[str, ColumnElement[Any]] = {
    "created_at": Ticket.created_at,  # type: ignore[dict-item]
    "updated_at": Ticket.updated_at,  # type: ignore[dict-item]
    "number": Ticket.number,  # type: ignore[dict-item]
    "priority": case(
        {priority.value: rank for priority, rank in rules.PRIORITY_RANK.items()}, value=Ticket.priority
    ),
    "sla_due": _NEXT_DUE,
}
_TIME_KEYS = frozenset({"created_at", "updated_at", "sla_due"})


def _sort_value(ticket: Row[Any], key: str) -> Any:
    if key == "priority":
        return rules.PRIORITY_RANK[ticket.priority]
    if key == "sla_due":
        return next_due(ticket)
    return getattr(ticket, key)


_NUMBER = re.compile(r"^#?(\d{1,9})$")


def _searched(text: str) -> ColumnElement[bool]:
    words = text.strip()
    found = _NUMBER.match(words)
    if found is not None:
        return Ticket.number == int(found.group(1))
    if "@" in words and " " not in words:
        return func.lower(Ticket.customer_email) == words.lower()
    return Ticket.title.icontains(words, autoescape=True)


def _filtered(query: Select[Ticket], filters: TicketFilters) -> Select[Ticket]:
    if filters.status:
        query = query.where(Ticket.status.in_(list(filters.status)))
    if filters.priority:
        query = query.where(Ticket.priority.in_(list(filters.priority)))
    if filters.unassigned:
        query = query.where(Ticket.assigned_agent_id.is_(None))
    elif filters.assignee_id is not None:
        query = query.where(Ticket.assigned_agent_id == filters.assignee_id)
    if filters.customer_id is not None:
        query = query.where(Ticket.customer_id == filters.customer_id)
    if filters.category is not None:
        query = query.where(Ticket.category == filters.category)
    if filters.tag is not None:
        query = query.where(exists().where(TicketTag.ticket_id == Ticket.id, TicketTag.name == filters.tag))
    if filters.channel is not None:
        query = query.where(Ticket.channel == filters.channel)
    if filters.escalated is not None:
        query = query.where(Ticket.escalated.is_(filters.escalated))
    if filters.created_after is not None:
        query = query.where(Ticket.created_at >= filters.created_after)
    if filters.created_before is not None:
        query = query.where(Ticket.created_at < filters.created_before)
    if filters.urgent is not None:
        urgent = (
            (Ticket.status == TicketStatus.open)
            & Ticket.assigned_agent_id.is_(None)
            & Ticket.priority.in_(list(rules.URGENT_PRIORITIES))
        )
        query = query.where(urgent if filters.urgent else ~urgent)
    if filters.sla_condition is not None:
        query = query.where(filters.sla_condition)
    if filters.text:
        query = query.where(_searched(filters.text))
    return query


async def count_tickets(session: AsyncSession, filters: TicketFilters, *, cap: int) -> int:
    """How many tickets match ``filters``, counting no further than ``cap + 1``: a queue's badge says
    "99+" and need not make the database count a hundred thousand rows."""
    (count,) = await count_each(session, [filters], cap=cap)
    return count


async def count_each(session: AsyncSession, each: Sequence[TicketFilters], *, cap: int) -> list[int]:
    """How many tickets match each of ``each``, as :func:`count_tickets` counts, in one statement: a
    page shows the count of every queue, and one round trip costs less than one per queue."""
    workspace_id = required_workspace_id(session.sync_session)
    counts = []
    for filters in each:
        matching = _filtered(
            select(_ticket_table.c.id).where(_ticket_table.c.workspace_id == workspace_id), filters
        )
        counts.append(select(func.count()).select_from(matching.limit(cap + 1).subquery()).scalar_subquery())
    connection = await session.connection()
    row = (await connection.execute(select(*counts))).one()
    return [int(count) for count in row]


async def list_tickets(
    session: AsyncSession,
    *,
    filters: TicketFilters,
    sort: TicketSort = TicketSort.created_at_desc,
    limit: int,
    cursor: str | None = None,
) -> TicketPage:
    """A page of tickets matching ``filters`` in ``sort`` order, with the next page's cursor."""
    descending = sort.value.startswith("-")
    key = sort.value.lstrip("-")
    column = _SORT_COLUMNS[key]
    # Below the ORM, so the statements name the session's workspace themselves.
    workspace_id = required_workspace_id(session.sync_session)
    query = _filtered(select(*_LISTED_COLUMNS).where(_ticket_table.c.workspace_id == workspace_id), filters)
    if cursor is not None:
        kind = datetime if key in _TIME_KEYS else int
        value, row_id = decode_cursor_as(cursor, sort.value, kind)
        query = query.where(after_cursor(column, Ticket.id, value, row_id, descending=descending))
    connection = await session.connection()
    if sort is TicketSort.sla_due:
        since = value if cursor is not None else None
        rows = await _first_by_next_due(connection, query, limit + 1, since)
    else:
        order = (column.desc(), Ticket.id.desc()) if descending else (column.asc(), Ticket.id.asc())
        rows = list((await connection.execute(query.order_by(*order).limit(limit + 1))).all())
    page, next_cursor = split_page(
        rows, limit, lambda last: encode_cursor(sort.value, _sort_value(last, key), last.id)
    )
    tags: dict[int, list[str]] = {row.id: [] for row in page}
    if page:
        statement = _LISTED_TAGS_BY_ARRAY if connection.dialect.name == "postgresql" else _LISTED_TAGS
        for ticket_id, name in await connection.execute(
            statement, {"workspace_id": workspace_id, "ticket_ids": list(tags)}
        ):
            tags[ticket_id].append(name)
    # Sorted as Ticket.tags sorts them, not by the database's collation.
    items = [ListedTicket(**row._mapping, tags=sorted(tags[row.id])) for row in page]
    return TicketPage(items=items, next_cursor=next_cursor)
