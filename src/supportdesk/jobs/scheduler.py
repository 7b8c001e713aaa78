"""Runs time-based jobs once per tick, however many processes run a scheduler.

A tick is a slice of time aligned to the Unix epoch (``floor(now / every) * every``). Before running
a job for a tick, a scheduler claims the tick by inserting a ``job_run`` row; the unique (job, tick)
constraint lets exactly one process win, on SQLite and PostgreSQL alike. The claim, the job and the
record of its outcome are three separate transactions, so no write lock is held while a job runs.

A tick that nobody ran (every process was down, or the database was unreachable) is not made up
later, so a job should handle everything that is due at ``clock.now()``, not only what fell due
during its own tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from supportdesk.core.clock import Clock
from supportdesk.db.session import Database
from supportdesk.jobs.models import JobRun

JobFunction = Callable[[Database, Clock], Awaitable[Mapping[str, int]]]
# Hands a claimed run to the task queue: (job name, job_run id, tick). Without one, a scheduler runs
# the job itself, inline.
Dispatch = Callable[[str, int, datetime], Awaitable[None]]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Rows older than this are deleted; they only serve as a short history for operators.
RETENTION = timedelta(days=7)
PRUNE_EVERY = timedelta(hours=1)
# Never busy-loop, even with sub-second ticks or a clock that wakes us a hair early.
MIN_SLEEP = timedelta(seconds=1)
# With no jobs there is no boundary to wait for; wake now and then to prune.
IDLE_SLEEP = timedelta(minutes=1)
# After a failed run_due, try again soon: claims are idempotent and the tick may still be unclaimed.
RETRY_AFTER = timedelta(seconds=10)
MAX_JOB_NAME = 64  # job_run.job
MAX_OWNER = 128  # job_run.owner
MAX_ERROR = 2000  # job_run.error

_log = logging.getLogger("supportdesk.jobs")


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    """A job and how often it runs."""

    name: str
    every: timedelta
    run: JobFunction

    def __post_init__(self) -> None:
        # Checked here so a bad registration fails at start-up, not at the first claim.
        if not self.name or len(self.name) > MAX_JOB_NAME:
            raise ValueError(f"a job name needs 1 to {MAX_JOB_NAME} characters: {self.name!r}")
        if self.every <= timedelta(0):
            raise ValueError(f"job {self.name!r} must run every positive interval, not {self.every}")


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What one scheduler did with one job for one tick."""

    job: str
    tick: datetime
    status: Literal["ran", "queued", "skipped", "failed"]
    result: Mapping[str, int] | None = None
    error: str | None = None


def current_tick(now: datetime, every: timedelta) -> datetime:
    """The start of the tick ``now`` falls in, as aware UTC; a boundary belongs to the tick it starts."""
    if now.tzinfo is None:
        raise ValueError("ticks are computed from aware datetimes; got a naive one")
    if every <= timedelta(0):
        raise ValueError(f"the tick length must be positive, not {every}")
    # timedelta // timedelta is exact integer floor division, so no float rounding moves a boundary.
    return EPOCH + ((now - EPOCH) // every) * every


def next_tick(now: datetime, every: timedelta) -> datetime:
    """The start of the tick after the one ``now`` falls in."""
    return current_tick(now, every) + every


def default_owner() -> str:
    """``hostname:pid``, which tells operators which process ran a job."""
    return f"{socket.gethostname()}:{os.getpid()}"


def describe_error(error: BaseException) -> str:
    """Exception class and message, cut to fit ``job_run.error``."""
    message = str(error)
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


class Scheduler:
    """Claims each job's current tick in the database and runs the job if the claim succeeds."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        jobs: Sequence[ScheduledJob],
        *,
        owner: str | None = None,
        dispatch: Dispatch | None = None,
    ) -> None:
        names = [job.name for job in jobs]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            # Two jobs with one name would share claims: the second would never run.
            raise ValueError(f"job names must be unique: {', '.join(duplicates)}")
        self._database = database
        self._clock = clock
        self._jobs = tuple(jobs)
        self._by_name = {job.name: job for job in self._jobs}
        self._dispatch = dispatch
        self.owner = (owner or default_owner())[:MAX_OWNER]
        self._pruned_at: datetime | None = None

    async def run_due(self) -> list[JobOutcome]:
        """Claim every job's current tick and run the jobs whose claim succeeded, one after another.

        A failing job is recorded and does not stop the others. A database error while claiming is
        raised: nothing can be claimed or recorded then, and a later call can still claim the tick.
        """
        outcomes = [await self._run_one(job) for job in self._jobs]
        await self._prune_if_due()
        return outcomes

    async def run_forever(self, *, stop: asyncio.Event | None = None) -> None:
        """Run due jobs, then wait for the next tick boundary of any job; return once ``stop`` is set."""
        stop = stop or asyncio.Event()
        _log.info("scheduler %s started with %d job(s)", self.owner, len(self._jobs))
        while not stop.is_set():
            cap: timedelta | None = None
            try:
                await self.run_due()
            except Exception:  # noqa: BLE001  (the loop must outlive any one failure; it is logged)
                _log.exception("scheduler %s could not run its jobs; trying again soon", self.owner)
                cap = RETRY_AFTER
            # A real wait, not the clock's: the clock tells where the boundary is, the event loop waits.
            # Waiting on the stop event rather than sleeping lets a shutdown end the wait at once.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._delay(cap).total_seconds())
        _log.info("scheduler %s stopped", self.owner)

    def _delay(self, cap: timedelta | None) -> timedelta:
        """Time until the earliest next boundary of any job, at most ``cap``, at least a second."""
        now = self._clock.now()
        delay = min((next_tick(now, job.every) - now for job in self._jobs), default=IDLE_SLEEP)
        if cap is not None:
            delay = min(delay, cap)
        return max(delay, MIN_SLEEP)

    async def _run_one(self, job: ScheduledJob) -> JobOutcome:
        tick = current_tick(self._clock.now(), job.every)
        run_id = await self._claim(job, tick)
        if run_id is None:
            _log.debug("%s for %s is claimed already", job.name, tick.isoformat())
            return JobOutcome(job=job.name, tick=tick, status="skipped")
        if self._dispatch is None:
            return await self._run_claimed(job, run_id, tick)
        try:
            await self._dispatch(job.name, run_id, tick)
        except Exception as error:  # noqa: BLE001  (recorded; the job catches up at its next tick)
            text = describe_error(error)
            _log.exception("%s for %s could not be handed to the task queue", job.name, tick.isoformat())
            await self._finish(run_id, job.name, error=f"not queued: {text}")
            return JobOutcome(job=job.name, tick=tick, status="failed", error=text)
        return JobOutcome(job=job.name, tick=tick, status="queued")

    async def run_claimed(self, job_name: str, run_id: int, tick: datetime) -> JobOutcome:
        """Run a job whose tick this or another scheduler claimed (as ``run_id``): what a worker does
        with a dispatched run."""
        job = self._by_name.get(job_name)
        if job is None:
            # A process of another version dispatched a job this one does not know.
            error = f"no job named {job_name!r} in this process"
            await self._finish(run_id, job_name, error=error)
            return JobOutcome(job=job_name, tick=tick, status="failed", error=error)
        return await self._run_claimed(job, run_id, tick)

    async def _run_claimed(self, job: ScheduledJob, run_id: int, tick: datetime) -> JobOutcome:
        try:
            returned = await job.run(self._database, self._clock)
            counts = {str(key): int(value) for key, value in returned.items()}
        except Exception as error:  # noqa: BLE001  (a job's failure is recorded; the others still run)
            text = describe_error(error)
            _log.exception("%s for %s failed", job.name, tick.isoformat())
            await self._finish(run_id, job.name, error=text)
            return JobOutcome(job=job.name, tick=tick, status="failed", error=text)
        _log.info("%s for %s ran: %s", job.name, tick.isoformat(), counts)
        await self._finish(run_id, job.name, result=counts)
        return JobOutcome(job=job.name, tick=tick, status="ran", result=counts)

    async def _claim(self, job: ScheduledJob, tick: datetime) -> int | None:
        """Insert the (job, tick) row in a transaction of its own; ``None`` if another got there first."""
        try:
            async with self._database.unit_of_work() as session:
                run = JobRun(job=job.name, tick=tick, owner=self.owner, started_at=self._clock.now())
                session.add(run)
                await session.flush()
                return run.id
        except IntegrityError:
            return None

    async def _finish(
        self,
        run_id: int,
        job_name: str,
        *,
        result: dict[str, int] | None = None,
        error: str | None = None,
    ) -> None:
        """Record how a run ended. A failure here is logged, not raised: the job has run either way."""
        try:
            async with self._database.unit_of_work() as session:
                await session.execute(
                    update(JobRun)
                    .where(JobRun.id == run_id)
                    .values(finished_at=self._clock.now(), result=result, error=error)
                    .execution_options(synchronize_session=False)
                )
        except Exception:  # noqa: BLE001  (logged; the outcome stands whether or not it was stored)
            _log.exception("could not record the end of %s (job_run %d)", job_name, run_id)

    async def _prune_if_due(self) -> None:
        """Delete old rows at most hourly; two processes doing it at once delete the same rows, harmlessly."""
        now = self._clock.now()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        # A job that runs less often than the retention keeps its current tick's row, or a second call
        # within that tick would find no claim and run the job again.
        keep = max([RETENTION, *(job.every for job in self._jobs)])
        try:
            async with self._database.unit_of_work() as session:
                await session.execute(
                    delete(JobRun)
                    .where(JobRun.tick < now - keep)
                    .execution_options(synchronize_session=False)
                )
        except Exception:  # noqa: BLE001  (logged; pruning is housekeeping and is retried next call)
            _log.exception("could not delete old job runs; trying again next time")
            return
        self._pruned_at = now
