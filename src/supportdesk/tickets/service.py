"""Ticket use cases. Services flush; the caller (request or job) commits."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import BigInteger, Select, Table, any_, bindparam, case, exists, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ExecutableReturnsRows

from supportdesk.assignment import service as assignment_service
from supportdesk.audit.recorder import created_event_parameters, insert_with_created_event, record_created
from supportdesk.core.clock import Clock
from supportdesk.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from supportdesk.core.http import require_version
from supportdesk.core.pagination import after_cursor, decode_cursor_as, encode_cursor, split_page
from supportdesk.core.permissions import Action, Role, check_permission
from supportdesk.db.tenancy import NAMES_ITS_WORKSPACE, required_workspace_id
from supportdesk.people import service as people_service
from supportdesk.people.models import Customer, Staff, User
from supportdesk.sla import service as sla_service
from supportdesk.sla.rules import ClockFacts
from supportdesk.tickets import rules
from supportdesk.tickets.models import (
    Channel,
    Comment,
    ListedTicket,
    Priority,
    Ticket,
    TicketStatus,
    TicketTag,
)
from supportdesk.tickets.schemas import CommentAuthor, TicketSort
from supportdesk.workspaces import service as workspace_service

_ticket_table = cast(Table, Ticket.__table__)
_tag_table = cast(Table, TicketTag.__table__)
# A Core INSERT ... RETURNING loaded as a Ticket: the ORM's bulk INSERT would inspect every attribute of
# the values first, which costs more than the statement.
_INSERT_TICKET = select(Ticket).from_statement(insert(_ticket_table).returning(*_ticket_table.c))


@functools.cache
def _insert_ticket_and_event(keys: tuple[str, ...]) -> ExecutableReturnsRows:
    # Built once for the columns creation sets (always the same): PostgreSQL's one-statement form.
    return select(Ticket).from_statement(insert_with_created_event(Ticket, keys))


class InvalidTransition(Conflict):
    code = "invalid-transition"
    title = "The ticket cannot move to that status"


class TicketClosed(Conflict):
    code = "ticket-closed"
    title = "A closed ticket cannot change"


class DuplicateTicketExternalId(Conflict):
    code = "duplicate-external-id"
    title = "Another ticket has this external id"


class SlaFilter(StrEnum):
    breached = "breached"
    at_risk = "at_risk"


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
    sla: SlaFilter | None = None
    now: datetime | None = None  # what "breached" and "at risk" are judged against


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


def _with_tags(query: Select[Ticket]) -> Select[Ticket]:
    return query.options(selectinload(Ticket.tag_rows))


async def get_ticket(session: AsyncSession, ticket_id: int) -> Ticket:
    """The ticket with ``ticket_id`` in the session's workspace, with its tags."""
    result = await session.execute(_with_tags(select(Ticket).where(Ticket.id == ticket_id)))
    ticket = result.scalar_one_or_none()
    if ticket is None:
        raise NotFound("No such ticket")
    return ticket


def _require_known_category(category: str, categories: Sequence[str]) -> None:
    if category not in categories:
        allowed = ", ".join(categories)
        raise InvalidInput("category", f"Unknown category; use one of: {allowed}.", reason="unknown-category")


async def _check_category(session: AsyncSession, workspace_id: int, category: str) -> None:
    workspace = await workspace_service.get_workspace(session, workspace_id)
    _require_known_category(category, workspace.categories)


async def _check_assignee(session: AsyncSession, agent_id: int) -> User:
    agent = await session.get(User, agent_id)
    if agent is None or not agent.is_active:
        raise InvalidInput("assigned_agent_id", "No active staff user has this id.", reason="unknown-agent")
    if agent.role is Role.viewer:
        raise InvalidInput("assigned_agent_id", "Viewers cannot be assigned tickets.", reason="not-an-agent")
    return agent


async def _check_external_id(session: AsyncSession, external_id: str, except_id: int | None = None) -> None:
    query = select(Ticket.id).where(Ticket.external_id == external_id)
    if except_id is not None:
        query = query.where(Ticket.id != except_id)
    if (await session.execute(query)).first() is not None:
        raise DuplicateTicketExternalId(f"Another ticket has the external id {external_id!r}")


async def create_ticket(
    session: AsyncSession,
    clock: Clock,
    *,
    workspace_id: int,
    title: str,
    description: str = "",
    priority: Priority = Priority.medium,
    category: str | None = None,
    tags: Sequence[str] = (),
    customer_email: str | None = None,
    customer_name: str | None = None,
    assigned_agent_id: int | None = None,
    channel: Channel = Channel.api,
    external_id: str | None = None,
    auto_assign: bool = True,
) -> Ticket:
    """Open a ticket: the customer with ``customer_email`` is found or created, the SLA policy sets its due
    times, and, where the workspace assigns automatically (and ``auto_assign``), an agent takes it."""
    if external_id is not None:
        await _check_external_id(session, external_id)
    if assigned_agent_id is not None:
        await _check_assignee(session, assigned_agent_id)
    customer: Customer | None = None
    if customer_email is not None:
        customer = await people_service.find_or_create_customer(
            session, clock, email=customer_email, name=customer_name
        )
    # Reserving the number locks the workspace row until commit, and every ticket opened in the
    # workspace meanwhile waits for it: the lookups above stay outside that window. One round trip
    # reserves the number and reads what intake needs; a refusal below rolls it back.
    intake = await workspace_service.reserve_ticket_number(session, workspace_id)
    category = category or rules.default_category(intake.categories)
    _require_known_category(category, intake.categories)
    automatic = None
    if auto_assign and intake.auto_assign and assigned_agent_id is None:
        # Chosen before the insert, so the ticket is written once, already assigned.
        settings = assignment_service.settings_from(
            intake.assignment_strategy, intake.category_strategies, intake.agent_capacity
        )
        automatic = await assignment_service.pick_agent(
            session, settings, priority=priority, category=category
        )
        assigned_agent_id = automatic
    now = clock.now()
    status = rules.status_after_assignment(TicketStatus.open, assigned_agent_id)
    setup = await sla_service.load_setup(session, workspace_id)
    facts = ClockFacts(priority=priority, status=status, created_at=now)
    values = {
        "workspace_id": workspace_id,
        "number": intake.number,
        "title": title,
        "description": description,
        "status": status,
        "priority": priority,
        "category": category,
        "customer_id": customer.id if customer else None,
        "customer_email": customer.email if customer else None,
        "assigned_agent_id": assigned_agent_id,
        "channel": channel,
        "external_id": external_id,
        "assignment_seq": intake.assignment_seq if automatic is not None else None,
        "escalated": False,
        "created_at": now,
        "updated_at": now,
        "sla_paused_seconds": 0,
        "version": 1,
        **sla_service.due_fields(setup, customer.tier if customer else None, category, facts),
    }
    # Every ticket opened goes through here: one INSERT ... RETURNING and its audit event, without the
    # unit of work's bookkeeping (about a sixth of the request). The flush hooks do not see this
    # statement: the session checks the workspace it names, and the event is recorded here.
    named = {NAMES_ITS_WORKSPACE: workspace_id}
    in_one_statement = session.bind is not None and session.bind.dialect.name == "postgresql"
    if in_one_statement:
        # PostgreSQL writes the audit event in the same statement (a data-modifying WITH).
        statement = _insert_ticket_and_event(tuple(values))
        parameters = values | created_event_parameters(session.sync_session, Ticket, values)
    else:
        statement, parameters = _INSERT_TICKET, values
    ticket: Ticket = (await session.execute(statement, parameters, execution_options=named)).scalar_one()
    set_committed_value(ticket, "tag_rows", [])
    if not in_one_statement:
        await record_created(session, ticket)
    if tags:
        # Filed under the ticket as an update, as adding tags later is.
        ticket.tag_rows.extend(TicketTag(workspace_id=workspace_id, name=tag) for tag in dict.fromkeys(tags))
        await session.flush()
    if automatic is not None:
        await assignment_service.notify_assignee(session, clock, ticket)
    return ticket


def _apply_status(ticket: Ticket, target: TicketStatus, now: datetime) -> None:
    if target == ticket.status:
        return
    if not rules.can_transition(ticket.status, target):
        raise InvalidTransition(
            f"A ticket cannot go from {ticket.status.value} to {target.value}",
            current_status=ticket.status.value,
            allowed=sorted(status.value for status in rules.TRANSITIONS[ticket.status]),
        )
    if target in rules.NEEDS_ASSIGNEE and ticket.assigned_agent_id is None:
        raise InvalidInput(
            "status", f"Assign the ticket before moving it to {target.value}.", reason="needs-assignee"
        )
    if ticket.status is TicketStatus.resolved and target is not TicketStatus.closed:
        ticket.resolved_at = None  # reopened
    if target is TicketStatus.resolved:
        ticket.resolved_at = now
    if target is TicketStatus.closed:
        ticket.closed_at = now
    ticket.status = target


async def update_ticket(
    session: AsyncSession,
    clock: Clock,
    ticket: Ticket,
    changes: dict[str, Any],
    *,
    actor: Staff,
    expected_version: int | None = None,
) -> Ticket:
    """Apply a partial update. Only fields present in ``changes`` are touched."""
    require_version(ticket.version, expected_version)
    if ticket.status is TicketStatus.closed:
        raise TicketClosed()
    now = clock.now()
    before = (ticket.status, ticket.priority, ticket.category)
    if "category" in changes and changes["category"] is not None:
        await _check_category(session, ticket.workspace_id, changes["category"])
    if "external_id" in changes and changes["external_id"] is not None:
        await _check_external_id(session, changes["external_id"], except_id=ticket.id)
    if "assigned_agent_id" in changes and changes["assigned_agent_id"] != ticket.assigned_agent_id:
        if not check_permission(actor.role, Action.reassign_ticket):
            raise PermissionDenied("Your role may not reassign tickets")
        new_agent = changes["assigned_agent_id"]
        if new_agent is not None:
            await _check_assignee(session, new_agent)
        ticket.assigned_agent_id = new_agent
        ticket.assignment_seq = None  # a hand-made choice is not a turn of the round robin
        if "status" not in changes:
            ticket.status = rules.status_after_assignment(ticket.status, new_agent)
    for name in ("title", "description", "priority", "category", "external_id"):
        if name in changes:
            value = changes[name]
            if value is None and name in {"title", "description", "priority", "category"}:
                raise InvalidInput(name, f"{name} cannot be null.", reason="null")
            setattr(ticket, name, value)
    if "tags" in changes:
        wanted = list(dict.fromkeys(changes["tags"] or []))
        ticket.tag_rows = [
            next((row for row in ticket.tag_rows if row.name == tag), None)
            or TicketTag(workspace_id=ticket.workspace_id, name=tag)
            for tag in wanted
        ]
    if "status" in changes:
        if changes["status"] is None:
            raise InvalidInput("status", "status cannot be null.", reason="null")
        _apply_status(ticket, changes["status"], now)
    if ticket.status in rules.NEEDS_ASSIGNEE and ticket.assigned_agent_id is None:
        raise InvalidInput(
            "assigned_agent_id",
            f"A ticket that is {ticket.status.value} needs an assignee; change its status first.",
            reason="needs-assignee",
        )
    await _keep_sla(session, ticket, before, now)
    if session.sync_session.is_modified(ticket) or "tags" in changes:
        ticket.updated_at = now
    await session.flush()
    return ticket


async def _keep_sla(
    session: AsyncSession, ticket: Ticket, before: tuple[TicketStatus, Priority, str], now: datetime
) -> None:
    """Pause, resume or recompute the SLA clocks after what changed since ``before``."""
    if (ticket.status, ticket.priority, ticket.category) == before:
        return
    setup = await sla_service.load_setup(session, ticket.workspace_id)
    if ticket.status is not before[0]:
        sla_service.track_status_change(ticket, before[0], setup, now)
    tier = await sla_service.tier_of(session, setup, ticket.customer_id)
    sla_service.refresh_due_times(ticket, setup, tier)


async def delete_ticket(session: AsyncSession, ticket: Ticket) -> None:
    """Delete a ticket with its comments and tags."""
    await session.delete(ticket)
    await session.flush()


_SORT_COLUMNS: dict[str, ColumnElement[Any]] = {
    "created_at": Ticket.created_at,  # type: ignore[dict-item]
    "updated_at": Ticket.updated_at,  # type: ignore[dict-item]
    "number": Ticket.number,  # type: ignore[dict-item]
    "priority": case(
        {priority.value: rank for priority, rank in rules.PRIORITY_RANK.items()}, value=Ticket.priority
    ),
}


def _sort_value(ticket: Row[Any], key: str) -> Any:
    if key == "priority":
        return rules.PRIORITY_RANK[ticket.priority]
    return getattr(ticket, key)


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
    if filters.sla is not None:
        now = filters.now
        if now is None:
            raise ValueError("an SLA filter needs the time to judge by")
        condition = (
            sla_service.sla_breached(now)
            if filters.sla is SlaFilter.breached
            else sla_service.sla_at_risk(now)
        )
        query = query.where(condition)
    return query


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
        kind = datetime if key in {"created_at", "updated_at"} else int
        value, row_id = decode_cursor_as(cursor, sort.value, kind)
        query = query.where(after_cursor(column, Ticket.id, value, row_id, descending=descending))
    order = (column.desc(), Ticket.id.desc()) if descending else (column.asc(), Ticket.id.asc())
    connection = await session.connection()
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


async def add_comment(
    session: AsyncSession,
    clock: Clock,
    ticket: Ticket,
    *,
    actor: Staff,
    content: str,
    is_public: bool = True,
    author: CommentAuthor = CommentAuthor.agent,
) -> Comment:
    """Add a comment. An agent's first public reply marks the first response; a customer's reply
    reopens a resolved ticket."""
    if ticket.status is TicketStatus.closed:
        raise TicketClosed("A closed ticket takes no more comments")
    now = clock.now()
    by_customer = author is CommentAuthor.customer
    if by_customer and ticket.customer_id is None:
        raise InvalidInput("author", "This ticket has no customer.", reason="no-customer")
    comment = Comment(
        workspace_id=ticket.workspace_id,
        ticket_id=ticket.id,
        author_user_id=None if by_customer else actor.id,
        author_customer_id=ticket.customer_id if by_customer else None,
        author_email=ticket.customer_email if by_customer else actor.email,
        content=content,
        is_public=True if by_customer else is_public,  # what a customer writes is always public
        created_at=now,
    )
    if by_customer:
        before = (ticket.status, ticket.priority, ticket.category)
        new_status = rules.status_after_customer_reply(ticket.status, ticket.assigned_agent_id)
        if ticket.status is TicketStatus.resolved and new_status is not ticket.status:
            ticket.resolved_at = None
        ticket.status = new_status
        await _keep_sla(session, ticket, before, now)
    elif is_public and ticket.first_responded_at is None:
        ticket.first_responded_at = now
    ticket.updated_at = now
    session.add(comment)
    await session.flush()
    return comment


async def list_comments(
    session: AsyncSession, ticket: Ticket, *, include_internal: bool = True
) -> list[Comment]:
    """The ticket's comments, oldest first."""
    query = select(Comment).where(Comment.ticket_id == ticket.id).order_by(Comment.created_at, Comment.id)
    if not include_internal:
        query = query.where(Comment.is_public.is_(True))
    return list((await session.execute(query)).scalars())
