"""End to end, on SQLite and PostgreSQL: a customer's e-mail sent with smtplib reaches the desk's
listener and becomes a ticket; the acknowledgement goes out through the SMTP provider to a local server;
the customer answers it and the answer lands on the same ticket, and the API says why."""

from __future__ import annotations

import asyncio
import smtplib

import pytest

from supportdesk.channels.email import listener
from supportdesk.channels.email.models import InboundOutcome, InboundState
from supportdesk.core.clock import FrozenClock
from supportdesk.core.storage import FileStore
from supportdesk.db.session import Database
from supportdesk.jobs.background import Background
from supportdesk.workspaces.models import Workspace
from tests.fixtures.app import ApiClient
from tests.fixtures.smtp import SmtpSink
from tests.integration.channels.conftest import DESK, Send, SendRaw, email, inbound

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("mailbox")]


async def test_an_email_becomes_a_ticket_and_the_reply_to_its_acknowledgement_lands_on_it(
    send: Send,
    worker: Background,
    smtp_sink: SmtpSink,
    admin_client: ApiClient,
    database: Database,
    workspace: Workspace,
) -> None:
    await send(email("Printer on fire", "Hello,\n\nthe printer in room 4 is on fire.\n\nMaria"))
    (arrived,) = await inbound(database)
    assert arrived.state == InboundState.received, "kept before anything else happens"

    assert await worker.relay_once() == 1  # processing
    assert await worker.relay_once() == 1  # the acknowledgement
    (arrived,) = await inbound(database)
    assert (arrived.state, arrived.outcome, arrived.thread_rule) == (
        InboundState.processed,
        InboundOutcome.new_ticket,
        "new-ticket",
    )
    ticket = (await admin_client.get(f"/api/v1/tickets/{arrived.ticket_id}")).json()
    assert (ticket["title"], ticket["channel"], ticket["customer_email"]) == (
        "Printer on fire",
        "email",
        "maria@example.com",
    )
    assert "the printer in room 4 is on fire" in ticket["description"]

    (acknowledgement,) = [mail.message() for mail in smtp_sink.received]
    assert acknowledgement["To"] == "maria@example.com"
    reply = email(
        f"Re: {acknowledgement['Subject']}",
        "It is out now, thanks.\n\nOn Monday the desk wrote:\n> We received your request.",
        to=str(acknowledgement["Reply-To"]),
        headers={
            "In-Reply-To": str(acknowledgement["Message-ID"]),
            "References": str(acknowledgement["Message-ID"]),
        },
    )
    await send(reply)
    assert await worker.relay_once() == 1

    emails = (await admin_client.get(f"/api/v1/tickets/{ticket['id']}/emails")).json()
    assert [item["outcome"] for item in emails] == ["new-ticket", "reply"]
    reason = emails[1]["thread_reason"]
    assert reason["rule"] == "our-message-id"
    assert acknowledgement["Message-ID"] in reason["evidence"]
    comments = (await admin_client.get(f"/api/v1/tickets/{ticket['id']}/comments")).json()
    assert [(comment["author_customer_id"] is not None, comment["content"]) for comment in comments] == [
        (True, "It is out now, thanks.")
    ], "the customer's words, without the quoted history"
    audit = (await admin_client.get(f"/api/v1/tickets/{ticket['id']}/audit")).json()
    threaded = [
        event["changes"]["email_received"][1] for event in audit if "email_received" in event["changes"]
    ]
    assert [item["rule"] for item in threaded] == ["new-ticket", "our-message-id"]


async def test_mail_for_an_address_that_is_no_mailbox_is_refused_while_the_sender_waits(
    send: Send, database: Database
) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await send(email("Hello", "Anyone?", to="nobody@acme.example.com"))
    assert refused.value.recipients["nobody@acme.example.com"][0] == 550
    assert await inbound(database) == []


async def test_an_auto_reply_is_recorded_and_never_answered(
    send: Send, worker: Background, smtp_sink: SmtpSink, database: Database
) -> None:
    await send(email("Out of office", "I am away until Monday.", headers={"Auto-Submitted": "auto-replied"}))
    assert await worker.relay_once() == 1
    assert await worker.relay_once() == 0, "nothing to send"

    (arrived,) = await inbound(database)
    assert (arrived.outcome, arrived.ticket_id) == (InboundOutcome.automated, None)
    assert arrived.automated_reason == "auto-reply: Auto-Submitted: auto-replied"
    assert smtp_sink.received == []


async def test_a_message_to_a_plus_address_of_the_mailbox_arrives_in_it(
    send: Send, worker: Background, database: Database
) -> None:
    await send(email("Hello", "Via the plus address", to="help+sales@acme.example.com"))
    (arrived,) = await inbound(database)
    assert arrived.recipients == ["help+sales@acme.example.com"]
    assert DESK in arrived.recipients[0].replace("+sales", "")


async def test_a_mail_server_delivers_over_lmtp(
    database: Database, clock: FrozenClock, file_store: FileStore, worker: Background
) -> None:
    server = await listener.serve(database, clock, file_store, host="127.0.0.1", port=0, lmtp=True)
    port = server.sockets[0].getsockname()[1]

    def deliver() -> None:
        with smtplib.LMTP("127.0.0.1", port) as client:
            client.send_message(email("Via Postfix", "Delivered by the domain's mail server."))

    try:
        await asyncio.to_thread(deliver)
    finally:
        server.close()
        await server.wait_closed()
    (arrived,) = await inbound(database)
    assert arrived.source == "lmtp"
    await worker.relay_once()
    (arrived,) = await inbound(database)
    assert arrived.outcome == InboundOutcome.new_ticket


BROKEN = {
    "binary-junk": bytes(range(256)) * 4,
    "headers-only": b"From: someone@example.com\r\nSubject: nothing follows",
    "no-sender": b"Subject: Who am I\r\n\r\nNobody wrote this.",
    "bad-base64": (
        b"From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!"
    ),
    "endless-multipart": (
        b"From: a@example.com\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        + b"--b\r\n" * 500
    ),
    "undeclared-8bit": b"From: a@example.com\r\nSubject: caf\xe9\r\n\r\nna\xefve r\xe9sum\xe9",
}


@pytest.mark.parametrize("raw", list(BROKEN.values()), ids=list(BROKEN))
async def test_a_broken_message_is_still_kept_byte_for_byte_and_processed(
    raw: bytes, send_raw: SendRaw, worker: Background, admin_client: ApiClient, database: Database
) -> None:
    await send_raw(raw)
    assert await worker.relay_once() >= 1
    (arrived,) = await inbound(database)
    assert arrived.state == InboundState.processed
    kept = await admin_client.get(f"/api/v1/admin/inbound-messages/{arrived.id}/raw")
    assert kept.content == raw
