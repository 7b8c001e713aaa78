"""Revisions of the workspace configuration that processes cache: SLA policies and triggers.

A revision is a number on the workspace row that changes with what it covers. A process keeps what it
built from that configuration (parsed policies and calendars, compiled triggers) for as long as the
number it reads is the one it built for, so every API and worker process notices a change at its next
read. New numbers are random rather than counted: a workspace id can come back after a rollback (SQLite
reuses row ids), and counting from the same start again would meet an old cache entry.

A unit of work reads the numbers once and remembers them; opening a ticket gets them with its ticket
number, for free.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.workspaces.models import Workspace

_KNOWN = "workspace_revisions"


class Covered(StrEnum):
    """What a revision covers, by the name of its column."""

    sla = "sla_revision"
    automation = "automation_revision"


@dataclass(frozen=True, slots=True)
class Revisions:
    """The workspace's revisions as one unit of work read them."""

    sla: int
    automation: int


def new_revision(avoid: int | None = None) -> int:
    """A fresh revision, different from ``avoid``."""
    revision = secrets.randbits(31)
    while revision == avoid:
        revision = secrets.randbits(31)
    return revision


def _known(session: AsyncSession) -> dict[int, Revisions]:
    known: dict[int, Revisions] = session.info.setdefault(_KNOWN, {})
    return known


def remember(session: AsyncSession, workspace_id: int, revisions: Revisions) -> None:
    """Note revisions read along with something else, so this unit of work does not read them again."""
    _known(session)[workspace_id] = revisions


async def current(session: AsyncSession, workspace_id: int) -> Revisions:
    """The workspace's revisions: read once per unit of work."""
    known = _known(session)
    revisions = known.get(workspace_id)
    if revisions is None:
        query = select(Workspace.sla_revision, Workspace.automation_revision).where(
            Workspace.id == workspace_id
        )
        row = (await session.execute(query)).one()
        revisions = known[workspace_id] = Revisions(sla=int(row[0]), automation=int(row[1]))
    return revisions


async def bump(session: AsyncSession, workspace_id: int, covered: Covered) -> None:
    """Mark every process's cache of what ``covered`` names stale for the workspace."""
    _known(session).pop(workspace_id, None)
    column = getattr(Workspace, covered.value)
    now = (await session.execute(select(column).where(Workspace.id == workspace_id))).scalar_one()
    await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values({covered.value: new_revision(avoid=int(now))})
        .execution_options(synchronize_session=False)
    )
