"""The end of an arrived message's processing: what became of it and the ticket's audit event are written
together, in the processing's transaction, and nothing is written twice."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.models import ActorType, AuditAction, AuditEvent
from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.channels.email import repository
from supportdesk.channels.email.models import InboundMessage, InboundOutcome, InboundState
from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs import outbox
from supportdesk.jobs.models import DeliveryChannel, OutboxMessage
from supportdesk.tickets.models import Ticket
from supportdesk.workspaces.models import Workspace
from tests.factories.channels import InboundMessageFactory
from tests.factories.tickets import TicketFactory


async def _events_of(session: AsyncSession, ticket_id: int) -> list[AuditEvent]:
    found = await session.execute(
        select(AuditEvent).where(AuditEvent.object_type == "ticket", AuditEvent.object_id == ticket_id)
    )
    return [item for item in found.scalars() if "email_received" in item.changes]


def _placed_on(message: InboundMessage, ticket: Ticket, clock: FrozenClock) -> None:
    message.state = InboundState.processed
    message.outcome = InboundOutcome.reply
    message.thread_rule = "subject-token"
    message.thread_evidence = f"the subject names [#{ticket.number}]"
    message.sender = "maria@example.com"
    message.ticket_id = ticket.id
    message.attempts += 1
    message.processed_at = clock.now()


_CHANGES = {"email_received": (None, {"rule": "subject-token"})}


@dataclass(frozen=True)
class Arrival:
    """A message kept in the test's workspace and the ticket processing places it on."""

    database: Database
    workspace: Workspace
    clock: FrozenClock
    ticket: Ticket
    message_id: int

    async def finish(
        self, *, then: Callable[[], None] = lambda: None, enqueued: Sequence[outbox.Outgoing] = ()
    ) -> InboundMessage:
        """Place the message on the ticket as processing ends it, with the side effects ``enqueued``
        held for its statement, then do ``then`` in the same unit of work, before it commits."""
        async with self.database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, self.workspace.id)
            act_as(session.sync_session, SYSTEM, self.clock)
            outbox.hold_until_taken(session)
            await outbox.enqueue(session, self.clock, self.workspace.id, enqueued)
            message = await session.get_one(InboundMessage, self.message_id)
            _placed_on(message, self.ticket, self.clock)
            await repository.finish_message(session, message, self.clock.now(), ticket_changes=_CHANGES)
            then()
        return message

    async def stored(self) -> tuple[InboundMessage, list[AuditEvent]]:
        """The message as stored, and the ticket's events about e-mail."""
        async with self.database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, self.workspace.id)
            return await session.get_one(InboundMessage, self.message_id), await _events_of(
                session, self.ticket.id
            )


@pytest.fixture
async def arrival(
    database: Database,
    workspace: Workspace,
    clock: FrozenClock,
    ticket_factory: TicketFactory,
    inbound_message_factory: InboundMessageFactory,
) -> Arrival:
    ticket = await ticket_factory()
    message = await inbound_message_factory()
    return Arrival(database, workspace, clock, ticket, message.id)


def _fail() -> None:
    raise RuntimeError("the processing failed after the message was written")


async def test_the_message_and_the_tickets_event_are_written_together(arrival: Arrival) -> None:
    await arrival.finish()

    stored, (recorded,) = await arrival.stored()
    assert (stored.state, stored.outcome, stored.thread_rule, stored.ticket_id, stored.attempts) == (
        InboundState.processed,
        InboundOutcome.reply,
        "subject-token",
        arrival.ticket.id,
        1,
    )
    assert (recorded.action, recorded.actor_type, recorded.workspace_id) == (
        AuditAction.updated,
        ActorType.system,
        arrival.workspace.id,
    )
    assert recorded.changes == {"email_received": [None, {"rule": "subject-token"}]}
    assert recorded.created_at == arrival.clock.now()


async def test_a_rolled_back_processing_leaves_neither(arrival: Arrival) -> None:
    with pytest.raises(RuntimeError, match="the processing failed after"):
        await arrival.finish(then=_fail)

    stored, events = await arrival.stored()
    assert (stored.state, stored.ticket_id, stored.attempts) == (InboundState.received, None, 0)
    assert events == []


async def test_the_unit_of_work_does_not_write_the_message_again(arrival: Arrival) -> None:
    engine = arrival.database.engine.sync_engine
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement)

    def watch_the_commit() -> None:
        event.listen(engine, "before_cursor_execute", record)

    try:
        message = await arrival.finish(then=watch_the_commit)
    finally:
        if event.contains(engine, "before_cursor_execute", record):
            event.remove(engine, "before_cursor_execute", record)

    assert [statement for statement in sent if "inbound_message" in statement] == []
    assert message.state == InboundState.processed, "the object keeps the values written"


async def test_the_side_effects_processing_held_are_written_with_the_message(arrival: Arrival) -> None:
    acknowledgement = outbox.Outgoing(
        channel=DeliveryChannel.email,
        target="maria@example.com",
        dedupe_key=f"ticket:{arrival.ticket.id}:created:ack",
        payload={"kind": "ticket_received"},
        ticket_id=arrival.ticket.id,
    )
    engine = arrival.database.engine.sync_engine
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        await arrival.finish(enqueued=[acknowledgement])
    finally:
        event.remove(engine, "before_cursor_execute", record)

    async with arrival.database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, arrival.workspace.id)
        keys = (await session.execute(select(OutboxMessage.dedupe_key))).scalars().all()
    assert keys == [acknowledgement.dedupe_key]
    writing = [statement for statement in sent if "INSERT INTO outbox_message" in statement]
    if arrival.database.engine.dialect.name == "postgresql":
        (statement,) = writing
        assert "UPDATE inbound_message" in statement, "one statement ends the message and writes the mail"
    else:
        assert len(writing) == 1


async def test_a_change_the_end_does_not_write_is_left_to_the_unit_of_work(arrival: Arrival) -> None:
    # The end writes what processing sets on a message; anything else changed on it stays the unit
    # of work's to write at the commit, rather than being taken for written.
    async with arrival.database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, arrival.workspace.id)
        act_as(session.sync_session, SYSTEM, arrival.clock)
        outbox.hold_until_taken(session)
        message = await session.get_one(InboundMessage, arrival.message_id)
        _placed_on(message, arrival.ticket, arrival.clock)
        message.recipients = ["help@acme.example.com", "billing@acme.example.com"]
        await repository.finish_message(session, message, arrival.clock.now(), ticket_changes=_CHANGES)
        assert session.sync_session.is_modified(message)

    stored, _events = await arrival.stored()
    assert stored.recipients == ["help@acme.example.com", "billing@acme.example.com"]
    assert stored.state == InboundState.processed
