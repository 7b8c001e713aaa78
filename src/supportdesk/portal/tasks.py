"""The portal's scheduled housekeeping: sign-in links and portal sessions that can no longer sign
anybody in are deleted, so neither table grows with every link mailed and every browser signed in."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.core.clock import Clock
from supportdesk.portal.models import PortalSession, PortalSignIn
from supportdesk.workspaces.models import Workspace

# How long a link is kept after it expired: someone who clicks it that late is still told it expired
# (or was used), which says more than "not valid"; after a day, nobody is waiting for that answer.
KEEP_EXPIRED_LINKS = timedelta(days=1)
# How often the job runs: the rows it deletes are dead already, so it has no deadline to keep.
PURGE_EVERY = timedelta(hours=1)


async def purge_expired(session: AsyncSession, clock: Clock, workspace: Workspace) -> int:
    """Delete the workspace's portal sessions that have expired and its sign-in links that expired
    more than :data:`KEEP_EXPIRED_LINKS` ago (the session is scoped to ``workspace``); returns how many
    rows went."""
    now = clock.now()
    deleted = 0
    for statement in (
        delete(PortalSignIn).where(
            PortalSignIn.workspace_id == workspace.id, PortalSignIn.expires_at < now - KEEP_EXPIRED_LINKS
        ),
        delete(PortalSession).where(
            PortalSession.workspace_id == workspace.id, PortalSession.expires_at <= now
        ),
    ):
        result = await session.execute(statement.execution_options(synchronize_session=False))
        deleted += getattr(result, "rowcount", 0) or 0
    return deleted
