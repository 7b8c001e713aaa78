"""Workspaces: creation, settings, and the per-workspace ticket counter."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    Table,
    Update,
    bindparam,
    case,
    column,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.core.clock import Clock
from supportdesk.core.errors import Conflict, InvalidInput, NotFound
from supportdesk.db import direct
from supportdesk.workspaces import revisions
from supportdesk.workspaces.models import DEFAULT_CATEGORIES, AssignmentStrategy, Workspace

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class WorkspaceExists(Conflict):
    code = "workspace-exists"
    title = "A workspace with this slug exists already"


async def create_workspace(session: AsyncSession, clock: Clock, *, slug: str, name: str) -> Workspace:
    """Create a workspace with the default categories."""
    if not _SLUG.match(slug):
        raise InvalidInput("slug", "Use lower-case letters, digits and hyphens.", reason="invalid-slug")
    if await get_workspace_by_slug(session, slug) is not None:
        raise WorkspaceExists(f"The workspace {slug!r} exists already")
    workspace = Workspace(
        slug=slug,
        name=name,
        categories=list(DEFAULT_CATEGORIES),
        ticket_counter=0,
        # Random from the start: a reused id must not meet another workspace's cache entry.
        sla_revision=revisions.new_revision(),
        automation_revision=revisions.new_revision(),
        created_at=clock.now(),
    )
    session.add(workspace)
    await session.flush()
    return workspace


async def get_workspace(session: AsyncSession, workspace_id: int) -> Workspace:
    """The workspace with ``workspace_id``."""
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("No such workspace")
    return workspace


async def list_workspaces(session: AsyncSession) -> list[Workspace]:
    """Every workspace, by slug."""
    result = await session.execute(select(Workspace).order_by(Workspace.slug))
    return list(result.scalars())


async def get_workspace_by_slug(session: AsyncSession, slug: str) -> Workspace | None:
    """The workspace with ``slug``, if any."""
    result = await session.execute(select(Workspace).where(Workspace.slug == slug))
    return result.scalar_one_or_none()


async def set_categories(session: AsyncSession, workspace: Workspace, categories: list[str]) -> Workspace:
    """Replace the workspace's ticket categories (order kept, duplicates dropped)."""
    unique = list(dict.fromkeys(categories))
    if not unique:
        raise InvalidInput("categories", "A workspace needs at least one category.", reason="empty")
    workspace.categories = unique
    await session.flush()
    return workspace


async def update_settings(session: AsyncSession, workspace: Workspace, changes: dict[str, Any]) -> Workspace:
    """Change the workspace's settings named in ``changes``; categories keep their order, lose duplicates."""
    if "categories" in changes:
        await set_categories(session, workspace, changes.pop("categories"))
    strategies = changes.get("category_strategies")
    if strategies:
        unknown = sorted(set(strategies) - set(workspace.categories))
        if unknown:
            raise InvalidInput(
                "category_strategies",
                f"Unknown categories: {', '.join(unknown)}.",
                reason="unknown-category",
            )
    for name, value in changes.items():
        setattr(workspace, name, value)
    await session.flush()
    if any(name.startswith("email_") for name in changes):
        # Processes keep the workspace's e-mail setup while its delivery revision holds.
        await revisions.bump(session, workspace.id, revisions.Covered.delivery)
    return workspace


# Core statements, built once: the ORM's bulk-update machinery costs more than the update itself.
_workspace = cast(Table, Workspace.__table__)
_INTAKE_COLUMNS = (
    _workspace.c.categories,
    _workspace.c.sla_revision,
    _workspace.c.automation_revision,
    _workspace.c.delivery_revision,
    _workspace.c.auto_assign,
    _workspace.c.assignment_strategy,
    _workspace.c.category_strategies,
    _workspace.c.agent_capacity,
)
_THIS_WORKSPACE = _workspace.c.id == bindparam("workspace_id", type_=BigInteger)
_RESERVE_NUMBER = (
    update(_workspace)
    .where(_THIS_WORKSPACE)
    .values(
        ticket_counter=_workspace.c.ticket_counter + 1,
        # Where the workspace assigns automatically, the new ticket's assignment number comes along.
        assignment_counter=_workspace.c.assignment_counter + case((_workspace.c.auto_assign, 1), else_=0),
    )
    .returning(_workspace.c.ticket_counter, _workspace.c.assignment_counter, *_INTAKE_COLUMNS)
)
_READ_INTAKE = select(*_INTAKE_COLUMNS).where(_THIS_WORKSPACE)
# The names of the columns each returns, by whether it reserves.
_RETURNED_KEYS = {
    False: tuple(column.key for column in _INTAKE_COLUMNS),
    True: ("ticket_counter", "assignment_counter", *(column.key for column in _INTAKE_COLUMNS)),
}

# Text, not a Core UPDATE: the insert it is part of is compiled for the columns the ticket is given, and
# SQLAlchemy would set those of them the workspace has too (its created_at) in a Core UPDATE.
NUMBER_RESERVED_BY_THE_INSERT = (
    text(
        "UPDATE workspace SET ticket_counter = ticket_counter + 1 "
        "WHERE id = :workspace_id RETURNING ticket_counter"
    )
    .bindparams(bindparam("workspace_id", type_=BigInteger))
    .columns(column("ticket_counter", Integer))
    .cte("ticket_number")
)
"""The workspace's next ticket number reserved as a ``WITH`` part of the ticket's own insert (PostgreSQL),
for a ticket whose number nothing needs before it is written; its parameter is ``workspace_id``."""


@dataclass(frozen=True, slots=True)
class TicketIntake:
    """What opening a ticket needs from its workspace: its number and its round-robin turn, where they
    were reserved before the ticket is written, and the rules that decide about it."""

    number: int | None
    categories: list[str]
    auto_assign: bool
    assignment_seq: int | None
    assignment_strategy: AssignmentStrategy
    category_strategies: dict[str, str]
    agent_capacity: int | None


async def reserve_ticket_number(session: AsyncSession, workspace_id: int) -> TicketIntake:
    """Reserve the workspace's next ticket number (and its round-robin turn, where it assigns
    automatically), and read what intake needs (and the configuration revisions, which the unit of work
    remembers) in the same statement.

    The row lock the update takes makes numbers unique under concurrency, and lasts until the commit.
    """
    return await _intake(session, workspace_id, _RESERVE_NUMBER)


async def read_ticket_intake(session: AsyncSession, workspace_id: int) -> TicketIntake:
    """What intake needs, as :func:`reserve_ticket_number` reads it, without reserving anything or
    locking the workspace: for a ticket whose insert reserves its number
    (:data:`NUMBER_RESERVED_BY_THE_INSERT`)."""
    return await _intake(session, workspace_id, _READ_INTAKE)


async def _intake(session: AsyncSession, workspace_id: int, statement: Select[Any] | Update) -> TicketIntake:
    # Every ticket opened reads this, by the driver's own call where it can (decision 0058).
    connection = await session.connection()
    parameters = {"workspace_id": workspace_id}
    reserved = statement is _RESERVE_NUMBER
    found = await direct.fetch_row_in_one_trip(connection.sync_connection, statement, parameters)
    if found is None:
        row: Mapping[str, Any] = dict((await connection.execute(statement, parameters)).one()._mapping)
    else:
        row = dict(zip(_RETURNED_KEYS[reserved], found, strict=True))
    current = revisions.Revisions(
        sla=int(row["sla_revision"]),
        automation=int(row["automation_revision"]),
        delivery=int(row["delivery_revision"]),
    )
    revisions.remember(session, workspace_id, current)
    return TicketIntake(
        number=int(row["ticket_counter"]) if reserved else None,
        categories=list(row["categories"]),
        auto_assign=bool(row["auto_assign"]),
        assignment_seq=int(row["assignment_counter"]) if reserved else None,
        assignment_strategy=AssignmentStrategy(row["assignment_strategy"]),
        category_strategies=dict(row["category_strategies"]),
        agent_capacity=row["agent_capacity"],
    )
