"""``supportdesk mail``: the desk's inbound mail server, and the poller that reads mailboxes over IMAP."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from supportdesk.cli.common import out, require_current_schema, settings
from supportdesk.cli.server import wait_for_signal
from supportdesk.core.clock import SystemClock
from supportdesk.core.storage import build_file_store
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database

mail_app = typer.Typer(help="Inbound mail: the SMTP/LMTP listener and the IMAP poller.", no_args_is_help=True)


@mail_app.command("serve")
def serve_mail(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: SUPPORTDESK_MAIL_LISTEN_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: SUPPORTDESK_MAIL_LISTEN_PORT).")] = None,
    lmtp: Annotated[
        bool | None,
        typer.Option("--lmtp/--smtp", help="Speak LMTP, for a mail server that delivers to the desk."),
    ] = None,
) -> None:
    """Take mail for the desk's mailboxes until stopped (Ctrl+C or SIGTERM).

    Each message is kept and queued before it is accepted; the server's or a worker's background work
    turns it into a ticket or a reply. Put it behind the domain's mail server (or point an MX at it).
    """
    from supportdesk.channels.email.listener import serve

    loaded = settings()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("supportdesk").setLevel(loaded.log_level.upper())
    bind_host = host or loaded.mail_listen_host
    bind_port = loaded.mail_listen_port if port is None else port
    speak_lmtp = loaded.mail_listen_lmtp if lmtp is None else lmtp

    async def listen() -> None:
        database = Database(create_engine(loaded))
        try:
            await require_current_schema(database.engine)
            server = await serve(
                database,
                SystemClock(),
                build_file_store(loaded),
                host=bind_host,
                port=bind_port,
                lmtp=speak_lmtp,
                max_message_bytes=loaded.mail_max_message_bytes,
            )
            address = server.sockets[0].getsockname()
            protocol = "LMTP" if speak_lmtp else "SMTP"
            out.print(f"{protocol} on {address[0]}:{address[1]}", markup=False, highlight=False)
            try:
                await wait_for_signal()
            finally:
                server.close()
                await server.wait_closed()
        finally:
            await database.dispose()

    asyncio.run(listen())


@mail_app.command("poll")
def poll_mail(
    once: Annotated[
        bool, typer.Option("--once", help="Read every mailbox once, print one line for each and exit.")
    ] = False,
) -> None:
    """Read the mailboxes that have an IMAP server until stopped (Ctrl+C or SIGTERM).

    Each new message is kept and queued like mail the listener takes; the server's or a worker's
    background work turns it into a ticket or a reply. Messages on the server are left as they are.
    With --once the exit status is 1 if any mailbox could not be read.
    """
    from supportdesk.channels.email.imap import ImapPoller, PassResult

    loaded = settings()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("supportdesk").setLevel(loaded.log_level.upper())

    def line(result: PassResult) -> str:
        outcome = "ok" if result.error is None else "failed"
        words = [result.account.address, outcome, f"read={result.read}"]
        if result.error is not None:
            words.append(" ".join(result.error.split()))
        return " ".join(words)

    async def poll() -> bool:
        database = Database(create_engine(loaded))
        try:
            await require_current_schema(database.engine)
            poller = ImapPoller(
                database,
                SystemClock(),
                build_file_store(loaded),
                poll_seconds=loaded.mail_poll_seconds,
                timeout=loaded.mail_timeout_seconds,
            )
            if once:
                results = await poller.poll_once()
                if not results:
                    out.print("no mailbox has an IMAP server", markup=False, highlight=False)
                for result in results:
                    out.print(line(result), markup=False, highlight=False)
                return all(result.error is None for result in results)
            reading = asyncio.create_task(poller.run())
            try:
                await wait_for_signal()
            finally:
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)
            return True
        finally:
            await database.dispose()

    if not asyncio.run(poll()):
        raise typer.Exit(1)
