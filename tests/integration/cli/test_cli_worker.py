"""``supportdesk worker``: runs the scheduled jobs once (``--once``) or until SIGINT/SIGTERM, on a
database someone else migrated."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from supportdesk import runtime
from supportdesk.cli import server as server_commands
from supportdesk.config import Settings
from supportdesk.core.clock import Clock, FrozenClock
from supportdesk.db import migrate
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from supportdesk.jobs.models import JobRun
from supportdesk.jobs.scheduler import ScheduledJob
from tests.fixtures.database import make_settings

from .conftest import Cli, single_error_line, start_command

# Starting a Python process that imports the app takes a second or two; waiting far longer means a hang.
PROCESS_TIMEOUT = 30.0


@dataclass
class Counting:
    """A job that counts its calls and returns how many times it has run."""

    calls: int = 0
    fail: bool = False
    seen_settings: list[Settings] = field(default_factory=list)

    async def __call__(self, _database: Database, _clock: Clock) -> Mapping[str, int]:
        self.calls += 1
        if self.fail:
            raise RuntimeError("smtp unreachable\nconnection refused")
        return {"escalated": 2, "notified": 1}


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch, clock: FrozenClock) -> FrozenClock:
    """The worker's clock, at 09:07 on the fixtures' Monday, so ticks are known in advance."""
    clock.set(datetime(2026, 3, 2, 9, 7, 30, tzinfo=UTC))
    monkeypatch.setattr(server_commands, "SystemClock", lambda: clock)
    return clock


def register(monkeypatch: pytest.MonkeyPatch, *jobs: tuple[str, Counting]) -> list[Settings]:
    """Make the job list return ``jobs`` (every ``scheduler_tick_seconds``); returns the settings it saw."""
    seen: list[Settings] = []

    def default_jobs(settings: Settings) -> list[ScheduledJob]:
        seen.append(settings)
        every = timedelta(seconds=settings.scheduler_tick_seconds)
        return [ScheduledJob(name, every, job) for name, job in jobs]

    monkeypatch.setattr(runtime, "default_jobs", default_jobs)
    return seen


async def job_runs(cli: Cli) -> list[tuple[str, datetime, str | None]]:
    database = Database(create_engine(make_settings(cli.database_url)))
    try:
        async with database.unit_of_work(readonly=True) as session:
            rows = await session.execute(select(JobRun.job, JobRun.tick, JobRun.error).order_by(JobRun.id))
            return [(job, tick, error) for job, tick, error in rows]
    finally:
        await database.dispose()


async def test_once_runs_due_jobs_prints_a_line_each_and_skips_them_the_second_time(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, frozen: FrozenClock
) -> None:
    monkeypatch.setenv("SUPPORTDESK_SCHEDULER_TICK_SECONDS", "300")
    escalate, remind = Counting(), Counting()
    seen = register(monkeypatch, ("sla.escalate", escalate), ("sla.remind", remind))
    await cli.run("db", "upgrade")

    first = await cli.run("worker", "--once")
    second = await cli.run("worker", "--once")

    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == [
        "sla.escalate 2026-03-02T09:05:00+00:00 ran escalated=2 notified=1",
        "sla.remind 2026-03-02T09:05:00+00:00 ran escalated=2 notified=1",
    ]
    assert second.exit_code == 0, second.output
    assert second.stdout.splitlines() == [
        "sla.escalate 2026-03-02T09:05:00+00:00 skipped",
        "sla.remind 2026-03-02T09:05:00+00:00 skipped",
    ]
    assert (escalate.calls, remind.calls) == (1, 1)
    assert [settings.scheduler_tick_seconds for settings in seen] == [300, 300]
    tick = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
    assert await job_runs(cli) == [("sla.escalate", tick, None), ("sla.remind", tick, None)]


async def test_once_exits_1_when_a_job_fails_and_still_runs_the_others(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, frozen: FrozenClock
) -> None:
    broken, fine = Counting(fail=True), Counting()
    register(monkeypatch, ("mail.send", broken), ("sla.remind", fine))
    await cli.run("db", "upgrade")

    result = await cli.run("worker", "--once")

    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        "mail.send 2026-03-02T09:07:00+00:00 failed RuntimeError: smtp unreachable connection refused",
        "sla.remind 2026-03-02T09:07:00+00:00 ran escalated=2 notified=1",
    ]
    assert fine.calls == 1
    tick = datetime(2026, 3, 2, 9, 7, tzinfo=UTC)
    assert await job_runs(cli) == [
        ("mail.send", tick, "RuntimeError: smtp unreachable\nconnection refused"),
        ("sla.remind", tick, None),
    ]


async def test_once_with_no_jobs_prints_nothing(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch)
    await cli.run("db", "upgrade")

    result = await cli.run("worker", "--once")

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert await job_runs(cli) == []


async def test_the_worker_refuses_an_unmigrated_database_and_does_not_migrate_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = Counting()
    register(monkeypatch, ("sla.escalate", job))

    result = await cli.run("worker", "--once")

    assert result.exit_code == 1
    line = single_error_line(result)
    assert "not migrated" in line
    assert "supportdesk db upgrade" in line
    assert job.calls == 0
    engine = create_engine(make_settings(cli.database_url))
    try:
        assert await migrate.current_revision(engine) is None
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("SUPPORTDESK_SCHEDULER_TICK_SECONDS", "0", id="zero-tick"),
        pytest.param("SUPPORTDESK_SCHEDULER", "cron", id="unknown-scheduler-mode"),
    ],
)
async def test_a_bad_setting_exits_2_naming_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    result = await cli.run("worker", "--once")

    assert result.exit_code == 2
    assert name in single_error_line(result)
    assert not cli.database_path.exists()


async def test_once_runs_the_registered_help_desk_jobs(cli: Cli, frozen: FrozenClock) -> None:
    await cli.run("db", "upgrade")

    result = await cli.run("worker", "--once")

    assert result.exit_code == 0, result.output
    tick = "2026-03-02T09:07:00+00:00"
    assert result.stdout.splitlines() == [
        f"sla.notify_breaches {tick} ran announced=0",
        f"sla.escalate {tick} ran escalated=0",
        f"tickets.auto_close {tick} ran closed=0",
        f"tickets.remind_pending {tick} ran reminded=0",
        # Hourly, so it last fell due at the top of the hour.
        "portal.purge_expired 2026-03-02T09:00:00+00:00 ran purged=0",
    ]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
async def test_the_worker_runs_until_signalled_then_exits_0(cli: Cli, signum: signal.Signals) -> None:
    await cli.run("db", "upgrade")
    worker = await start_command("worker")
    assert worker.stderr is not None
    try:
        started = await asyncio.wait_for(worker.stderr.readline(), PROCESS_TIMEOUT)
        assert b"supportdesk.jobs: scheduler " in started, started
        jobs = len(runtime.default_jobs(make_settings()))
        assert started.rstrip().endswith(f" started with {jobs} job(s)".encode()), started

        worker.send_signal(signum)
        _stdout, rest = await asyncio.wait_for(worker.communicate(), PROCESS_TIMEOUT)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()

    assert worker.returncode == 0, rest.decode()
    assert b"stopped" in rest
    assert b"Traceback" not in rest
