"""The scheduled clean-up of the portal: expired sessions and long-expired sign-in links are deleted in
every workspace by a job of the desk's scheduler, while live ones, and links that expired lately (so
a late click is still told so), stay."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs.scheduler import Scheduler
from supportdesk.portal import rules
from supportdesk.portal.models import PortalSession, PortalSignIn
from supportdesk.runtime import default_jobs
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory

JOB = "portal.purge_expired"


async def _add(
    database: Database, workspace: Workspace, customer_id: int, kind: str, name: str, expires_at: datetime
) -> None:
    """A sign-in link or a portal session of ``customer_id`` named ``name`` (its secret), expiring then."""
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        created_at = expires_at - timedelta(minutes=15)
        if kind == "link":
            digest = rules.stored_hash(name, "k", rules.Purpose.link)
            session.add(
                PortalSignIn(
                    customer_id=customer_id, token_hash=digest, created_at=created_at, expires_at=expires_at
                )
            )
        else:
            digest = rules.stored_hash(name, "k", rules.Purpose.session)
            session.add(
                PortalSession(
                    customer_id=customer_id, secret_hash=digest, created_at=created_at, expires_at=expires_at
                )
            )


async def _left(database: Database, workspace: Workspace) -> set[tuple[str, datetime]]:
    """What each workspace still holds: (kind, expiry) of its links and sessions."""
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, workspace.id)
        links = (await session.execute(select(PortalSignIn.expires_at))).scalars()
        sessions = (await session.execute(select(PortalSession.expires_at))).scalars()
        return {("link", at.replace(tzinfo=None)) for at in links} | {
            ("session", at.replace(tzinfo=None)) for at in sessions
        }


async def test_the_scheduler_deletes_what_can_no_longer_sign_anyone_in(
    database: Database,
    clock: FrozenClock,
    settings: Settings,
    workspace: Workspace,
    other_workspace: Workspace,
    customer_factory: CustomerFactory,
) -> None:
    now = clock.now()
    cases = {
        "link-expired-two-days-ago": ("link", now - timedelta(days=2)),
        "link-expired-an-hour-ago": ("link", now - timedelta(hours=1)),
        "link-still-good": ("link", now + timedelta(minutes=10)),
        "session-expired": ("session", now - timedelta(seconds=1)),
        "session-still-good": ("session", now + timedelta(hours=3)),
    }
    for place in (workspace, other_workspace):
        customer = await customer_factory(workspace=place, email="maria@example.com")
        for name, (kind, expires_at) in cases.items():
            await _add(database, place, customer.id, kind, f"{name}-{place.id}-secret-value", expires_at)
    [job] = [job for job in default_jobs(settings) if job.name == JOB]

    [outcome] = await Scheduler(database, clock, [job]).run_due()

    assert (outcome.status, outcome.result) == ("ran", {"purged": 4})
    kept = {
        (cases[name][0], cases[name][1].replace(tzinfo=None))
        for name in ("link-expired-an-hour-ago", "link-still-good", "session-still-good")
    }
    assert await _left(database, workspace) == kept
    assert await _left(database, other_workspace) == kept
