"""Background work, one way: a relay hands due outbox messages to the task queue, the scheduler hands it
claimed job runs, and workers run both kinds of task.

The task queue is taskiq (docs/decisions/0039). Its broker comes from ``SUPPORTDESK_QUEUE_URL``:
``memory://`` (the default) runs everything on the server's own event loop and needs nothing installed;
``redis://`` (a Redis stream) and ``amqp://`` (RabbitMQ) carry the tasks to ``supportdesk worker``
processes. The queue only ever carries "message N, attempt k is ready" and "run R of job J": every state
lives in the database, so a lost or repeated queue message costs a delay, never a delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from taskiq import AsyncBroker, InMemoryBroker
from taskiq.receiver import Receiver

from supportdesk.config import Settings
from supportdesk.core.clock import Clock
from supportdesk.db.session import Database
from supportdesk.jobs import lifecycle
from supportdesk.jobs.channels import Delivery, DeliveryFailed, Preparing, Senders, Sent
from supportdesk.jobs.models import DeliveryChannel
from supportdesk.jobs.scheduler import ScheduledJob, Scheduler, default_owner, describe_error

_log = logging.getLogger("supportdesk.background")

DELIVER_TASK = "supportdesk.outbox.deliver"
DELIVER_BATCH_TASK = "supportdesk.outbox.deliver_batch"
RUN_JOB_TASK = "supportdesk.jobs.run"
# Messages per deliver task: each task takes its attempts in one statement and records them in one
# transaction, and sends them side by side in between. The two transactions cost about as much as
# sending twenty messages, so a task of fifty spends most of its time sending (docs/performance.md);
# a slow receiver holds up only its own task's bookkeeping, and a relay's batch of a hundred still
# spreads over two worker processes of a real broker.
DELIVERY_CHUNK = 50
# A receiver that lost its broker starts again after this, doubling up to the cap: never a tight loop.
RESTART_FIRST = 0.5
RESTART_CAP = 30.0
# A receiver that had listened this long before it failed ran into a new outage, not the same one again:
# it starts again after the first pause, not after the longest one an earlier outage had reached.
HEALTHY_LISTEN = 60.0


def batches_in_flight(worker_concurrency: int) -> int:
    """How many deliver tasks of :data:`DELIVERY_CHUNK` messages one process runs at once: two, or as
    many as it takes to fill ``worker_concurrency`` send slots twice over."""
    return max(2, -(-2 * worker_concurrency // DELIVERY_CHUNK))


def build_broker(settings: Settings) -> AsyncBroker:
    """The broker ``settings.queue_url`` names."""
    url = settings.queue_url
    if url.startswith("memory://"):
        # Tasks run as tasks of the caller's event loop; the relay's batch bounds how many at once.
        return InMemoryBroker(max_async_tasks=settings.worker_concurrency, propagate_exceptions=False)
    if url.startswith(("redis://", "rediss://")):
        # taskiq-redis's stream broker, made to find its consumer group again after a Redis restart.
        from supportdesk.jobs.streams import StreamBroker

        lease_ms = int(settings.delivery_lease_seconds * 1000)
        return StreamBroker(
            url,
            queue_name=settings.queue_name,
            consumer_group_name=settings.queue_name,
            # XACK does not delete: without a bound the stream grows for ever.
            maxlen=100_000,
            approximate=True,
            # A task a dead worker held is taken over after this; never sooner than the delivery lease,
            # or a slow delivery would be handed to a second worker only to lose its compare-and-set.
            idle_timeout=lease_ms,
            unacknowledged_lock_timeout=30,
            xread_block=1000,
        )
    from taskiq_aio_pika import Exchange, Queue

    from supportdesk.jobs.rabbit import RabbitBroker

    return RabbitBroker(
        url,
        exchange=Exchange(name=settings.queue_name),
        task_queues=[Queue(name=settings.queue_name, routing_key=settings.queue_name)],
        # Named after the queue, so that two installations on one RabbitMQ never share one.
        dead_letter_queue=Queue(name=f"{settings.queue_name}.dead_letter"),
        qos=settings.worker_concurrency,
    )


class Background:
    """The relay, the scheduler and the tasks of one process, on one broker."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        settings: Settings,
        *,
        senders: Senders,
        jobs: Sequence[ScheduledJob] = (),
        broker: AsyncBroker | None = None,
        owner: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.database = database
        self.clock = clock
        self.settings = settings
        self.senders = senders
        self.owner = owner or default_owner()
        self._rng = rng or random.Random()  # noqa: S311  (spreads retries; nothing secret)
        self.broker = broker if broker is not None else build_broker(settings)

        # Plain functions, not bound methods: taskiq renames what it registers.
        async def deliver(message_id: int, attempts: int) -> None:
            await self.deliver_message(message_id, attempts)

        async def deliver_batch(claims: list[list[int]]) -> None:
            await self.deliver_messages(
                [lifecycle.Claimed(int(id_), int(attempts)) for id_, attempts in claims]
            )

        async def run_job(job: str, run_id: int, tick: str) -> None:
            await self.run_claimed_job(job, run_id, tick)

        # The single-message task stays registered for queue messages a relay of the previous release
        # sent; relays of this one send batches.
        self.deliver = self.broker.register_task(deliver, task_name=DELIVER_TASK)
        self.deliver_batch = self.broker.register_task(deliver_batch, task_name=DELIVER_BATCH_TASK)
        self.run_job = self.broker.register_task(run_job, task_name=RUN_JOB_TASK)
        self._jobs = tuple(jobs)
        self.scheduler = Scheduler(database, clock, self._jobs, owner=self.owner, dispatch=self._dispatch_job)
        self._batch = settings.outbox_batch
        # How long a claimed message and a started attempt each belong to this process.
        self._lease = timedelta(seconds=settings.delivery_lease_seconds)
        self._poll = settings.outbox_poll_seconds
        # Sends in flight in this process at most: a bound keeps each HTTP client's connection pool
        # small (httpcore matches every waiting request against every connection).
        self._sending = asyncio.Semaphore(settings.worker_concurrency)
        # Batches whose attempts are started at once in this process. Each started attempt's lease runs
        # from its start, so a process must not start many more than it sends at a time: with every
        # receiver timing out, the last of them would outlive its lease and be sent twice. Two batches
        # (or enough to keep every send slot busy) let one be recorded while the other is sent.
        self._batches = asyncio.Semaphore(batches_in_flight(settings.worker_concurrency))
        # Messages this process's relay handed to its own in-memory queue and whose attempts have not
        # ended yet. Such a queue takes every task at once, so a relay that claimed again whenever its
        # batch was full would claim everything due, each message for a whole lease, while other worker
        # processes found nothing to do. It holds at most two batches: one being worked on while the
        # next waits.
        self._held: set[int] = set()
        self._room = asyncio.Event()
        self._stop = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._started = False
        # Run after the broker is shut down: senders close their connections here.
        self.on_stop: list[Callable[[], Awaitable[None]]] = []

    @property
    def embedded(self) -> bool:
        """Whether tasks run in this process as they are sent (the in-memory broker)."""
        return isinstance(self.broker, InMemoryBroker)

    # --- the two tasks ------------------------------------------------------------------------------

    async def deliver_message(self, message_id: int, attempts: int) -> None:
        """Take one attempt at a claimed outbox message (see :meth:`deliver_messages`)."""
        await self.deliver_messages([lifecycle.Claimed(message_id, attempts)])

    async def deliver_messages(self, claims: Sequence[lifecycle.Claimed]) -> None:
        """Take one attempt at each claimed outbox message. Never raises: taskiq acknowledges a task
        that raised all the same, so every failure must be recorded on the messages instead."""
        try:
            await self._deliver(claims)
        except Exception:  # noqa: BLE001  (the messages' leases run out and the relay hands them out again)
            _log.exception(
                "outbox messages %s: the attempts could not be run or recorded",
                [claim.id for claim in claims],
            )

    async def _deliver(self, claims: Sequence[lifecycle.Claimed]) -> None:
        try:
            async with self._batches:
                await self._deliver_now(claims)
        finally:
            if self._held:
                self._held.difference_update(claim.id for claim in claims)
                self._room.set()

    async def _deliver_now(self, claims: Sequence[lifecycle.Claimed]) -> None:
        deliveries = await lifecycle.start_attempts(
            self.database, self.clock, claims, lease=self._lease, owner=self.owner
        )
        if len(deliveries) < len(claims):
            _log.debug("outbox: %d stale claim(s) dropped", len(claims) - len(deliveries))
        by_channel: dict[DeliveryChannel, list[Delivery]] = {}
        for delivery in deliveries:
            by_channel.setdefault(delivery.channel, []).append(delivery)
        sent = await asyncio.gather(*(self._send(channel, batch) for channel, batch in by_channel.items()))
        finished = [one for channel_results in sent for one in channel_results]
        outcomes = await lifecycle.finish_attempts(self.database, self.clock, finished, rng=self._rng)
        for one, outcome in zip(finished, outcomes, strict=True):
            _log.info(
                "outbox message %d (%s to %s), attempt %d: %s",
                one.delivery.message_id,
                one.delivery.channel,
                one.delivery.target,
                one.delivery.attempt,
                outcome.state,
            )

    async def _send(
        self, channel: DeliveryChannel, deliveries: Sequence[Delivery]
    ) -> list[lifecycle.Finished]:
        """Send one channel's messages side by side, each result timed on its own."""
        sender = self.senders.get(channel)
        if sender is None:
            now = self.clock.now()
            failed = DeliveryFailed(f"this process cannot send {channel} messages", permanent=False)
            return [lifecycle.Finished(delivery, failed, now, now) for delivery in deliveries]
        if isinstance(sender, Preparing):
            await sender.prepare(deliveries)

        async def one(delivery: Delivery) -> lifecycle.Finished:
            async with self._sending:
                started_at = self.clock.now()
                result: Sent | DeliveryFailed
                try:
                    result = await sender(delivery)
                except DeliveryFailed as failure:
                    result = failure
                except Exception as error:  # noqa: BLE001  (a sender's bug is a failed attempt, retried later)
                    _log.exception("outbox message %d: the %s sender failed", delivery.message_id, channel)
                    result = DeliveryFailed(describe_error(error))
                return lifecycle.Finished(delivery, result, started_at, self.clock.now())

        return list(await asyncio.gather(*(one(delivery) for delivery in deliveries)))

    async def run_claimed_job(self, job: str, run_id: int, tick: str) -> None:
        """Run a scheduled job whose tick a scheduler claimed."""
        try:
            await self.scheduler.run_claimed(job, run_id, datetime.fromisoformat(tick))
        except Exception:  # noqa: BLE001  (run_claimed records failures; this is the last resort)
            _log.exception("job run %d of %s could not be run", run_id, job)

    def scheduler_inline(self) -> Scheduler:
        """A scheduler of the same jobs that runs each claimed job itself and reports how it went (for
        ``supportdesk worker --once``)."""
        return Scheduler(self.database, self.clock, self._jobs, owner=self.owner)

    async def _dispatch_job(self, job: str, run_id: int, tick: datetime) -> None:
        await self.run_job.kiq(job, run_id, tick.isoformat())

    # --- the relay ----------------------------------------------------------------------------------

    def _claimable(self) -> int:
        """How many messages the relay may claim now: a batch, or with the in-memory queue what is left
        of the two batches this process holds at most (see ``_held``)."""
        if not self.embedded:
            return self._batch
        return max(0, min(self._batch, 2 * self._batch - len(self._held)))

    async def relay_once(self) -> int:
        """Claim one batch of due messages and hand each to the queue; returns how many."""
        limit = self._claimable()
        if limit == 0:
            return 0
        claimed = await lifecycle.claim_due(
            self.database, self.clock, limit=limit, lease=self._lease, owner=self.owner
        )
        for start in range(0, len(claimed), DELIVERY_CHUNK):
            chunk = claimed[start : start + DELIVERY_CHUNK]
            if self.embedded:
                self._held.update(message.id for message in chunk)
            try:
                await self.deliver_batch.kiq([[message.id, message.attempts] for message in chunk])
            except Exception:
                self._held.difference_update(message.id for message in claimed[start:])
                # The queue took neither this chunk nor (they are not tried) the later ones: hand them
                # back, due now, instead of leaving them claimed until their lease ends. A relay that
                # dies here leaves them to the lease after all.
                await lifecycle.release(self.database, self.clock, claimed[start:], owner=self.owner)
                raise
        return len(claimed)

    async def relay_forever(self) -> None:
        """Relay until stopped: at once after a commit in this process wrote outbox messages, when the
        earliest retry falls due, and at least every poll interval (for other processes' messages)."""
        bell = self.database.work_bell
        while not self._stop.is_set():
            if self._claimable() == 0:
                # Both batches are still being worked on: claim more once one of them is done.
                self._room.clear()
                if self._claimable() == 0:
                    await self._wait(self._room, self._poll)
                continue
            bell.clear()
            try:
                count = await self.relay_once()
            except Exception:  # noqa: BLE001  (the loop must outlive a database or broker outage)
                _log.exception("the outbox relay could not claim or hand out messages; trying again soon")
                # After a poll interval even though messages are due (those just handed back): the
                # broker or the database is likely still down, and trying at once would be a tight loop.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=self._poll)
                continue
            if count >= self._batch or (count and self._claimable() < self._batch):
                # A full batch, or as many as there was room for: more may be due.
                continue
            await self._wait(bell, await self._until_next_due())

    async def _until_next_due(self) -> float:
        try:
            earliest = await lifecycle.next_due(self.database)
        except Exception:  # noqa: BLE001  (logged by the next claim, if it persists)
            return self._poll
        if earliest is None:
            return self._poll
        seconds = (earliest - self.clock.now()).total_seconds()
        return min(self._poll, max(0.0, seconds))

    async def _wait(self, bell: asyncio.Event, seconds: float) -> None:
        stop = asyncio.ensure_future(self._stop.wait())
        rung = asyncio.ensure_future(bell.wait())
        try:
            await asyncio.wait((stop, rung), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            rung.cancel()

    # --- the receiver (worker processes) ------------------------------------------------------------

    async def consume_forever(self) -> None:
        """Run tasks from the broker until stopped, starting the receiver again (after a pause that
        doubles while the failures go on) whenever the broker connection fails. Each start listens
        afresh: a Redis stream's consumer group, lost when Redis restarted empty, is made again then
        (:class:`supportdesk.jobs.streams.StreamBroker`)."""
        loop = asyncio.get_running_loop()
        pause = RESTART_FIRST
        while not self._stop.is_set():
            receiver = Receiver(
                self.broker,
                max_async_tasks=self.settings.worker_concurrency,
                propagate_exceptions=False,
                run_startup=False,
                wait_tasks_timeout=self.settings.shutdown_grace_seconds,
            )
            began = loop.time()
            try:
                await receiver.listen(self._stop)
                pause = RESTART_FIRST
            except Exception:  # noqa: BLE001  (a lost broker connection: logged, then listened to again)
                if loop.time() - began >= HEALTHY_LISTEN:
                    pause = RESTART_FIRST
                _log.exception("the task receiver stopped; listening again in %.1f s", pause)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=pause)
                pause = min(pause * 2, RESTART_CAP)

    # --- life cycle ---------------------------------------------------------------------------------

    async def start(self, *, relay: bool = True, schedule: bool = True, consume: bool = False) -> None:
        """Connect to the broker and start the loops asked for."""
        if consume:
            # A process that both sends and runs tasks must say so before start-up (taskiq-aio-pika
            # declares its consumer then).
            self.broker.is_worker_process = True
        await self.broker.startup()
        self._started = True
        if relay:
            self._loops.append(asyncio.create_task(self.relay_forever(), name="outbox-relay"))
        if schedule:
            self._loops.append(
                asyncio.create_task(self.scheduler.run_forever(stop=self._stop), name="scheduler")
            )
        if consume:
            self._loops.append(asyncio.create_task(self.consume_forever(), name="task-receiver"))

    async def stop(self) -> None:
        """Stop the loops, let running tasks finish within the grace period, then disconnect."""
        self._stop.set()
        grace = self.settings.shutdown_grace_seconds
        if self._loops:
            _done, pending = await asyncio.wait(self._loops, timeout=grace)
            for task in pending:
                # A receiver can hang on shutdown in some broker versions; the outbox makes abandoning
                # it harmless (its messages are claimed again when their lease ends).
                task.cancel()
        if isinstance(self.broker, InMemoryBroker):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.broker.wait_all(), timeout=grace)
        if self._started:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.broker.shutdown(), timeout=grace)
            self._started = False
        self._loops.clear()
        for close in self.on_stop:
            with contextlib.suppress(Exception):
                await close()
