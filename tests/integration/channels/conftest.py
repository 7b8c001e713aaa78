"""Mail in, for real: the desk's SMTP listener on this test's loop, its mailboxes, the worker that
processes what arrives and sends what the desk answers to a local SMTP sink."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from taskiq import InMemoryBroker

from supportdesk.channels.email import listener
from supportdesk.channels.email.models import InboundMessage
from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.core.storage import FileStore, build_file_store
from supportdesk.db.session import Database
from supportdesk.jobs.background import Background
from supportdesk.runtime import build_background
from supportdesk.workspaces.models import Workspace
from tests.fixtures.app import ApiClient
from tests.fixtures.database import make_settings
from tests.fixtures.imap import imap_server  # noqa: F401  (the IMAP server the poller's tests read)
from tests.fixtures.smtp import SmtpSink

DESK = "help@acme.example.com"


@pytest.fixture
def sender_limit() -> int:
    """How many messages one sender may send in an hour (the setting's default; a test may lower it)."""
    return 20


@pytest.fixture
def settings(engine: AsyncEngine, smtp_sink: SmtpSink, sender_limit: int) -> Settings:
    """A desk that sends from acme.example.com through the local sink."""
    return make_settings(
        engine.url.render_as_string(hide_password=False),
        mail_providers=[
            {"kind": "smtp", "name": "sink", "host": "127.0.0.1", "port": smtp_sink.port, "security": "none"}
        ],
        mail_from="desk@acme.example.com",
        mail_timeout_seconds=2,
        mail_sender_hourly_limit=sender_limit,
    )


@pytest.fixture
def file_store(settings: Settings) -> FileStore:
    return build_file_store(settings)


@pytest.fixture
async def worker(
    database: Database, clock: FrozenClock, settings: Settings, file_store: FileStore
) -> AsyncIterator[Background]:
    """The background work of the desk, running each job in place when the relay hands it over."""
    background = build_background(
        database, clock, settings, broker=InMemoryBroker(await_inplace=True), file_store=file_store
    )
    await background.broker.startup()
    try:
        yield background
    finally:
        await background.stop()


@pytest.fixture
async def mailbox(admin_client: ApiClient, workspace: Workspace) -> dict[str, Any]:
    """The workspace's mailbox, whose address is also where customers' replies go."""
    await admin_client.patch("/api/v1/workspace", json={"email_reply_address": DESK})
    response = await admin_client.post("/api/v1/admin/mailboxes", json={"address": DESK, "name": "Help"})
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture
async def mail_server(database: Database, clock: FrozenClock, file_store: FileStore) -> AsyncIterator[int]:
    """The desk's SMTP listener on a free port of this machine; yields the port."""
    server = await listener.serve(database, clock, file_store, host="127.0.0.1", port=0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


Send = Callable[..., Awaitable[None]]


@pytest.fixture
def send(mail_server: int) -> Send:
    """Send a message to the desk with smtplib, as any mail server would (in a thread: smtplib blocks)."""

    async def send_message(message: EmailMessage, recipients: Sequence[str] | None = None) -> None:
        def deliver() -> None:
            with smtplib.SMTP("127.0.0.1", mail_server, timeout=10) as client:
                client.send_message(message, to_addrs=list(recipients) if recipients else None)

        await asyncio.to_thread(deliver)

    return send_message


def email(
    subject: str,
    body: str,
    *,
    sender: str = "Maria Lopez <maria@example.com>",
    to: str = DESK,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message


async def inbound(database: Database) -> list[InboundMessage]:
    """Every arrived message, oldest first."""
    async with database.unit_of_work(readonly=True) as session:
        rows = list((await session.execute(select(InboundMessage).order_by(InboundMessage.id))).scalars())
        session.expunge_all()
        return rows


Deliver = Callable[..., Awaitable[list[InboundMessage]]]


@pytest.fixture
def deliver(
    admin_client: ApiClient, mailbox: dict[str, Any], worker: Background, database: Database
) -> Deliver:
    """Hand a message to the desk through its mailbox's hook, as a provider would, and process it;
    returns the messages that arrived since."""

    async def post(message: EmailMessage | bytes) -> list[InboundMessage]:
        before = {row.id for row in await inbound(database)}
        raw = message if isinstance(message, bytes) else message.as_bytes()
        response = await admin_client.post(
            mailbox["hook_path"], content=raw, headers={"Content-Type": "message/rfc822"}
        )
        assert response.status_code == 202, response.text
        while await worker.relay_once():
            pass
        return [row for row in await inbound(database) if row.id not in before]

    return post


def root_id(ticket: dict[str, Any], workspace: Workspace) -> str:
    """The Message-ID of a ticket's acknowledgement, which every later message of the desk refers to."""
    return f"<ticket-{ticket['id']}.w{workspace.id}@acme.example.com>"


SendRaw = Callable[[bytes], Awaitable[None]]


@pytest.fixture
def send_raw(admin_client: ApiClient, mailbox: dict[str, Any]) -> SendRaw:
    """Hand any bytes to the desk through its mailbox's hook, as a provider would."""

    async def post(raw: bytes) -> None:
        response = await admin_client.post(
            mailbox["hook_path"], content=raw, headers={"Content-Type": "message/rfc822"}
        )
        assert response.status_code == 202, response.text

    return post
