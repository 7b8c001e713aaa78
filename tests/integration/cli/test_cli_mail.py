"""``supportdesk mail serve``: the desk's SMTP listener as an operator runs it, until SIGTERM."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

from sqlalchemy import select

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.channels.email import mailboxes
from supportdesk.channels.email.models import InboundMessage
from supportdesk.core.clock import SystemClock
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.workspaces import service as workspace_service
from tests.fixtures.database import make_settings

from .conftest import Cli, single_error_line, start_command

PROCESS_TIMEOUT = 30.0


async def add_mailbox(cli: Cli, address: str) -> None:
    database = Database(create_engine(make_settings(cli.database_url)))
    try:
        async with database.unit_of_work() as session:
            workspace = await workspace_service.create_workspace(
                session, SystemClock(), slug="acme", name="Acme"
            )
            scope_to_workspace(session.sync_session, workspace.id)
            act_as(session.sync_session, SYSTEM, SystemClock())
            await mailboxes.create_mailbox(session, SystemClock(), workspace_id=workspace.id, address=address)
    finally:
        await database.dispose()


async def arrived(cli: Cli) -> list[tuple[str | None, list[str]]]:
    database = Database(create_engine(make_settings(cli.database_url)))
    try:
        async with database.unit_of_work(readonly=True) as session:
            rows = await session.execute(select(InboundMessage.envelope_sender, InboundMessage.recipients))
            return [(sender, list(recipients)) for sender, recipients in rows]
    finally:
        await database.dispose()


async def test_the_listener_keeps_mail_for_its_mailboxes_until_signalled(cli: Cli) -> None:
    await cli.run("db", "upgrade")
    await add_mailbox(cli, "help@acme.example.com")
    listener = await start_command("mail", "serve", "--port", "0")
    assert listener.stdout is not None
    try:
        started = await asyncio.wait_for(listener.stdout.readline(), PROCESS_TIMEOUT)
        assert started.startswith(b"SMTP on 127.0.0.1:"), started
        port = int(started.rsplit(b":", 1)[1])
        message = EmailMessage()
        message["From"] = "maria@example.com"
        message["To"] = "help@acme.example.com"
        message["Subject"] = "Printer on fire"
        message.set_content("Room 4.")

        def send() -> dict[str, tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                return client.send_message(
                    message, to_addrs=["help@acme.example.com", "nobody@acme.example.com"]
                )

        refused = await asyncio.to_thread(send)
        listener.terminate()
        _stdout, rest = await asyncio.wait_for(listener.communicate(), PROCESS_TIMEOUT)
    finally:
        if listener.returncode is None:
            listener.kill()
            await listener.wait()

    assert refused == {"nobody@acme.example.com": (550, b"5.1.1 No such mailbox here")}
    assert listener.returncode == 0, rest.decode()
    assert await arrived(cli) == [("maria@example.com", ["help@acme.example.com"])]


async def test_the_listener_refuses_a_database_that_is_not_migrated(cli: Cli) -> None:
    result = await cli.run("mail", "serve", "--port", "0")
    assert result.exit_code == 1
    assert "not migrated" in single_error_line(result)
