"""The assignment statements that run below the ORM, on the path of every ticket opened.

Like every repository module, this is where statements name their workspace themselves: the session's
tenancy hook sees only ORM statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.assignment.rules import ASSIGNABLE_ROLES
from supportdesk.db.tenancy import required_workspace_id
from supportdesk.people.models import Availability, User
from supportdesk.tickets.models import Ticket
from supportdesk.workspaces.models import Workspace

_workspace = cast(Table, Workspace.__table__)
# Taking the next assignment number locks the workspace row (PostgreSQL) until commit, so concurrent
# assignments in one workspace queue here and each sees the previous one's choice: that is what keeps
# round robin fair under concurrency. (SQLite has one writer at a time anyway.)
_NEXT_ASSIGNMENT = (
    update(_workspace)
    .where(_workspace.c.id == bindparam("workspace_id"))
    .values(assignment_counter=_workspace.c.assignment_counter + 1)
    .returning(
        _workspace.c.assignment_counter,
        _workspace.c.assignment_strategy,
        _workspace.c.category_strategies,
        _workspace.c.agent_capacity,
    )
)


async def next_assignment(session: AsyncSession, workspace_id: int) -> Row[Any]:
    """Take the workspace's next assignment number; the row also carries its assignment settings."""
    connection = await session.connection()
    return (await connection.execute(_NEXT_ASSIGNMENT, {"workspace_id": workspace_id})).one()


# Each agent's latest automatic assignment, read from the tickets they hold (through the partial index
# on marked tickets): marking a ticket costs nothing extra, since it is written anyway.
_LATEST_ASSIGNMENT = (
    select(func.max(Ticket.assignment_seq))
    .where(
        Ticket.workspace_id == User.workspace_id,
        Ticket.assigned_agent_id == User.id,
        Ticket.assignment_seq.is_not(None),
    )
    .correlate(User)
    .scalar_subquery()
)
# Built once and run below the ORM, naming its workspace: this runs for every ticket created, inside
# the window in which the workspace's ticket numbers are locked. Columns, not users: the rules need
# only these.
_CANDIDATES = select(
    User.id,
    User.role,
    User.skills,
    User.capacity,
    func.coalesce(_LATEST_ASSIGNMENT, 0).label("last_assignment_seq"),
).where(
    User.workspace_id == bindparam("workspace_id"),
    User.is_active.is_(True),
    User.availability == Availability.available,
    # Equalities rather than IN: an IN list is re-rendered at every execution.
    or_(*(User.role == role for role in ASSIGNABLE_ROLES)),
)


async def candidate_rows(session: AsyncSession) -> Sequence[Row[Any]]:
    """Active, available agents and senior agents of the session's workspace, with their latest turn."""
    connection = await session.connection()
    workspace_id = required_workspace_id(session.sync_session)
    rows: Sequence[Row[Any]] = (await connection.execute(_CANDIDATES, {"workspace_id": workspace_id})).all()
    return rows
