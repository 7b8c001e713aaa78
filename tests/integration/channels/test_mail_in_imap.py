"""Mailboxes read over IMAP from a real dovecot, on SQLite and PostgreSQL: what is in the folder becomes
tickets, nothing is read twice or missed, a recreated folder is read again without duplicate tickets,
a failing mailbox keeps its reason while the others are read, IDLE brings new mail at once, and
``supportdesk mail poll`` does the same from a shell. The server's messages are never changed."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from email.utils import make_msgid
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from supportdesk import cli as cli_module
from supportdesk.audit.models import AuditEvent
from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.channels.email import mailboxes
from supportdesk.channels.email.imap import ImapPoller
from supportdesk.channels.email.models import ImapSecurity, InboundOutcome, InboundSource, Mailbox
from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock, SystemClock
from supportdesk.core.storage import FileStore, build_file_store
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs.background import Background
from supportdesk.workspaces import service as workspace_service
from tests.fixtures.app import ApiClient
from tests.fixtures.database import TEST_SECRET_KEY, make_settings
from tests.fixtures.imap import IMAP_PASSWORD, REFUSED_LOGIN, ImapServer
from tests.fixtures.smtp import SmtpSink, closed_port
from tests.integration.channels.conftest import DESK, email, inbound

pytestmark = pytest.mark.integration

T = TypeVar("T")
SALES = "sales@acme.example.com"


def message(subject: str, *, message_id: str | None = None) -> bytes:
    """A customer's message with a Message-ID of its own (or the one given), as a mail server keeps it."""
    headers = {"Message-ID": message_id or make_msgid(domain="example.com")}
    return email(subject, f"{subject}, as I wrote.", headers=headers).as_bytes()


async def put(server: ImapServer, user: str, *messages: bytes, folder: str = "INBOX") -> None:
    for raw in messages:
        await asyncio.to_thread(server.append, user, raw, folder)


def imap_settings(server: ImapServer, user: str, **overrides: Any) -> dict[str, Any]:
    settings = {
        "imap_host": server.host,
        "imap_port": server.port,
        "imap_security": "none",
        "imap_username": user,
        "imap_password": IMAP_PASSWORD,
    }
    return {**settings, **overrides}


async def add_mailbox(client: ApiClient, address: str, settings: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/admin/mailboxes", json={"address": address, **settings})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def shown(client: ApiClient, mailbox: dict[str, Any]) -> dict[str, Any]:
    return dict((await client.get(f"/api/v1/admin/mailboxes/{mailbox['id']}")).json())


async def process_all(worker: Background) -> None:
    while await worker.relay_once():
        pass


@pytest.fixture
def settings(engine: AsyncEngine, smtp_sink: SmtpSink) -> Settings:
    """The desk of the other mail-in tests, whose background work takes one job at a time: several
    messages arrive at once here, and the jobs of one round would share the test's one connection."""
    return make_settings(
        engine.url.render_as_string(hide_password=False),
        mail_providers=[
            {"kind": "smtp", "name": "sink", "host": "127.0.0.1", "port": smtp_sink.port, "security": "none"}
        ],
        mail_from="desk@acme.example.com",
        mail_timeout_seconds=2,
        outbox_batch=1,
    )


@pytest.fixture
def poller(database: Database, clock: FrozenClock, file_store: FileStore) -> ImapPoller:
    return ImapPoller(database, clock, file_store, poll_seconds=60, timeout=5)


async def test_the_folders_messages_become_tickets_and_each_is_read_once(
    imap_server: ImapServer,
    poller: ImapPoller,
    admin_client: ApiClient,
    worker: Background,
    database: Database,
) -> None:
    user = imap_server.account()
    await put(imap_server, user, message("Printer on fire"), message("Invoice is wrong"))
    mailbox = await add_mailbox(admin_client, DESK, imap_settings(imap_server, user))
    assert mailbox["has_imap_password"] is True
    assert "imap_password" not in mailbox

    (first,) = await poller.poll_once()
    assert (first.account.address, first.read, first.error) == (DESK, 2, None)
    arrived = await inbound(database)
    assert [(row.source, row.mailbox_id, row.recipients) for row in arrived] == [
        (InboundSource.imap, mailbox["id"], [DESK])
    ] * 2
    await process_all(worker)
    arrived = await inbound(database)
    assert [row.outcome for row in arrived] == [InboundOutcome.new_ticket] * 2
    titles = [(await admin_client.get(f"/api/v1/tickets/{row.ticket_id}")).json()["title"] for row in arrived]
    assert titles == ["Printer on fire", "Invoice is wrong"]

    (again,) = await poller.poll_once()
    assert (again.read, again.error) == (0, None)
    await put(imap_server, user, message("Printer still on fire"))
    (later,) = await poller.poll_once()
    assert (later.read, later.error) == (1, None)
    assert len(await inbound(database)) == 3

    after = await shown(admin_client, mailbox)
    assert (after["imap_last_uid"], after["imap_error"], after["version"]) == (3, None, mailbox["version"])
    assert after["imap_uidvalidity"] > 0
    assert after["imap_polled_at"] is not None
    flags = await asyncio.to_thread(imap_server.flags, user)
    assert len(flags) == 3
    assert not [item for item in flags if b"\\Seen" in item], "the server's messages are left unread"


async def test_the_imap_password_never_reaches_an_answer_or_the_audit_trail(
    admin_client: ApiClient, database: Database
) -> None:
    secret = "a-rather-secret-password"
    settings = {"imap_host": "imap.example.com", "imap_username": "desk", "imap_password": secret}
    mailbox = await add_mailbox(admin_client, DESK, settings)
    changed = await admin_client.patch(
        f"/api/v1/admin/mailboxes/{mailbox['id']}", json={"imap_password": f"{secret}-2", "imap_port": None}
    )
    assert changed.status_code == 200, changed.text
    listed = await admin_client.get("/api/v1/admin/mailboxes")
    assert secret not in changed.text + listed.text + str(mailbox)
    assert (changed.json()["imap_port"], changed.json()["has_imap_password"]) == (None, True)

    async with database.unit_of_work(readonly=True) as session:
        events = (
            await session.execute(select(AuditEvent).where(AuditEvent.object_type == "mailbox"))
        ).scalars()
        trail = [event.changes for event in events]
    assert trail, "the mailbox's changes are on record"
    assert secret not in str(trail)
    assert ["imap_password" in changes for changes in trail] == [False] * len(trail)


async def test_a_mailbox_without_its_login_is_kept_and_says_why_it_is_not_read(
    poller: ImapPoller, admin_client: ApiClient
) -> None:
    mailbox = await add_mailbox(admin_client, DESK, {"imap_host": "imap.example.com"})
    assert (mailbox["imap_username"], mailbox["has_imap_password"]) == (None, False)
    (result,) = await poller.poll_once()
    assert result.error == "the mailbox has no IMAP username or password; set both"
    line_break = await admin_client.patch(
        f"/api/v1/admin/mailboxes/{mailbox['id']}", json={"imap_username": "desk\r\nA1 DELETE INBOX"}
    )
    assert line_break.status_code == 422, "a line break would end the IMAP command and start another"


async def test_a_recreated_folder_is_read_again_and_what_was_known_is_recorded_as_duplicate(
    imap_server: ImapServer,
    poller: ImapPoller,
    admin_client: ApiClient,
    worker: Background,
    database: Database,
) -> None:
    user = imap_server.account()
    await asyncio.to_thread(imap_server.create_folder, user, "Support")
    known = [message("One", message_id="<one@example.com>"), message("Two", message_id="<two@example.com>")]
    await put(imap_server, user, *known, folder="Support")
    mailbox = await add_mailbox(admin_client, DESK, imap_settings(imap_server, user, imap_folder="Support"))
    (first,) = await poller.poll_once()
    assert first.read == 2
    await process_all(worker)
    before = await shown(admin_client, mailbox)

    # The folder is made anew (as when a mailbox moves to another server): same messages, new UIDs.
    await asyncio.to_thread(imap_server.delete_folder, user, "Support")
    await asyncio.to_thread(imap_server.create_folder, user, "Support")
    await put(imap_server, user, *known, message("Three"), folder="Support")
    (again,) = await poller.poll_once()
    assert (again.read, again.error) == (3, None)
    await process_all(worker)

    after = await shown(admin_client, mailbox)
    assert after["imap_uidvalidity"] != before["imap_uidvalidity"]
    assert after["imap_last_uid"] == 3
    arrived = await inbound(database)
    assert [row.outcome for row in arrived] == [
        InboundOutcome.new_ticket,
        InboundOutcome.new_ticket,
        InboundOutcome.duplicate,
        InboundOutcome.duplicate,
        InboundOutcome.new_ticket,
    ]
    assert [row.ticket_id for row in arrived[2:4]] == [row.ticket_id for row in arrived[:2]]


async def test_a_refused_login_is_kept_for_admins_and_the_other_mailboxes_are_read(
    imap_server: ImapServer, poller: ImapPoller, admin_client: ApiClient, database: Database
) -> None:
    refused_user, wrong_password = REFUSED_LOGIN
    broken = await add_mailbox(
        admin_client, SALES, imap_settings(imap_server, refused_user, imap_password=wrong_password)
    )
    user = imap_server.account()
    await put(imap_server, user, message("Hello"))
    await add_mailbox(admin_client, DESK, imap_settings(imap_server, user))

    failed, read = await poller.poll_once()
    assert (failed.account.address, failed.read, read.account.address, read.read) == (SALES, 0, DESK, 1)
    assert failed.error is not None
    assert failed.error.startswith("the server refused the login of refused-user: ")
    assert read.error is None
    kept = await shown(admin_client, broken)
    assert (kept["imap_error"], kept["imap_polled_at"]) == (failed.error, None)
    assert kept["imap_error_at"] is not None

    # The admin fixes the password; the next pass reads the mailbox and forgets the error.
    fixed = await admin_client.patch(
        f"/api/v1/admin/mailboxes/{broken['id']}", json={"imap_password": IMAP_PASSWORD}
    )
    assert fixed.status_code == 200, fixed.text
    results = await poller.poll_once()
    assert [result.error for result in results] == [None, None]
    kept = await shown(admin_client, broken)
    assert (kept["imap_error"], kept["imap_error_at"]) == (None, None)
    assert kept["imap_polled_at"] is not None


async def test_an_unreachable_server_or_a_missing_folder_is_named_in_the_error(
    imap_server: ImapServer, poller: ImapPoller, admin_client: ApiClient
) -> None:
    port = closed_port()
    await add_mailbox(admin_client, SALES, imap_settings(imap_server, imap_server.account(), imap_port=port))
    await add_mailbox(
        admin_client, DESK, imap_settings(imap_server, imap_server.account(), imap_folder="Nowhere")
    )
    unreachable, missing = await poller.poll_once()
    assert unreachable.error is not None
    assert unreachable.error.startswith(f"cannot connect to 127.0.0.1:{port}: ")
    assert missing.error is not None
    assert missing.error.startswith("the server cannot open the folder Nowhere: ")


async def test_a_changed_folder_is_read_from_its_first_message(
    imap_server: ImapServer, poller: ImapPoller, admin_client: ApiClient
) -> None:
    user = imap_server.account()
    await put(imap_server, user, message("In the inbox"))
    # The folder's name as IMAP writes it (modified UTF-7), spelt out here so the desk's encoding is
    # checked against it rather than against itself.
    await asyncio.to_thread(imap_server.create_folder, user, '"D&AOk-sk &- co"')
    await put(imap_server, user, message("Filed"), message("Filed too"), folder='"D&AOk-sk &- co"')
    mailbox = await add_mailbox(admin_client, DESK, imap_settings(imap_server, user))
    (first,) = await poller.poll_once()
    assert first.read == 1

    changed = await admin_client.patch(
        f"/api/v1/admin/mailboxes/{mailbox['id']}", json={"imap_folder": "Désk & co"}
    )
    assert (changed.json()["imap_last_uid"], changed.json()["imap_uidvalidity"]) == (None, None)
    (second,) = await poller.poll_once()
    assert (second.read, second.error) == (2, None), "a folder name outside ASCII is sent as IMAP writes it"


@pytest.mark.parametrize("security", [ImapSecurity.tls, ImapSecurity.starttls])
async def test_the_connection_is_protected_with_tls(
    security: ImapSecurity,
    imap_server: ImapServer,
    poller: ImapPoller,
    admin_client: ApiClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = imap_server.account()
    await put(imap_server, user, message("Over TLS"))
    port = imap_server.tls_port if security == ImapSecurity.tls else imap_server.port
    await add_mailbox(
        admin_client, DESK, imap_settings(imap_server, user, imap_security=security, imap_port=port)
    )

    (untrusted,) = await poller.poll_once()
    assert untrusted.error is not None
    assert untrusted.error.startswith("the certificate of 127.0.0.1:"), untrusted.error
    # The server's certificate becomes one the desk trusts (as a company's own CA would be installed).
    monkeypatch.setenv("SSL_CERT_FILE", str(imap_server.certificate))
    (trusted,) = await poller.poll_once()
    assert (trusted.read, trusted.error) == (1, None)


# --- the long-running poller, on databases that commit -------------------------------------------


async def add_imap_mailbox(database: Database, address: str, settings: dict[str, Any]) -> int:
    """A workspace with one mailbox read over IMAP, added the way a command would add it."""
    clock = SystemClock()
    async with database.unit_of_work() as session:
        workspace = await workspace_service.get_workspace_by_slug(session, "acme")
        if workspace is None:
            workspace = await workspace_service.create_workspace(session, clock, slug="acme", name="Acme")
        scope_to_workspace(session.sync_session, workspace.id)
        act_as(session.sync_session, SYSTEM, clock)
        mailbox = await mailboxes.create_mailbox(
            session,
            clock,
            workspace_id=workspace.id,
            address=address,
            **{**settings, "imap_security": ImapSecurity(settings["imap_security"])},
        )
        return mailbox.id


async def eventually(check: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float) -> T:
    """``check()`` once ``done`` says its answer is the one awaited, failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


async def kept_count(database: Database) -> int:
    return len(await inbound(database))


async def test_idle_reads_a_message_as_soon_as_the_server_announces_it(
    imap_server: ImapServer, real_database: Database
) -> None:
    user = imap_server.account()
    await put(imap_server, user, message("Already there"))
    await add_imap_mailbox(real_database, DESK, imap_settings(imap_server, user))
    store = build_file_store(make_settings())
    # Polling alone would not look again for five minutes: only IDLE can bring the next message in time.
    poller = ImapPoller(real_database, SystemClock(), store, poll_seconds=300, timeout=5)
    running = asyncio.create_task(poller.run())
    try:
        assert await eventually(lambda: kept_count(real_database), lambda count: count == 1, 10) == 1
        await put(imap_server, user, message("Sent while the desk waits"))
        # Timed from the moment the server has it: putting it in takes a login of its own, which is not
        # the poller's to answer for.
        started = time.monotonic()
        assert await eventually(lambda: kept_count(real_database), lambda count: count == 2, 10) == 2
        assert time.monotonic() - started < 5
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_the_running_poller_retries_a_failing_mailbox_and_follows_an_admins_change(
    imap_server: ImapServer, real_database: Database
) -> None:
    user = imap_server.account()
    await put(imap_server, user, message("Waiting in the inbox"))
    mailbox_id = await add_imap_mailbox(
        real_database, DESK, imap_settings(imap_server, user, imap_folder="Nowhere")
    )
    store = build_file_store(make_settings())
    poller = ImapPoller(
        real_database, SystemClock(), store, poll_seconds=0.2, timeout=5, max_backoff_seconds=0.4
    )

    async def error_times() -> list[Any]:
        async with real_database.unit_of_work(readonly=True) as session:
            mailbox = await session.get_one(Mailbox, mailbox_id)
            return [mailbox.imap_error, mailbox.imap_error_at]

    running = asyncio.create_task(poller.run())
    try:
        error, first_at = await eventually(error_times, lambda found: found[1] is not None, 10)
        assert str(error).startswith("the server cannot open the folder Nowhere")
        _error, later_at = await eventually(error_times, lambda found: found[1] != first_at, 10)
        assert later_at != first_at, "tried again"

        # The admin names the right folder: the mailbox gets a new version, and the poller starts again.
        async with real_database.unit_of_work() as session:
            mailbox = await session.get_one(Mailbox, mailbox_id)
            scope_to_workspace(session.sync_session, mailbox.workspace_id)
            act_as(session.sync_session, SYSTEM, SystemClock())
            await mailboxes.update_mailbox(session, SystemClock(), mailbox, {"imap_folder": "INBOX"})
        assert await eventually(lambda: kept_count(real_database), lambda count: count == 1, 10) == 1
        assert (await eventually(error_times, lambda found: found[0] is None, 10))[0] is None
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


@pytest.fixture
def command_environment(
    real_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment ``supportdesk`` runs in: this test's database, files in ``tmp_path``."""
    for name in list(os.environ):
        if name.startswith("SUPPORTDESK_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    settings = {
        "SUPPORTDESK_ENV": "development",
        "SUPPORTDESK_DATABASE_URL": real_database.engine.url.render_as_string(hide_password=False),
        "SUPPORTDESK_SECRET_KEY": TEST_SECRET_KEY,
        "SUPPORTDESK_AUTO_MIGRATE": "false",
        "SUPPORTDESK_ATTACHMENT_DIR": str(tmp_path / "attachments"),
        "SUPPORTDESK_MAIL_TIMEOUT_SECONDS": "5",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return dict(os.environ)


async def test_mail_poll_once_reads_every_mailbox_and_says_which_failed(
    imap_server: ImapServer, real_database: Database, command_environment: dict[str, str]
) -> None:
    user = imap_server.account()
    await put(imap_server, user, message("Hello"))
    await add_imap_mailbox(real_database, DESK, imap_settings(imap_server, user))
    refused_user, wrong_password = REFUSED_LOGIN
    await add_imap_mailbox(
        real_database, SALES, imap_settings(imap_server, refused_user, imap_password=wrong_password)
    )

    result = await asyncio.to_thread(CliRunner().invoke, cli_module.app, ["mail", "poll", "--once"])

    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        f"{DESK} ok read=1",
        f"{SALES} failed read=0 the server refused the login of refused-user: "
        "[AUTHENTICATIONFAILED] Authentication failed.",
    ]
    assert await kept_count(real_database) == 1


# A process of its own costs seconds of start-up; what it does with each database the tests above check.
@pytest.mark.parametrize("db_backend", [pytest.param("sqlite", id="sqlite")])
async def test_mail_poll_reads_until_it_is_told_to_stop(
    imap_server: ImapServer, real_database: Database, command_environment: dict[str, str]
) -> None:
    user = imap_server.account()
    await add_imap_mailbox(real_database, DESK, imap_settings(imap_server, user))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "supportdesk.cli",
        "mail",
        "poll",
        env=command_environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await put(imap_server, user, message("Read by the command"))
        assert await eventually(lambda: kept_count(real_database), lambda count: count == 1, 20) == 1
        process.send_signal(signal.SIGTERM)
        _stdout, stderr = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
