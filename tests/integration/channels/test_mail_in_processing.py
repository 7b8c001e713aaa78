"""How the processor reads what it needs, on SQLite and PostgreSQL: a job names the message's bytes, so
they are parsed before the transaction and the message's row is read with what earlier messages say
of it (a copy processed before, the sender's rate); jobs that name only the message, as earlier
releases queued them, are processed all the same; and another workspace's messages never count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from supportdesk.automation.models import TriggerEvent
from supportdesk.channels.email import service
from supportdesk.channels.email.models import InboundMessage, InboundOutcome, InboundSource, InboundState
from supportdesk.core.clock import FrozenClock
from supportdesk.core.storage import FileStore, LocalFileStore
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs.background import Background
from supportdesk.jobs.models import DeliveryChannel, OutboxMessage
from supportdesk.workspaces.models import Workspace
from tests.factories.automation import TriggerFactory
from tests.fixtures.app import ApiClient
from tests.integration.channels.conftest import Deliver, SendRaw, email, inbound

pytestmark = pytest.mark.integration


async def process(worker: Background) -> None:
    while await worker.relay_once():
        pass


async def processing_payloads(database: Database) -> list[dict[str, object]]:
    async with database.unit_of_work(readonly=True) as session:
        rows = await session.execute(
            select(OutboxMessage.payload)
            .where(OutboxMessage.channel == DeliveryChannel.inbound)
            .order_by(OutboxMessage.id)
        )
        return [dict(payload) for payload in rows.scalars()]


async def forget_digests(database: Database) -> None:
    """Make every waiting processing job look as an earlier release queued it: naming only the message."""
    async with database.unit_of_work() as session:
        for outgoing in (
            await session.execute(
                select(OutboxMessage).where(OutboxMessage.channel == DeliveryChannel.inbound)
            )
        ).scalars():
            outgoing.payload = {"inbound_message_id": outgoing.payload["inbound_message_id"]}


async def test_the_processing_job_names_the_bytes_of_its_message(
    deliver: Deliver, database: Database
) -> None:
    (arrived,) = await deliver(email("Printer on fire", "Room 4."))
    assert await processing_payloads(database) == [
        {"inbound_message_id": arrived.id, service.RAW_KEY: arrived.raw_sha256}
    ]


@pytest.mark.parametrize("old_jobs", [False, True], ids=["jobs-naming-the-bytes", "jobs-of-earlier-releases"])
async def test_a_copy_and_a_sender_over_the_limit_are_found_either_way(
    send_raw: SendRaw,
    worker: Background,
    database: Database,
    sender_limit: int,
    old_jobs: bool,
) -> None:
    copy = email("Twice", "Delivered twice.", headers={"Message-ID": "<twice@mail.example.com>"})
    messages = [copy, copy] + [
        email(f"Ping {number}", "Are you there?", sender="bot@loop.example")
        for number in range(sender_limit + 1)
    ]
    for message in messages:
        await send_raw(message.as_bytes())
        if old_jobs:
            await forget_digests(database)
        await process(worker)

    arrived = await inbound(database)
    assert [row.state for row in arrived] == [InboundState.processed] * len(messages)
    assert [row.outcome for row in arrived] == [
        InboundOutcome.new_ticket,
        InboundOutcome.duplicate,
        *[InboundOutcome.new_ticket] * sender_limit,
        InboundOutcome.automated,
    ]
    assert arrived[1].ticket_id == arrived[0].ticket_id
    assert arrived[1].thread_evidence == f"the same Message-ID arrived before as message {arrived[0].id}"


async def test_a_job_whose_bytes_are_gone_is_quarantined_with_the_reason(
    send_raw: SendRaw, worker: Background, database: Database, file_store: FileStore
) -> None:
    await send_raw(email("Lost", "Its bytes go missing.").as_bytes())
    (message,) = await inbound(database)
    assert isinstance(file_store, LocalFileStore)
    file_store.path_of(message.raw_sha256).unlink()
    await process(worker)
    (message,) = await inbound(database)
    assert message.state == InboundState.quarantined
    assert message.last_error == "the message's bytes are missing from the file store"


async def test_another_workspaces_messages_are_no_copy_and_count_for_no_rate(
    deliver: Deliver,
    database: Database,
    clock: FrozenClock,
    other_workspace: Workspace,
    sender_limit: int,
) -> None:
    # The other desk already has this Message-ID, processed, and more than the limit from the sender.
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, other_workspace.id)
        for number in range(sender_limit + 1):
            session.add(
                InboundMessage(
                    workspace_id=other_workspace.id,
                    source=InboundSource.http,
                    raw_sha256="0" * 64,
                    raw_size=1,
                    received_at=clock.now(),
                    message_id="<elsewhere@mail.example.com>" if number == 0 else None,
                    sender="maria@example.com",
                    state=InboundState.processed,
                )
            )
    (arrived,) = await deliver(
        email("Mine", "First time here.", headers={"Message-ID": "<elsewhere@mail.example.com>"})
    )
    assert arrived.outcome == InboundOutcome.new_ticket


async def test_the_heuristic_finds_a_ticket_of_an_address_no_customer_has_any_more(
    admin_client: ApiClient, deliver: Deliver, clock: FrozenClock
) -> None:
    # The customer moved to another address; the ticket keeps the one it was opened from, and mail from
    # that address still finds it by sender and subject (the statement that reads the message says
    # whether the sender has a recent ticket, not whether a customer has the address).
    (opened,) = await deliver(email("Printer on fire", "Room 4."))
    ticket = (await admin_client.get(f"/api/v1/tickets/{opened.ticket_id}")).json()
    customer = (await admin_client.get(f"/api/v1/customers/{ticket['customer_id']}")).json()
    moved = await admin_client.patch(
        f"/api/v1/customers/{customer['id']}",
        json={"email": "maria.lopez@example.com"},
        headers={"If-Match": f'"v{customer["version"]}"'},
    )
    assert moved.status_code == 200, moved.text
    clock.advance(timedelta(hours=2))
    (arrived,) = await deliver(email("Re: Printer on fire", "Any news?"))
    assert (arrived.ticket_id, arrived.thread_rule) == (opened.ticket_id, "same-sender-and-subject")


async def test_a_trigger_made_between_two_replies_runs_for_the_second(
    admin_client: ApiClient, deliver: Deliver, trigger_factory: TriggerFactory
) -> None:
    # The configuration's revisions come with the message's row: a reply's triggers are those of the
    # moment it is processed, not those the process built for the reply before.
    (opened,) = await deliver(email("Printer on fire", "Room 4."))
    subject = f"Re: [#{(await admin_client.get(f'/api/v1/tickets/{opened.ticket_id}')).json()['number']}]"
    (first,) = await deliver(email(subject, "Any news?"))
    await trigger_factory(
        event=TriggerEvent.commented, actions=[{"type": "add_tags", "tags": ["customer-waits"]}]
    )
    (second,) = await deliver(email(subject, "Hello?"))

    assert (first.outcome, second.outcome) == (InboundOutcome.reply, InboundOutcome.reply)
    ticket = (await admin_client.get(f"/api/v1/tickets/{opened.ticket_id}")).json()
    assert ticket["tags"] == ["customer-waits"]


async def test_a_job_whose_message_was_deleted_meanwhile_is_done_without_a_trace(
    send_raw: SendRaw, worker: Background, database: Database
) -> None:
    # Its workspace's admin deleted it (or its workspace) after it arrived: nothing is left to place.
    await send_raw(email("Withdrawn", "Never mind.").as_bytes())
    (message,) = await inbound(database)
    async with database.unit_of_work() as session:
        await session.delete(await session.get_one(InboundMessage, message.id))

    await process(worker)

    assert await inbound(database) == []
    async with database.unit_of_work(readonly=True) as session:
        jobs = await session.execute(
            select(OutboxMessage.state).where(OutboxMessage.channel == DeliveryChannel.inbound)
        )
        assert [state.value for state in jobs.scalars()] == ["delivered"]
