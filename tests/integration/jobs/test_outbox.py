"""The outbox: a side effect is written with the change that causes it, delivered at least once and
recorded exactly once per dedupe key, retried with backoff, dead-lettered when it keeps failing, and
never lost to a crash between any two steps.

Tasks run in place (``InMemoryBroker(await_inplace=True)``): handing a message to the queue runs its
attempt before the call returns, so each crash case is a plain sequence of steps. The senders are
scripted stand-ins for a channel, which is where the outbox meets the outside world.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select
from taskiq import BrokerMessage, InMemoryBroker
from taskiq.exceptions import SendTaskError

from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs import lifecycle, outbox
from supportdesk.jobs.background import DELIVERY_CHUNK, Background
from supportdesk.jobs.channels import Delivery, DeliveryFailed, Sent
from supportdesk.jobs.models import DeliveryAttempt, DeliveryChannel, DeliveryState, OutboxMessage
from supportdesk.workspaces import service as workspace_service
from supportdesk.workspaces.models import Workspace
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=300)


@dataclass
class ScriptedSender:
    """Answers each attempt from a script (``Sent`` or an exception to raise), then accepts."""

    script: list[Sent | Exception] = field(default_factory=list)
    received: list[Delivery] = field(default_factory=list)

    async def __call__(self, delivery: Delivery) -> Sent:
        self.received.append(delivery)
        answer = self.script.pop(0) if self.script else Sent(provider="test", provider_message_id="m-1")
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def sender() -> ScriptedSender:
    return ScriptedSender()


@pytest.fixture
async def background(
    database: Database, clock: FrozenClock, sender: ScriptedSender
) -> AsyncIterator[Background]:
    settings = make_settings(str(database.engine.url))
    broker = InMemoryBroker(await_inplace=True)
    background = Background(
        database, clock, settings, senders={DeliveryChannel.webhook: sender}, broker=broker, owner="test:1"
    )
    await broker.startup()
    yield background
    await background.stop()


async def enqueue(
    database: Database, clock: FrozenClock, workspace: Workspace, *keys: str, fail: bool = False
) -> None:
    """Record one webhook message per dedupe key in a unit of work, which raises at the end if ``fail``."""
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        await outbox.enqueue(
            session,
            clock,
            workspace.id,
            [
                outbox.Outgoing(DeliveryChannel.webhook, "7", key, {"type": "ticket.created", "n": index})
                for index, key in enumerate(keys)
            ],
        )
        if fail:
            raise RuntimeError("the change failed after its side effects were recorded")


async def messages(database: Database) -> list[OutboxMessage]:
    async with database.unit_of_work(readonly=True) as session:
        found = list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())
        session.expunge_all()
        return found


async def attempts(database: Database) -> list[DeliveryAttempt]:
    async with database.unit_of_work(readonly=True) as session:
        query = select(DeliveryAttempt).order_by(DeliveryAttempt.id)
        found = list((await session.execute(query)).scalars())
        session.expunge_all()
        return found


async def attempt_whenever_due(
    background: Background, database: Database, clock: FrozenClock, *, times: int
) -> OutboxMessage:
    """Relay the one message ``times`` times, each time once it is due again; returns it as it ends."""
    for _ in range(times):
        assert await background.relay_once() == 1
        [message] = await messages(database)
        clock.set(message.next_attempt_at)
    return message


async def test_a_message_is_written_only_if_the_change_commits(
    database: Database, clock: FrozenClock, workspace: Workspace
) -> None:
    with pytest.raises(RuntimeError):
        await enqueue(database, clock, workspace, "ticket:1:created", fail=True)
    assert await messages(database) == []

    await enqueue(database, clock, workspace, "ticket:1:created")
    [message] = await messages(database)
    assert (message.state, message.attempts, message.next_attempt_at) == (
        DeliveryState.pending,
        0,
        clock.now(),
    )
    assert message.max_attempts == 7, "webhooks follow the Standard Webhooks schedule"


async def test_the_same_dedupe_key_is_the_same_message(
    database: Database, clock: FrozenClock, workspace: Workspace, other_workspace: Workspace
) -> None:
    await enqueue(database, clock, workspace, "ticket:1:created")
    await enqueue(database, clock, workspace, "ticket:1:created", "ticket:1:v2")
    await enqueue(database, clock, other_workspace, "ticket:1:created")
    keys = [(message.workspace_id, message.dedupe_key) for message in await messages(database)]
    assert keys == [
        (workspace.id, "ticket:1:created"),
        (workspace.id, "ticket:1:v2"),
        (other_workspace.id, "ticket:1:created"),
    ]


async def test_the_relay_delivers_what_was_committed_while_nothing_ran(
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
    background: Background,
    sender: ScriptedSender,
) -> None:
    # Committed before any relay existed: the crash-after-commit case.
    await enqueue(database, clock, workspace, "a", "b")
    clock.advance(timedelta(seconds=3))

    assert await background.relay_once() == 2

    assert sorted(delivery.dedupe_key for delivery in sender.received) == ["a", "b"]
    assert {delivery.attempt for delivery in sender.received} == {1}
    for message in await messages(database):
        assert message.state == DeliveryState.delivered
        assert (message.provider, message.provider_message_id) == ("test", "m-1")
        assert message.delivered_at == clock.now()
    log = await attempts(database)
    assert [(attempt.number, attempt.succeeded, attempt.provider) for attempt in log] == [
        (1, True, "test")
    ] * 2
    assert await background.relay_once() == 0, "nothing is delivered twice"


async def test_a_transient_failure_is_retried_after_the_backoff(
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
    background: Background,
    sender: ScriptedSender,
) -> None:
    sender.script = [DeliveryFailed("HTTP 503 from the receiver", status_code=503)]
    await enqueue(database, clock, workspace, "a")
    await background.relay_once()

    [message] = await messages(database)
    assert (message.state, message.attempts, message.last_error) == (
        DeliveryState.pending,
        1,
        "HTTP 503 from the receiver",
    )
    # The schedule's first wait is 5 s, plus at most a tenth of it.
    assert (
        clock.now() + timedelta(seconds=5) <= message.next_attempt_at <= clock.now() + timedelta(seconds=5.5)
    )
    assert await background.relay_once() == 0, "not due before its time"

    clock.set(message.next_attempt_at)
    assert await background.relay_once() == 1
    [message] = await messages(database)
    assert (message.state, message.attempts, message.last_error) == (DeliveryState.delivered, 2, None)
    assert [
        (attempt.number, attempt.succeeded, attempt.status_code) for attempt in await attempts(database)
    ] == [
        (1, False, 503),
        (2, True, None),
    ]


async def test_a_permanent_refusal_is_dead_at_once(
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
    background: Background,
    sender: ScriptedSender,
) -> None:
    sender.script = [DeliveryFailed("the subscription was deleted", permanent=True)]
    await enqueue(database, clock, workspace, "a")
    await background.relay_once()
    [message] = await messages(database)
    assert (message.state, message.last_error) == (DeliveryState.dead, "the subscription was deleted")
    clock.advance(timedelta(days=1))
    assert await background.relay_once() == 0


async def test_after_the_last_attempt_the_message_is_dead(
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
    background: Background,
    sender: ScriptedSender,
) -> None:
    sender.script = [DeliveryFailed(f"timed out ({number})") for number in range(1, 8)]
    await enqueue(database, clock, workspace, "a")
    message = await attempt_whenever_due(background, database, clock, times=7)
    assert (message.state, message.attempts, message.last_error) == (DeliveryState.dead, 7, "timed out (7)")
    clock.advance(timedelta(days=2))
    assert await background.relay_once() == 0
    assert len(sender.received) == 7


async def test_a_sender_that_breaks_costs_an_attempt_not_the_message(
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
    background: Background,
    sender: ScriptedSender,
) -> None:
    sender.script = [KeyError("payload")]
    await enqueue(database, clock, workspace, "a")
    await background.relay_once()
    [message] = await messages(database)
    assert (message.state, message.last_error) == (DeliveryState.pending, "KeyError: 'payload'")


async def test_a_channel_this_process_cannot_send_waits_for_one_that_can(
    database: Database, clock: FrozenClock, workspace: Workspace, background: Background
) -> None:
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        await outbox.enqueue(
            session,
            clock,
            workspace.id,
            [outbox.Outgoing(DeliveryChannel.email, "ann@example.com", "mail", {})],
        )
    await background.relay_once()
    [message] = await messages(database)
    assert message.state == DeliveryState.pending
    assert message.last_error == "this process cannot send email messages"


async def test_a_claim_never_handed_to_the_queue_is_claimed_again_after_its_lease(
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
    background: Background,
    sender: ScriptedSender,
) -> None:
    await enqueue(database, clock, workspace, "a")
    # A relay claims and dies before the queue has the message.
    [claimed] = await lifecycle.claim_due(database, clock, limit=10, lease=LEASE, owner="dead-relay")
    [message] = await messages(database)
    assert (message.state, message.claimed_by) == (DeliveryState.queued, "dead-relay")

    assert await background.relay_once() == 0, "the lease still holds"
    clock.advance(LEASE)
    assert await background.relay_once() == 1
    assert [delivery.attempt for delivery in sender.received] == [1]
    [message] = await messages(database)
    assert message.state == DeliveryState.delivered
    # The dead relay's queue message turns up after all: it is stale and does nothing.
    await background.deliver_message(claimed.id, claimed.attempts)
    assert len(sender.received) == 1


class GoneAwayBroker(InMemoryBroker):
    """Runs the first ``accept`` tasks sent to it in place, then refuses each, as a broker that went
    away does."""

    def __init__(self, accept: int) -> None:
        super().__init__(await_inplace=True)
        self.accept = accept

    async def kick(self, message: BrokerMessage) -> None:
        if self.accept <= 0:
            raise ConnectionError("the broker went away")
        self.accept -= 1
        await super().kick(message)


async def test_claims_the_queue_refused_are_handed_back_due_at_once(
    database: Database, clock: FrozenClock, workspace: Workspace, sender: ScriptedSender
) -> None:
    # Three chunks: the queue takes the first and refuses the second; the third is not tried.
    keys = [f"m{n:02}" for n in range(2 * DELIVERY_CHUNK + 1)]
    await enqueue(database, clock, workspace, *keys)
    broker = GoneAwayBroker(accept=1)
    background = Background(
        database,
        clock,
        make_settings(str(database.engine.url)),
        senders={DeliveryChannel.webhook: sender},
        broker=broker,
        owner="relay:1",
    )
    await broker.startup()
    try:
        with pytest.raises(SendTaskError):
            await background.relay_once()
        found = await messages(database)
        handed_back = [message for message in found if message.state is DeliveryState.pending]
        assert Counter(message.state for message in found) == {
            DeliveryState.delivered: DELIVERY_CHUNK,
            DeliveryState.pending: DELIVERY_CHUNK + 1,
        }
        # Due now, not when their lease would have run out, and no attempt counted against them.
        assert {(m.attempts, m.next_attempt_at, m.claimed_by) for m in handed_back} == {
            (0, clock.now(), None)
        }

        broker.accept = 2
        assert await background.relay_once() == DELIVERY_CHUNK + 1
    finally:
        await background.stop()
    assert {message.state for message in await messages(database)} == {DeliveryState.delivered}
    assert sorted(delivery.dedupe_key for delivery in sender.received) == sorted(keys), "each is sent once"


async def test_a_claim_another_relay_took_over_is_not_handed_back(
    database: Database, clock: FrozenClock, workspace: Workspace
) -> None:
    await enqueue(database, clock, workspace, "a")
    # The first relay's broker hung for longer than the lease; the second took the message over.
    [claimed] = await lifecycle.claim_due(database, clock, limit=10, lease=LEASE, owner="relay:1")
    clock.advance(LEASE)
    await lifecycle.claim_due(database, clock, limit=10, lease=LEASE, owner="relay:2")

    assert await lifecycle.release(database, clock, [claimed], owner="relay:1") == 0
    [message] = await messages(database)
    assert (message.state, message.claimed_by) == (DeliveryState.queued, "relay:2")


async def test_a_worker_lost_while_sending_is_replaced_and_its_late_outcome_ignored(
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
    background: Background,
    sender: ScriptedSender,
) -> None:
    await enqueue(database, clock, workspace, "a")
    [claimed] = await lifecycle.claim_due(database, clock, limit=10, lease=LEASE, owner="relay")
    lost = await lifecycle.start_attempt(database, clock, claimed, lease=LEASE, owner="worker-that-hangs")
    assert lost is not None
    assert lost.attempt == 1

    clock.advance(LEASE)
    assert await background.relay_once() == 1
    assert [delivery.attempt for delivery in sender.received] == [2]

    # The first worker wakes up and reports: the message is another's now, so nothing changes, but the
    # attempt it made is in the log.
    late = await lifecycle.finish_attempt(
        database, clock, lost, DeliveryFailed("timed out"), started_at=clock.now(), rng=random.Random(7)
    )
    assert late.recorded is False
    [message] = await messages(database)
    assert (message.state, message.attempts) == (DeliveryState.delivered, 2)
    assert sorted(attempt.number for attempt in await attempts(database)) == [1, 2]


async def test_a_worker_lost_during_the_last_attempt_leaves_the_message_dead(
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
    background: Background,
    sender: ScriptedSender,
) -> None:
    sender.script = [DeliveryFailed("down")] * 6
    await enqueue(database, clock, workspace, "a")
    await attempt_whenever_due(background, database, clock, times=6)
    [claimed] = await lifecycle.claim_due(database, clock, limit=10, lease=LEASE, owner="relay")
    assert await lifecycle.start_attempt(database, clock, claimed, lease=LEASE, owner="killed") is not None

    clock.advance(LEASE)
    assert await background.relay_once() == 0
    [message] = await messages(database)
    assert (message.state, message.attempts, message.last_error) == (
        DeliveryState.dead,
        7,
        lifecycle.LOST_AT_LAST_ATTEMPT,
    )


async def test_a_repeated_queue_message_sends_once(
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
    background: Background,
    sender: ScriptedSender,
) -> None:
    await enqueue(database, clock, workspace, "a")
    [claimed] = await lifecycle.claim_due(database, clock, limit=10, lease=LEASE, owner="relay")
    await background.deliver_message(claimed.id, claimed.attempts)
    await background.deliver_message(claimed.id, claimed.attempts)
    assert len(sender.received) == 1


async def test_the_relay_takes_the_oldest_due_first_in_batches(
    database: Database, clock: FrozenClock, workspace: Workspace, sender: ScriptedSender
) -> None:
    settings = make_settings(str(database.engine.url), outbox_batch=2)
    broker = InMemoryBroker(await_inplace=True)
    background = Background(
        database, clock, settings, senders={DeliveryChannel.webhook: sender}, broker=broker
    )
    await enqueue(database, clock, workspace, "first")
    clock.advance(timedelta(seconds=1))
    await enqueue(database, clock, workspace, "second", "third")
    assert await background.relay_once() == 2
    # The two due longest make the first batch (in no particular order within it).
    assert sorted(delivery.dedupe_key for delivery in sender.received) == ["first", "second"]
    assert await background.relay_once() == 1


async def test_a_commit_with_messages_rings_the_relays_bell(
    database: Database, clock: FrozenClock, workspace: Workspace
) -> None:
    database.work_bell.clear()
    with pytest.raises(RuntimeError):
        await enqueue(database, clock, workspace, "a", fail=True)
    assert not database.work_bell.is_set(), "a rolled-back change has nothing to deliver"
    await enqueue(database, clock, workspace, "a")
    assert database.work_bell.is_set()


async def test_a_batch_records_each_messages_outcome_on_its_own(
    background: Background,
    sender: ScriptedSender,
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
) -> None:
    keys = [f"ticket:{number}:created" for number in range(1, 46)]  # more than one deliver task's worth
    await enqueue(database, clock, workspace, *keys)
    sender.script = [
        DeliveryFailed("HTTP 503 from the receiver"),
        DeliveryFailed("HTTP 400 from the receiver", permanent=True),
    ]

    assert await background.relay_once() == len(keys)

    found = await messages(database)
    states = [message.state for message in found]
    assert states.count(DeliveryState.delivered) == len(keys) - 2
    assert states.count(DeliveryState.pending) == 1, "the temporary failure waits for its retry"
    assert states.count(DeliveryState.dead) == 1, "the permanent one is dead at once"
    retried = next(message for message in found if message.state == DeliveryState.pending)
    assert (retried.last_error, retried.attempts) == ("HTTP 503 from the receiver", 1)
    assert retried.next_attempt_at > clock.now()
    logged = await attempts(database)
    assert sorted(attempt.message_id for attempt in logged) == [message.id for message in found]
    assert sum(not attempt.succeeded for attempt in logged) == 2
    assert len({delivery.message_id for delivery in sender.received}) == len(keys), "each sent once"


async def test_a_batch_skips_its_stale_claims_and_fences_a_late_outcome(
    database: Database, clock: FrozenClock, workspace: Workspace
) -> None:
    await enqueue(database, clock, workspace, "ticket:1:created", "ticket:2:created", "ticket:3:created")
    first, second, third = await lifecycle.claim_due(database, clock, limit=3, lease=LEASE, owner="relay")

    # The second message's claim went stale (another relay, or an admin's retry, moved it on): it is
    # left out of the batch. The third is taken with a short lease that it will outlive.
    stale = lifecycle.Claimed(second.id, second.attempts + 5)
    started = await lifecycle.start_attempts(database, clock, [first, stale], lease=LEASE, owner="worker-1")
    assert [delivery.message_id for delivery in started] == [first.id]
    started += await lifecycle.start_attempts(
        database, clock, [third], lease=timedelta(seconds=1), owner="worker-1"
    )
    clock.advance(timedelta(seconds=2))
    [again] = await lifecycle.claim_due(database, clock, limit=3, lease=LEASE, owner="relay")
    assert again.id == third.id
    [taken_over] = await lifecycle.start_attempts(database, clock, [again], lease=LEASE, owner="worker-2")

    now = clock.now()
    outcomes = await lifecycle.finish_attempts(
        database,
        clock,
        [lifecycle.Finished(delivery, Sent(provider="test"), now, now) for delivery in started],
        rng=random.Random(1),
    )

    assert [outcome.recorded for outcome in outcomes] == [True, False]
    by_id = {message.id: message for message in await messages(database)}
    assert by_id[first.id].state == DeliveryState.delivered
    assert (by_id[third.id].state, by_id[third.id].attempts) == (DeliveryState.sending, taken_over.attempt)
    assert by_id[third.id].claimed_by == "worker-2"
    assert len(await attempts(database)) == 2, "both attempts are logged, the late one too"


class HeldSender:
    """Takes every attempt and answers none until released: receivers that all hang."""

    def __init__(self, expected: int) -> None:
        self.received: list[Delivery] = []
        self.expected = expected
        self.all_waiting = asyncio.Event()
        self.released = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> Sent:
        self.received.append(delivery)
        if len(self.received) == self.expected:
            self.all_waiting.set()
        await self.released.wait()
        return Sent(provider="test", provider_message_id=delivery.dedupe_key)


async def test_a_worker_starts_no_more_attempts_than_it_can_send_within_their_lease(
    real_database: Database, clock: FrozenClock
) -> None:
    # Four batches are handed out at once to a worker with four send slots, and every receiver hangs.
    # Attempts started but waiting for a slot would run out their lease and be sent a second time, so
    # the worker starts two batches (one being sent while the other is recorded) and leaves the rest
    # claimed, unstarted, until those are done.
    async with real_database.unit_of_work() as session:
        workspace = await workspace_service.create_workspace(session, clock, slug="acme", name="Acme")
    keys = [f"m{n:03}" for n in range(4 * DELIVERY_CHUNK)]
    await enqueue(real_database, clock, workspace, *keys)
    settings = make_settings(
        str(real_database.engine.url), worker_concurrency=4, outbox_batch=4 * DELIVERY_CHUNK
    )
    sender = HeldSender(expected=4)
    broker = InMemoryBroker(max_async_tasks=10)
    background = Background(
        real_database, clock, settings, senders={DeliveryChannel.webhook: sender}, broker=broker, owner="w:1"
    )
    await broker.startup()
    try:
        assert await background.relay_once() == 4 * DELIVERY_CHUNK
        await asyncio.wait_for(sender.all_waiting.wait(), timeout=10)
        await asyncio.sleep(0.1)  # time for a further batch to start, were one allowed to

        states = Counter(message.state for message in await messages(real_database))
        assert states == {DeliveryState.sending: 2 * DELIVERY_CHUNK, DeliveryState.queued: 2 * DELIVERY_CHUNK}
        assert len(sender.received) == 4, "no more sends at once than the worker's concurrency"

        sender.released.set()
        await broker.wait_all()
    finally:
        sender.released.set()
        await background.stop()
    assert {message.state for message in await messages(real_database)} == {DeliveryState.delivered}
    assert sorted(delivery.dedupe_key for delivery in sender.received) == keys, "each is sent once"
