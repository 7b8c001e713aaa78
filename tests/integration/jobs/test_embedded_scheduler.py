"""The embedded default: a server that owns its database runs the scheduled jobs itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from supportdesk.app import create_app
from supportdesk.core.clock import FrozenClock
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from supportdesk.jobs.models import JobRun
from supportdesk.runtime import default_jobs
from tests.fixtures.database import make_settings


async def _job_names(url: str) -> set[str]:
    settings = make_settings(url)
    database = Database(create_engine(settings))
    try:
        async with database.unit_of_work(readonly=True) as session:
            return set((await session.execute(select(JobRun.job))).scalars())
    finally:
        await database.dispose()


async def test_the_server_runs_every_registered_job_and_stops_with_it(
    tmp_path: Path, clock: FrozenClock
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"
    settings = make_settings(url, auto_migrate=True, scheduler="embedded")
    app = create_app(settings, clock=clock)
    expected = {job.name for job in default_jobs(settings)}

    async with app.router.lifespan_context(app):
        for _ in range(200):
            if await _job_names(url) == expected:
                break
            await asyncio.sleep(0.05)

    assert await _job_names(url) == expected
    assert expected >= {"sla.escalate", "sla.notify_breaches", "tickets.auto_close", "tickets.remind_pending"}


async def test_a_server_with_the_scheduler_off_runs_nothing(tmp_path: Path, clock: FrozenClock) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"
    app = create_app(make_settings(url, auto_migrate=True, scheduler="off"), clock=clock)

    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.2)

    assert await _job_names(url) == set()
