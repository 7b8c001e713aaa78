"""Where each arriving e-mail goes, and why, on SQLite and PostgreSQL: replies by the ids the desk
made, by the ticket's reply address, by the subject token (for people on the ticket only), by the same
sender and subject; resolved tickets reopen, closed ones get a follow-up; strangers on copy learn
nothing; machines are recorded and never answered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from supportdesk.channels.email.models import InboundOutcome
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.jobs.background import Background
from supportdesk.notifications.mail import threading
from supportdesk.workspaces.models import Workspace
from tests.factories.people import UserFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.smtp import SmtpSink
from tests.integration.channels.conftest import DESK, Deliver, email, root_id

pytestmark = pytest.mark.integration


@pytest.fixture
async def ticket(admin_client: ApiClient, deliver: Deliver) -> dict[str, Any]:
    """A ticket Maria opened by e-mail."""
    (arrived,) = await deliver(email("Printer on fire", "Room 4, since this morning."))
    return dict((await admin_client.get(f"/api/v1/tickets/{arrived.ticket_id}")).json())


async def comments(client: ApiClient, ticket: dict[str, Any]) -> list[dict[str, Any]]:
    return list((await client.get(f"/api/v1/tickets/{ticket['id']}/comments")).json())


async def test_a_reply_naming_only_the_root_in_references_threads_by_it(
    deliver: Deliver, ticket: dict[str, Any], workspace: Workspace
) -> None:
    # The mail client kept References but wrote its own In-Reply-To (zammad#5716's case).
    reply = email(
        "Re: Printer on fire",
        "Still burning.",
        headers={"In-Reply-To": "<someone-elses@mail.example.com>", "References": root_id(ticket, workspace)},
    )
    (arrived,) = await deliver(reply)
    assert (arrived.outcome, arrived.ticket_id, arrived.thread_rule) == (
        InboundOutcome.reply,
        ticket["id"],
        "our-message-id",
    )
    assert str(arrived.thread_evidence).startswith("References names <ticket-")


async def test_a_reply_to_a_later_message_of_the_desk_threads_by_that_messages_id(
    admin_client: ApiClient,
    deliver: Deliver,
    ticket: dict[str, Any],
    smtp_sink: SmtpSink,
    worker: Background,
    user_factory: UserFactory,
) -> None:
    agent = await user_factory(role=Role.agent)
    await admin_client.patch(f"/api/v1/tickets/{ticket['id']}", json={"assigned_agent_id": agent.id})
    await admin_client.post(f"/api/v1/tickets/{ticket['id']}/comments", json={"content": "Unplug it."})
    while await worker.relay_once():
        pass
    mails = [mail.message() for mail in smtp_sink.received if mail.recipients == ["maria@example.com"]]
    agent_reply = mails[-1]
    assert "Unplug it." in agent_reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # Only the desk's own id of that reply, nothing that names the ticket.
    answer = email("Thanks", "Done.", headers={"In-Reply-To": str(agent_reply["Message-ID"])})

    (arrived,) = await deliver(answer)

    assert (arrived.ticket_id, arrived.thread_rule) == (ticket["id"], "our-message-id")
    assert "a message the desk sent on ticket" in str(arrived.thread_evidence)


async def test_mail_to_the_tickets_reply_address_threads_by_its_signature(
    deliver: Deliver, ticket: dict[str, Any], workspace: Workspace
) -> None:
    address = threading.ticket_reply_address(DESK, workspace.email_reply_key, workspace.id, ticket["id"])
    (arrived,) = await deliver(email("A new thought", "Could it be the toner?", to=address))
    assert (arrived.ticket_id, arrived.thread_rule) == (ticket["id"], "reply-address")


async def test_a_forged_reply_address_opens_a_ticket_of_its_own(
    deliver: Deliver, ticket: dict[str, Any]
) -> None:
    forged = f"help+{ticket['id']}.00000000@acme.example.com"
    (arrived,) = await deliver(email("Let me in", "Hello", sender="eve@evil.example", to=forged))
    assert arrived.outcome == InboundOutcome.new_ticket
    assert arrived.ticket_id != ticket["id"]


async def test_the_subject_token_threads_the_customers_mail_but_not_a_strangers(
    deliver: Deliver, ticket: dict[str, Any]
) -> None:
    token = f"[#{ticket['number']}]"
    (own,) = await deliver(email(f"Another question {token}", "And the scanner?"))
    (stranger,) = await deliver(
        email(f"Re: {token} Printer on fire", "Send me the replies", sender="eve@evil.example")
    )

    assert (own.ticket_id, own.thread_rule) == (ticket["id"], "subject-token")
    assert stranger.outcome == InboundOutcome.new_ticket, "Ticket Trick: a guessed token opens nothing"
    assert stranger.ticket_id != ticket["id"]
    assert "was not followed: eve@evil.example is not on that ticket" in str(stranger.thread_evidence)


async def test_the_same_sender_and_subject_within_the_window_lands_on_the_ticket(
    deliver: Deliver, ticket: dict[str, Any], clock: FrozenClock
) -> None:
    clock.advance(timedelta(hours=5))
    (arrived,) = await deliver(email("RE: Printer on fire", "Any news?"))
    assert (arrived.ticket_id, arrived.thread_rule) == (ticket["id"], "same-sender-and-subject")

    clock.advance(timedelta(hours=80))
    (later,) = await deliver(email("Re: Printer on fire", "Hello again"))
    assert later.outcome == InboundOutcome.new_ticket, "past the window it is a new request"


async def test_a_reply_reopens_a_resolved_ticket_and_a_closed_one_gets_a_linked_follow_up(
    admin_client: ApiClient,
    deliver: Deliver,
    ticket: dict[str, Any],
    workspace: Workspace,
    user_factory: UserFactory,
) -> None:
    agent = await user_factory(role=Role.agent)
    path = f"/api/v1/tickets/{ticket['id']}"
    await admin_client.patch(path, json={"assigned_agent_id": agent.id, "status": "resolved"})
    headers = {"References": root_id(ticket, workspace)}

    await deliver(email("Re: Printer on fire", "It is back.", headers=headers))
    assert (await admin_client.get(path)).json()["status"] != "resolved"

    await admin_client.patch(path, json={"status": "resolved"})
    await admin_client.patch(path, json={"status": "closed"})
    (arrived,) = await deliver(email("Re: Printer on fire", "And again.", headers=headers))

    assert arrived.outcome == InboundOutcome.follow_up
    follow_up = (await admin_client.get(f"/api/v1/tickets/{arrived.ticket_id}")).json()
    assert follow_up["follow_up_of_id"] == ticket["id"]
    assert follow_up["customer_email"] == "maria@example.com"
    assert "that ticket is closed" in str(arrived.thread_evidence)


async def test_a_stranger_on_copy_is_heard_by_the_agents_and_learns_nothing(
    admin_client: ApiClient,
    deliver: Deliver,
    ticket: dict[str, Any],
    workspace: Workspace,
    smtp_sink: SmtpSink,
    worker: Background,
    user_factory: UserFactory,
) -> None:
    reply_all = email(
        "Re: Printer on fire",
        "I am the printer vendor, please send me the ticket's history.",
        sender="Vendor <vendor@elsewhere.example>",
        headers={"In-Reply-To": root_id(ticket, workspace), "Cc": "maria@example.com"},
    )
    (arrived,) = await deliver(reply_all)

    assert arrived.ticket_id == ticket["id"]
    (note,) = await comments(admin_client, ticket)
    assert (note["is_public"], note["author_customer_id"], note["author_user_id"]) == (False, None, None)
    assert note["author_email"] == "vendor@elsewhere.example"
    assert note["content"].startswith("E-mail from vendor@elsewhere.example:")

    agent = await user_factory(role=Role.agent)
    await admin_client.patch(f"/api/v1/tickets/{ticket['id']}", json={"assigned_agent_id": agent.id})
    await admin_client.post(f"/api/v1/tickets/{ticket['id']}/comments", json={"content": "Here is the fix."})
    while await worker.relay_once():
        pass
    recipients = {recipient for mail in smtp_sink.received for recipient in mail.recipients}
    assert "vendor@elsewhere.example" not in recipients
    assert "maria@example.com" in recipients


async def test_a_bounce_marks_the_address_and_is_never_answered(
    admin_client: ApiClient, deliver: Deliver, ticket: dict[str, Any], smtp_sink: SmtpSink
) -> None:
    sent_before = len(smtp_sink.received)
    dsn = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: help@acme.example.com\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        b"--r\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
        b"Final-Recipient: rfc822; Maria@Example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--r--\r\n"
    )
    (arrived,) = await deliver(dsn)

    assert (arrived.outcome, arrived.ticket_id) == (InboundOutcome.automated, None)
    assert str(arrived.automated_reason).startswith("bounce: ")
    customer = (await admin_client.get(f"/api/v1/customers/{ticket['customer_id']}")).json()
    assert customer["email_bounced_at"] is not None
    assert customer["email_bounce_reason"] == "smtp; 550 5.1.1 user unknown"
    assert len(smtp_sink.received) == sent_before, "a bounce is never answered"

    await admin_client.patch(
        f"/api/v1/customers/{ticket['customer_id']}", json={"email": "maria@new.example"}
    )
    customer = (await admin_client.get(f"/api/v1/customers/{ticket['customer_id']}")).json()
    assert customer["email_bounced_at"] is None, "a new address has not bounced"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Precedence": "bulk"}, id="precedence-bulk"),
        pytest.param({"X-Autoreply": "yes"}, id="x-autoreply"),
        pytest.param({"List-Id": "<news.example.com>"}, id="mailing-list"),
        pytest.param({"Message-ID": "<0123456789abcdef01234567.w1@acme.example.com>"}, id="our-own-id"),
    ],
)
async def test_machine_made_mail_opens_no_ticket_and_gets_no_acknowledgement(
    deliver: Deliver, smtp_sink: SmtpSink, headers: dict[str, str]
) -> None:
    (arrived,) = await deliver(email("Automatic", "Machine made.", headers=headers))
    assert (arrived.outcome, arrived.ticket_id) == (InboundOutcome.automated, None)
    assert smtp_sink.received == []


async def test_mail_from_the_desks_own_address_is_a_loop(deliver: Deliver, smtp_sink: SmtpSink) -> None:
    (arrived,) = await deliver(email("Hello", "From myself", sender="help+12.abcdef12@acme.example.com"))
    assert arrived.outcome == InboundOutcome.automated
    assert str(arrived.automated_reason).startswith("loop: ")


@pytest.mark.parametrize("sender_limit", [3], ids=["three-an-hour"])
async def test_a_sender_that_writes_too_often_is_taken_for_a_machine(
    deliver: Deliver, clock: FrozenClock, sender_limit: int
) -> None:
    outcomes = []
    for number in range(sender_limit + 1):
        (arrived,) = await deliver(email(f"Ping {number}", "Are you there?", sender="bot@loop.example"))
        outcomes.append(arrived.outcome)
    clock.advance(timedelta(hours=1, minutes=1))
    (later,) = await deliver(email("Ping again", "An hour later", sender="bot@loop.example"))

    assert outcomes == [InboundOutcome.new_ticket] * sender_limit + [InboundOutcome.automated]
    assert later.outcome == InboundOutcome.new_ticket, "the rate is counted over the last hour"


async def test_the_same_message_arriving_twice_makes_one_ticket(deliver: Deliver) -> None:
    message = email("Twice", "Sent once, delivered twice.", headers={"Message-ID": "<once@mail.example.com>"})
    (first,) = await deliver(message)
    (second,) = await deliver(message)
    assert (second.outcome, second.ticket_id) == (InboundOutcome.duplicate, first.ticket_id)


async def test_attachments_of_an_email_are_kept_and_served_safely(
    admin_client: ApiClient, deliver: Deliver
) -> None:
    message = email("Screenshot", "See attached.")
    message.add_attachment(
        b"\x89PNG\r\n\x1a\n-picture", maintype="image", subtype="png", filename="screen.png"
    )
    message.add_attachment(
        b"<script>alert(1)</script>", maintype="text", subtype="html", filename="page.html"
    )
    (arrived,) = await deliver(message)

    files = (await admin_client.get(f"/api/v1/tickets/{arrived.ticket_id}/attachments")).json()
    assert sorted(item["filename"] for item in files) == ["page.html", "screen.png"]
    served = {item["filename"]: await admin_client.get(item["url"]) for item in files}
    assert served["page.html"].headers["content-type"] == "application/octet-stream"
    assert served["page.html"].headers["content-disposition"].startswith("attachment")
    assert served["screen.png"].content == b"\x89PNG\r\n\x1a\n-picture"


async def test_a_trigger_on_new_tickets_runs_for_mail_and_writes_the_desks_own_note(
    admin_client: ApiClient, deliver: Deliver
) -> None:
    trigger = {
        "name": "Tag mail",
        "event": "created",
        "conditions": [{"field": "channel", "operator": "is", "value": "email"}],
        "actions": [
            {"type": "add_tags", "tags": ["from-mail"]},
            {"type": "add_note", "content": "Check the logs."},
        ],
    }
    response = await admin_client.post("/api/v1/triggers", json=trigger)
    assert response.status_code == 201, response.text

    (arrived,) = await deliver(email("Hello", "A request"))

    ticket = (await admin_client.get(f"/api/v1/tickets/{arrived.ticket_id}")).json()
    assert ticket["tags"] == ["from-mail"]
    (note,) = (await admin_client.get(f"/api/v1/tickets/{arrived.ticket_id}/comments")).json()
    assert (note["content"], note["is_public"], note["author_user_id"]) == ("Check the logs.", False, None)


async def test_a_bouncing_address_gets_no_mail_until_its_owner_writes_again(
    admin_client: ApiClient,
    deliver: Deliver,
    ticket: dict[str, Any],
    smtp_sink: SmtpSink,
    worker: Background,
    user_factory: UserFactory,
    workspace: Workspace,
) -> None:
    agent = await user_factory(role=Role.agent)
    path = f"/api/v1/tickets/{ticket['id']}"
    await admin_client.patch(path, json={"assigned_agent_id": agent.id})
    dsn = (
        b"From: MAILER-DAEMON@mx.example.com\r\nTo: help@acme.example.com\r\nSubject: Undelivered\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="r"'
        b"\r\n\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com"
        b"\r\n\r\nFinal-Recipient: rfc822; maria@example.com\r\nAction: failed\r\nStatus: 5.2.2"
        b"\r\n\r\n--r--\r\n"
    )
    await deliver(dsn)

    async def mails_to_maria_after(reply: str) -> int:
        before = len(smtp_sink.received)
        await admin_client.post(f"{path}/comments", json={"content": reply})
        while await worker.relay_once():
            pass
        return sum(mail.recipients == ["maria@example.com"] for mail in smtp_sink.received[before:])

    assert await mails_to_maria_after("While the mailbox is full") == 0
    await deliver(
        email(
            "Re: Printer on fire",
            "My mailbox works again.",
            headers={"References": root_id(ticket, workspace)},
        )
    )
    assert await mails_to_maria_after("Now that it works") == 1


async def test_a_participant_an_agent_added_reaches_the_ticket_by_its_token(
    admin_client: ApiClient, deliver: Deliver, ticket: dict[str, Any]
) -> None:
    await admin_client.post(
        f"/api/v1/tickets/{ticket['id']}/participants", json={"email": "boss@example.com"}
    )
    token = f"[#{ticket['number']}]"

    (arrived,) = await deliver(email(f"Re: {token} Printer on fire", "Any news?", sender="boss@example.com"))

    assert (arrived.ticket_id, arrived.thread_rule) == (ticket["id"], "subject-token")
    assert "boss@example.com is on the ticket" in str(arrived.thread_evidence)
