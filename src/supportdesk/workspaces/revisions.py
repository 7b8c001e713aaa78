"""Revisions of the workspace configuration that processes cache: SLA policies, triggers and webhook
subscriptions.

A revision is a number on the workspace row that changes with what it covers. A process keeps what it
built from that configuration (parsed policies and calendars, compiled triggers) for as long as the
number it reads is the one it built for, so every API and worker process notices a change at its next
read. New numbers are random rather than counted: a workspace id can come back after a rollback (SQLite
reuses row ids), and counting from the same start again would meet an old cache entry.

A unit of work reads the numbers once and remembers them; opening a ticket gets them with its ticket
number, for free. What it remembers lives in ``session.info``, which an asynchronous session shares with
its synchronous one, so code running inside a flush (:func:`current_sync`) shares them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from supportdesk.workspaces.models import Workspace

_KNOWN = "workspace_revisions"


class Covered(StrEnum):
    """What a revision covers, by the name of its column."""

    sla = "sla_revision"
    automation = "automation_revision"
    delivery = "delivery_revision"


@dataclass(frozen=True, slots=True)
class Revisions:
    """The workspace's revisions as one unit of work read them."""

    sla: int
    automation: int
    delivery: int


def new_revision(avoid: int | None = None) -> int:
    """A fresh revision, different from ``avoid``."""
    revision = secrets.randbits(31)
    while revision == avoid:
        revision = secrets.randbits(31)
    return revision


def _known(session: AsyncSession | Session) -> dict[int, Revisions]:
    known: dict[int, Revisions] = session.info.setdefault(_KNOWN, {})
    return known


def remember(session: AsyncSession, workspace_id: int, revisions: Revisions) -> None:
    """Note revisions read along with something else, so this unit of work does not read them again."""
    _known(session)[workspace_id] = revisions


def known(session: AsyncSession | Session, workspace_id: int) -> Revisions | None:
    """The workspace's revisions if this unit of work has read them already; never reads."""
    return _known(session).get(workspace_id)


async def current(session: AsyncSession, workspace_id: int) -> Revisions:
    """The workspace's revisions: read once per unit of work."""
    revisions = _known(session).get(workspace_id)
    if revisions is None:
        revisions = await session.run_sync(current_sync, workspace_id)
    return revisions


def current_sync(session: Session, workspace_id: int) -> Revisions:
    """:func:`current` for code on the synchronous session, such as a flush's hooks, which cannot await:
    the flush runs inside the asynchronous session's greenlet, where ``execute`` may be called directly."""
    known = _known(session)
    revisions = known.get(workspace_id)
    if revisions is None:
        query = select(
            Workspace.sla_revision, Workspace.automation_revision, Workspace.delivery_revision
        ).where(Workspace.id == workspace_id)
        row = session.execute(query).one()
        revisions = known[workspace_id] = Revisions(
            sla=int(row[0]), automation=int(row[1]), delivery=int(row[2])
        )
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
