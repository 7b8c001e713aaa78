"""The scheduler: each job runs once per tick, whichever scheduler (or process) claims the tick first,
and a failing job or a database hiccup stops neither the other jobs nor the loop."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from supportdesk.core.clock import Clock, FrozenClock
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from supportdesk.jobs.models import JobRun
from supportdesk.jobs.scheduler import JobOutcome, ScheduledJob, Scheduler
from tests.fixtures.clock import FROZEN_AT
from tests.fixtures.database import make_settings

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
# Generous bounds for things that take milliseconds, so a hang fails the test instead of the run.
PROMPTLY = 10.0


@dataclass
class Recorder:
    """A job that remembers each call (the time it was called at) and returns fixed counts."""

    counts: dict[str, int] = field(default_factory=lambda: {"done": 1})
    fail_first: int = 0
    calls: list[datetime] = field(default_factory=list)
    called: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, database: Database, clock: Clock) -> Mapping[str, int]:
        self.calls.append(clock.now())
        self.called.set()
        # Let the other scheduler of a concurrent test get a word in while this job "works".
        await asyncio.sleep(0)
        if len(self.calls) <= self.fail_first:
            raise RuntimeError(f"mail server down (call {len(self.calls)})")
        return self.counts


@dataclass(frozen=True)
class Row:
    job: str
    tick: datetime
    owner: str
    started_at: datetime
    finished_at: datetime | None
    result: dict[str, Any] | None
    error: str | None


async def job_runs(database: Database) -> list[Row]:
    """Every job_run row, oldest tick first."""
    async with database.unit_of_work(readonly=True) as session:
        runs = (await session.execute(select(JobRun).order_by(JobRun.tick, JobRun.job))).scalars().all()
        # Read inside the block: the read-only unit of work rolls back, which expires what it loaded.
        return [
            Row(run.job, run.tick, run.owner, run.started_at, run.finished_at, run.result, run.error)
            for run in runs
        ]


def url_of(database: Database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


def statuses(outcomes: list[JobOutcome]) -> list[tuple[str, datetime, str]]:
    return [(outcome.job, outcome.tick, outcome.status) for outcome in outcomes]


async def test_a_second_call_in_the_same_tick_skips_and_the_next_tick_runs_again(
    database: Database, clock: FrozenClock
) -> None:
    job = Recorder()
    scheduler = Scheduler(database, clock, [ScheduledJob("reports.hourly", MINUTE, job)], owner="web-1")

    first = await scheduler.run_due()
    clock.advance(timedelta(seconds=59))
    second = await scheduler.run_due()
    clock.advance(timedelta(seconds=1))
    third = await scheduler.run_due()

    nine, nine_one = FROZEN_AT, FROZEN_AT + MINUTE
    assert first == [JobOutcome("reports.hourly", nine, "ran", result={"done": 1})]
    assert second == [JobOutcome("reports.hourly", nine, "skipped")]
    assert third == [JobOutcome("reports.hourly", nine_one, "ran", result={"done": 1})]
    assert job.calls == [nine, nine_one]
    assert await job_runs(database) == [
        Row("reports.hourly", nine, "web-1", nine, nine, {"done": 1}, None),
        Row("reports.hourly", nine_one, "web-1", nine_one, nine_one, {"done": 1}, None),
    ]


async def test_another_scheduler_in_the_same_tick_skips(database: Database, clock: FrozenClock) -> None:
    job = Recorder()
    jobs = [ScheduledJob("reports.hourly", MINUTE, job)]

    first = await Scheduler(database, clock, jobs, owner="web-1").run_due()
    second = await Scheduler(database, clock, jobs, owner="web-2").run_due()

    assert statuses(first) == [("reports.hourly", FROZEN_AT, "ran")]
    assert statuses(second) == [("reports.hourly", FROZEN_AT, "skipped")]
    assert len(job.calls) == 1
    assert [row.owner for row in await job_runs(database)] == ["web-1"]


async def test_each_job_keeps_its_own_rhythm(database: Database, clock: FrozenClock) -> None:
    every_minute, every_five = Recorder(), Recorder()
    scheduler = Scheduler(
        database,
        clock,
        [
            ScheduledJob("sla.check", MINUTE, every_minute),
            ScheduledJob("digest.send", timedelta(minutes=5), every_five),
        ],
    )

    for _ in range(6):
        await scheduler.run_due()
        clock.advance(MINUTE)

    assert every_minute.calls == [FROZEN_AT + n * MINUTE for n in range(6)]
    assert every_five.calls == [FROZEN_AT, FROZEN_AT + 5 * MINUTE]


@pytest.mark.parametrize("separate", [False, True], ids=["one-database-object", "two-database-objects"])
async def test_two_schedulers_racing_run_each_tick_exactly_once(
    real_database: Database, clock: FrozenClock, separate: bool
) -> None:
    other = Database(create_engine(make_settings(url_of(real_database)))) if separate else real_database
    quick, slow = Recorder(), Recorder()
    jobs = [ScheduledJob("sla.check", MINUTE, quick), ScheduledJob("digest.send", 2 * MINUTE, slow)]
    first = Scheduler(real_database, clock, jobs, owner="worker-1")
    second = Scheduler(other, clock, jobs, owner="worker-2")
    rounds: list[list[JobOutcome]] = []
    try:
        for _ in range(5):
            one, two = await asyncio.wait_for(asyncio.gather(first.run_due(), second.run_due()), PROMPTLY)
            rounds.append(one + two)
            clock.advance(MINUTE)
    finally:
        if separate:
            await other.dispose()

    minutes = [FROZEN_AT + n * MINUTE for n in range(5)]
    assert quick.calls == minutes
    assert slow.calls == [minutes[0], minutes[2], minutes[4]]
    for n, outcomes in enumerate(rounds):
        ran = sorted((outcome.job, outcome.tick) for outcome in outcomes if outcome.status == "ran")
        expected = [("sla.check", minutes[n])] + ([("digest.send", minutes[n])] if n % 2 == 0 else [])
        assert ran == sorted(expected), f"round {n}: {statuses(outcomes)}"
        assert all(outcome.status in {"ran", "skipped"} for outcome in outcomes)
    rows = await job_runs(real_database)
    assert sorted((row.job, row.tick) for row in rows) == sorted(
        [("sla.check", minute) for minute in minutes] + [("digest.send", minutes[n]) for n in (0, 2, 4)]
    )
    assert {row.owner for row in rows} <= {"worker-1", "worker-2"}
    assert all(row.finished_at is not None and row.error is None for row in rows)


async def test_the_claim_is_committed_before_the_job_runs_and_the_job_can_write(
    real_database: Database, clock: FrozenClock
) -> None:
    seen: list[list[tuple[str, datetime, bool]]] = []

    async def job(database: Database, job_clock: Clock) -> Mapping[str, int]:
        # Another session sees the claim: it was committed, so no transaction (and on SQLite no write
        # lock) is held while the job runs; the job's own write below would otherwise wait for it.
        seen.append([(row.job, row.tick, row.finished_at is None) for row in await job_runs(database)])
        async with database.unit_of_work() as session:
            session.add(JobRun(job="marker", tick=job_clock.now(), owner="job", started_at=job_clock.now()))
        return {"written": 1}

    scheduler = Scheduler(real_database, clock, [ScheduledJob("sla.check", MINUTE, job)])

    outcomes = await asyncio.wait_for(scheduler.run_due(), PROMPTLY)

    assert statuses(outcomes) == [("sla.check", FROZEN_AT, "ran")]
    assert seen == [[("sla.check", FROZEN_AT, True)]]
    assert {(row.job, row.finished_at is not None) for row in await job_runs(real_database)} == {
        ("sla.check", True),
        ("marker", False),
    }


async def test_the_job_is_given_the_schedulers_database_and_clock(
    database: Database, clock: FrozenClock
) -> None:
    given: list[tuple[Database, Clock]] = []

    async def job(job_database: Database, job_clock: Clock) -> Mapping[str, int]:
        given.append((job_database, job_clock))
        return {}

    await Scheduler(database, clock, [ScheduledJob("sla.check", MINUTE, job)]).run_due()

    assert len(given) == 1
    assert given[0][0] is database
    assert given[0][1] is clock


async def test_a_failing_job_is_recorded_and_the_others_still_run(
    database: Database, clock: FrozenClock
) -> None:
    flaky, steady = Recorder(fail_first=1), Recorder(counts={"escalated": 3})
    scheduler = Scheduler(
        database,
        clock,
        [ScheduledJob("sla.escalate", MINUTE, flaky), ScheduledJob("sla.remind", MINUTE, steady)],
        owner="worker-1",
    )

    first = await scheduler.run_due()
    clock.advance(MINUTE)
    second = await scheduler.run_due()

    later = FROZEN_AT + MINUTE
    error = "RuntimeError: mail server down (call 1)"
    assert first == [
        JobOutcome("sla.escalate", FROZEN_AT, "failed", error=error),
        JobOutcome("sla.remind", FROZEN_AT, "ran", result={"escalated": 3}),
    ]
    assert second == [
        JobOutcome("sla.escalate", later, "ran", result={"done": 1}),
        JobOutcome("sla.remind", later, "ran", result={"escalated": 3}),
    ]
    assert await job_runs(database) == [
        Row("sla.escalate", FROZEN_AT, "worker-1", FROZEN_AT, FROZEN_AT, None, error),
        Row("sla.remind", FROZEN_AT, "worker-1", FROZEN_AT, FROZEN_AT, {"escalated": 3}, None),
        Row("sla.escalate", later, "worker-1", later, later, {"done": 1}, None),
        Row("sla.remind", later, "worker-1", later, later, {"escalated": 3}, None),
    ]


async def test_a_long_error_is_cut_to_fit_the_column(database: Database, clock: FrozenClock) -> None:
    async def job(_database: Database, _clock: Clock) -> Mapping[str, int]:
        raise ValueError("x" * 5000)

    outcomes = await Scheduler(database, clock, [ScheduledJob("sla.check", MINUTE, job)]).run_due()

    [row] = await job_runs(database)
    assert row.error is not None
    assert len(row.error) == 2000
    assert row.error.startswith("ValueError: xxx")
    assert outcomes[0].error == row.error


async def test_a_job_returning_something_other_than_counts_fails(
    database: Database, clock: FrozenClock
) -> None:
    async def job(_database: Database, _clock: Clock) -> Mapping[str, int]:
        return {"escalated": "several"}  # type: ignore[dict-item]

    outcomes = await Scheduler(database, clock, [ScheduledJob("sla.check", MINUTE, job)]).run_due()

    assert statuses(outcomes) == [("sla.check", FROZEN_AT, "failed")]
    assert outcomes[0].error is not None
    assert outcomes[0].error.startswith("ValueError: ")
    assert [(row.result, row.error) for row in await job_runs(database)] == [(None, outcomes[0].error)]


async def old_run(database: Database, job: str, tick: datetime) -> None:
    async with database.unit_of_work() as session:
        session.add(JobRun(job=job, tick=tick, owner="gone", started_at=tick, finished_at=tick))


async def test_rows_older_than_a_week_are_pruned_at_most_hourly(
    database: Database, clock: FrozenClock
) -> None:
    week = timedelta(days=7)
    await old_run(database, "sla.check", FROZEN_AT - week - MINUTE)
    await old_run(database, "retired.job", FROZEN_AT - timedelta(days=30))
    await old_run(database, "sla.check", FROZEN_AT - week + MINUTE)
    scheduler = Scheduler(database, clock, [ScheduledJob("sla.check", MINUTE, Recorder())])

    await scheduler.run_due()
    after_first = [(row.job, row.tick) for row in await job_runs(database)]
    await old_run(database, "sla.check", FROZEN_AT - timedelta(days=8))
    clock.advance(timedelta(minutes=59))
    await scheduler.run_due()
    within_the_hour = {row.tick for row in await job_runs(database)}
    clock.advance(MINUTE)
    await scheduler.run_due()
    after_an_hour = {row.tick for row in await job_runs(database)}

    assert after_first == [("sla.check", FROZEN_AT - week + MINUTE), ("sla.check", FROZEN_AT)]
    assert FROZEN_AT - timedelta(days=8) in within_the_hour
    assert FROZEN_AT - timedelta(days=8) not in after_an_hour
    assert FROZEN_AT - week + MINUTE not in after_an_hour  # a week old by now
    assert FROZEN_AT + timedelta(hours=1) in after_an_hour


async def test_a_job_slower_than_the_retention_keeps_the_claim_on_its_current_tick(
    database: Database, clock: FrozenClock
) -> None:
    # Ten-day ticks from the epoch: one starts 2026-02-26 00:00 and the next 2026-03-08 00:00.
    clock.set(datetime(2026, 3, 6, 12, 0, tzinfo=UTC))
    job = Recorder()
    scheduler = Scheduler(database, clock, [ScheduledJob("archive.sweep", timedelta(days=10), job)])

    first = await scheduler.run_due()
    clock.advance(timedelta(hours=2))  # past the prune interval, still in the same tick
    second = await scheduler.run_due()

    tick = datetime(2026, 2, 26, tzinfo=UTC)
    assert statuses(first) == [("archive.sweep", tick, "ran")]
    assert statuses(second) == [("archive.sweep", tick, "skipped")]
    assert len(job.calls) == 1


async def test_run_forever_returns_promptly_when_stopped(database: Database, clock: FrozenClock) -> None:
    job = Recorder()
    # An hourly job: left alone, the loop would now wait an hour for the next boundary.
    scheduler = Scheduler(database, clock, [ScheduledJob("sla.check", timedelta(hours=1), job)])
    stop = asyncio.Event()

    task = asyncio.create_task(scheduler.run_forever(stop=stop))
    await asyncio.wait_for(job.called.wait(), PROMPTLY)
    stop.set()
    await asyncio.wait_for(task, timeout=2)

    assert job.calls == [FROZEN_AT]
    assert [(row.job, row.tick) for row in await job_runs(database)] == [("sla.check", FROZEN_AT)]


async def test_run_forever_with_stop_already_set_runs_nothing(database: Database, clock: FrozenClock) -> None:
    job = Recorder()
    stop = asyncio.Event()
    stop.set()

    await asyncio.wait_for(
        Scheduler(database, clock, [ScheduledJob("sla.check", MINUTE, job)]).run_forever(stop=stop), PROMPTLY
    )

    assert job.calls == []
    assert await job_runs(database) == []


async def test_run_forever_carries_on_after_a_failing_job(database: Database, clock: FrozenClock) -> None:
    stop = asyncio.Event()
    calls: list[datetime] = []
    tiny = timedelta(seconds=1)

    async def job(_database: Database, job_clock: Clock) -> Mapping[str, int]:
        calls.append(job_clock.now())
        # Move the frozen clock on, so the loop's next pass (a real second later) finds a new tick.
        clock.advance(tiny)
        if len(calls) == 1:
            raise RuntimeError("first pass fails")
        stop.set()
        return {"done": 1}

    scheduler = Scheduler(database, clock, [ScheduledJob("sla.check", tiny, job)])

    await asyncio.wait_for(scheduler.run_forever(stop=stop), PROMPTLY)

    assert calls == [FROZEN_AT, FROZEN_AT + tiny]
    assert [(row.tick, row.error, row.result) for row in await job_runs(database)] == [
        (FROZEN_AT, "RuntimeError: first pass fails", None),
        (FROZEN_AT + tiny, None, {"done": 1}),
    ]


class FlakyDatabase(Database):
    """A database whose first units of work fail the way a dropped connection does."""

    def __init__(self, engine: AsyncEngine, connection: AsyncConnection, *, failures: int) -> None:
        super().__init__(engine, connection=connection)
        self.failures = failures

    @asynccontextmanager
    async def unit_of_work(self, *, readonly: bool = False) -> AsyncIterator[AsyncSession]:
        if self.failures > 0:
            self.failures -= 1
            raise OperationalError("BEGIN", {}, ConnectionResetError("connection reset by peer"))
        async with super().unit_of_work(readonly=readonly) as session:
            yield session


async def test_a_database_error_while_claiming_is_raised_and_the_tick_stays_claimable(
    engine: AsyncEngine, connection: AsyncConnection, clock: FrozenClock
) -> None:
    database = FlakyDatabase(engine, connection, failures=1)
    job = Recorder()
    scheduler = Scheduler(database, clock, [ScheduledJob("sla.check", MINUTE, job)])

    with pytest.raises(OperationalError):
        await scheduler.run_due()
    nothing_yet = await job_runs(database)
    again = await scheduler.run_due()

    assert nothing_yet == []
    assert statuses(again) == [("sla.check", FROZEN_AT, "ran")]
    assert job.calls == [FROZEN_AT]


async def test_run_forever_survives_a_database_hiccup(
    engine: AsyncEngine, connection: AsyncConnection, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    database = FlakyDatabase(engine, connection, failures=1)
    job = Recorder()
    stop = asyncio.Event()
    scheduler = Scheduler(database, clock, [ScheduledJob("sla.check", timedelta(seconds=1), job)])
    caplog.set_level(logging.ERROR, logger="supportdesk.jobs")

    task = asyncio.create_task(scheduler.run_forever(stop=stop))
    await asyncio.wait_for(job.called.wait(), PROMPTLY)
    stop.set()
    await asyncio.wait_for(task, PROMPTLY)

    assert job.calls == [FROZEN_AT]
    assert [(row.job, row.tick) for row in await job_runs(database)] == [("sla.check", FROZEN_AT)]
    assert any(
        record.name == "supportdesk.jobs" and "could not run its jobs" in record.getMessage()
        for record in caplog.records
    )


async def test_the_owner_defaults_to_host_and_process(database: Database, clock: FrozenClock) -> None:
    scheduler = Scheduler(database, clock, [ScheduledJob("sla.check", MINUTE, Recorder())])

    await scheduler.run_due()

    expected = f"{socket.gethostname()}:{os.getpid()}"
    assert scheduler.owner == expected
    assert [row.owner for row in await job_runs(database)] == [expected]


async def test_two_jobs_with_one_name_are_refused(database: Database, clock: FrozenClock) -> None:
    jobs = [ScheduledJob("sla.check", MINUTE, Recorder()), ScheduledJob("sla.check", HOUR, Recorder())]

    with pytest.raises(ValueError, match=r"unique: sla\.check"):
        Scheduler(database, clock, jobs)
