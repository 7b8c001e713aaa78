"""Admins' side of mail in, on SQLite and PostgreSQL: mailboxes and their hooks, signed provider calls,
and messages that cannot be processed, which are set aside with their reason and processed again on
request. Nothing accepted is ever lost."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

import pytest

from supportdesk.channels.email.models import InboundOutcome, InboundState
from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.core.storage import FileStore, LocalFileStore
from supportdesk.db.session import Database
from supportdesk.jobs.background import Background
from supportdesk.jobs.rules import INBOUND_BACKOFF
from tests.fixtures.app import ApiClient
from tests.fixtures.database import make_settings
from tests.integration.channels.conftest import email, inbound

pytestmark = pytest.mark.integration


async def test_mailboxes_are_managed_by_admins_and_unique_across_workspaces(
    admin_client: ApiClient, other_admin_client: ApiClient, agent_client: ApiClient
) -> None:
    created = await admin_client.post(
        "/api/v1/admin/mailboxes",
        json={"address": "Help@Acme.Example.com", "name": "Help", "default_priority": "high"},
    )
    assert created.status_code == 201, created.text
    mailbox = created.json()
    assert (mailbox["address"], mailbox["default_priority"]) == ("help@acme.example.com", "high")
    assert mailbox["hook_path"].startswith("/api/v1/mail/inbound/")

    taken = await other_admin_client.post(
        "/api/v1/admin/mailboxes", json={"address": "help@acme.example.com"}
    )
    assert (taken.status_code, taken.json()["code"]) == (409, "mailbox-exists")
    refused = await agent_client.post("/api/v1/admin/mailboxes", json={"address": "x@acme.example.com"})
    assert refused.status_code == 403
    unknown = await admin_client.post(
        "/api/v1/admin/mailboxes", json={"address": "x@acme.example.com", "default_category": "nope"}
    )
    assert unknown.status_code == 422
    assert (await other_admin_client.get("/api/v1/admin/mailboxes")).json() == []

    changed = await admin_client.patch(
        f"/api/v1/admin/mailboxes/{mailbox['id']}", json={"default_category": "billing"}
    )
    assert changed.json()["default_category"] == "billing"
    rotated = (await admin_client.post(f"/api/v1/admin/mailboxes/{mailbox['id']}/rotate-hook-token")).json()
    assert rotated["hook_path"] != mailbox["hook_path"]
    old = await admin_client.post(mailbox["hook_path"], content=b"Subject: x\r\n\r\nx")
    assert old.status_code == 404, "the old hook URL stops working"


async def test_a_new_ticket_takes_the_mailboxs_defaults(
    admin_client: ApiClient, mailbox: dict[str, Any], worker: Background, database: Database
) -> None:
    await admin_client.patch(
        f"/api/v1/admin/mailboxes/{mailbox['id']}",
        json={"default_category": "billing", "default_priority": "high"},
    )
    await admin_client.post(mailbox["hook_path"], content=email("Invoice", "Wrong amount").as_bytes())
    await worker.relay_once()

    (arrived,) = await inbound(database)
    ticket = (await admin_client.get(f"/api/v1/tickets/{arrived.ticket_id}")).json()
    assert (ticket["category"], ticket["priority"]) == ("billing", "high")


def mailgun_form(key: str, timestamp: int, raw: bytes, *, signature: str | None = None) -> dict[str, Any]:
    token = "f" * 50
    signed = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {
        "data": {
            "timestamp": str(timestamp),
            "token": token,
            "signature": signature or signed,
            "recipient": "help@acme.example.com",
            "sender": "maria@example.com",
        },
        "files": {"body-mime": ("message.mime", raw, "message/rfc822")},
    }


async def test_a_signed_provider_call_is_taken_and_a_forged_or_stale_one_refused(
    admin_client: ApiClient,
    anonymous_client: ApiClient,
    mailbox: dict[str, Any],
    clock: FrozenClock,
    database: Database,
) -> None:
    key = "key-0123456789abcdef"
    await admin_client.patch(f"/api/v1/admin/mailboxes/{mailbox['id']}", json={"hook_signing_key": key})
    raw = email("Signed", "Through Mailgun").as_bytes()
    now = int(clock.now().timestamp())
    hook = mailbox["hook_path"]

    good = await anonymous_client.post(hook, **mailgun_form(key, now, raw))
    forged = await anonymous_client.post(hook, **mailgun_form(key, now, raw, signature="0" * 64))
    stale = await anonymous_client.post(hook, **mailgun_form(key, now - 3600, raw))
    bare = await anonymous_client.post(hook, content=raw, headers={"Content-Type": "message/rfc822"})

    assert good.status_code == 202, good.text
    assert [response.status_code for response in (forged, stale, bare)] == [401, 401, 401]
    (arrived,) = await inbound(database)
    assert (arrived.source, arrived.recipients, arrived.envelope_sender) == (
        "http",
        ["help@acme.example.com"],
        "maria@example.com",
    )


async def test_sendgrids_raw_form_is_taken_with_its_envelope(
    anonymous_client: ApiClient, mailbox: dict[str, Any], database: Database
) -> None:
    envelope = json.dumps({"to": ["help@acme.example.com"], "from": "bounce@example.com"})
    response = await anonymous_client.post(
        mailbox["hook_path"], data={"email": email("Via SendGrid", "Hello").as_string(), "envelope": envelope}
    )
    assert response.status_code == 202, response.text
    (arrived,) = await inbound(database)
    assert (arrived.envelope_sender, arrived.recipients) == ("bounce@example.com", ["help@acme.example.com"])


async def test_an_unknown_hook_or_an_empty_message_is_refused(
    anonymous_client: ApiClient, mailbox: dict[str, Any], database: Database
) -> None:
    unknown = await anonymous_client.post("/api/v1/mail/inbound/not-a-token", content=b"Subject: x\r\n\r\nx")
    empty = await anonymous_client.post(mailbox["hook_path"], content=b"  ")
    assert (unknown.status_code, empty.status_code) == (404, 422)
    assert await inbound(database) == []


@pytest.fixture
def settings(engine: Any, smtp_sink: Any) -> Settings:
    """A desk whose virus scanner cannot check anything (it ends with status 2)."""
    return make_settings(
        engine.url.render_as_string(hide_password=False),
        mail_from="desk@acme.example.com",
        attachment_scan_command="sh -c 'exit 2'",
    )


async def test_a_message_that_keeps_failing_is_quarantined_and_processed_again_on_request(
    admin_client: ApiClient,
    mailbox: dict[str, Any],
    worker: Background,
    database: Database,
    clock: FrozenClock,
    file_store: FileStore,
) -> None:
    message = email("Scan me", "With a file")
    message.add_attachment(b"data", maintype="application", subtype="pdf", filename="a.pdf")
    await admin_client.post(mailbox["hook_path"], content=message.as_bytes())

    for _ in range(INBOUND_BACKOFF.max_attempts):
        assert await worker.relay_once() == 1
        clock.advance(INBOUND_BACKOFF.cap * 2)
    assert await worker.relay_once() == 0, "given up"

    (arrived,) = await inbound(database)
    assert (arrived.state, arrived.attempts, arrived.ticket_id) == (
        InboundState.quarantined,
        INBOUND_BACKOFF.max_attempts,
        None,
    )
    assert arrived.last_error == "ScannerFailed: The scanner ended with status 2"
    listed = (
        await admin_client.get("/api/v1/admin/inbound-messages", params={"state": "quarantined"})
    ).json()
    assert [item["id"] for item in listed] == [arrived.id]
    raw = await admin_client.get(f"/api/v1/admin/inbound-messages/{arrived.id}/raw")
    assert raw.content == message.as_bytes(), "kept exactly as it arrived"
    assert raw.headers["content-disposition"].startswith("attachment")

    again = await admin_client.post(f"/api/v1/admin/inbound-messages/{arrived.id}/reprocess")
    assert again.status_code == 200
    assert again.json()["state"] == "received"
    twice = await admin_client.post(f"/api/v1/admin/inbound-messages/{arrived.id}/reprocess")
    assert (twice.status_code, twice.json()["code"]) == (409, "conflict")

    assert await worker.relay_once() == 1, "a new round of attempts"
    (arrived,) = await inbound(database)
    assert (arrived.state, arrived.attempts) == (InboundState.received, INBOUND_BACKOFF.max_attempts + 1)


async def test_a_message_whose_bytes_are_gone_is_quarantined_at_once(
    admin_client: ApiClient,
    mailbox: dict[str, Any],
    worker: Background,
    database: Database,
    file_store: FileStore,
) -> None:
    await admin_client.post(mailbox["hook_path"], content=email("Lost", "Bytes").as_bytes())
    (arrived,) = await inbound(database)
    assert isinstance(file_store, LocalFileStore)
    os.remove(file_store.path_of(arrived.raw_sha256))

    await worker.relay_once()

    (arrived,) = await inbound(database)
    assert arrived.state == InboundState.quarantined
    assert arrived.last_error == "the message's bytes are missing from the file store"


async def test_the_detail_shows_the_reply_and_the_quoted_history_it_split_off(
    admin_client: ApiClient, mailbox: dict[str, Any], worker: Background, database: Database
) -> None:
    body = "Thanks, that worked.\n\nOn Mon, 1 Dec 2026, Help wrote:\n> Try turning it off and on."
    await admin_client.post(mailbox["hook_path"], content=email("Re: Help", body).as_bytes())
    await worker.relay_once()
    (arrived,) = await inbound(database)

    detail = (await admin_client.get(f"/api/v1/admin/inbound-messages/{arrived.id}")).json()
    assert detail["reply"] == "Thanks, that worked."
    assert "Try turning it off and on." in detail["quoted"]
    assert detail["outcome"] == InboundOutcome.new_ticket
