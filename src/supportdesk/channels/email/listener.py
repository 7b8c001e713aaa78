"""The SMTP (or LMTP) listener of ``supportdesk mail serve``: the desk's mail server takes messages for
its mailboxes and hands them in here.

A recipient that is no mailbox of the desk is refused at ``RCPT TO`` (550), so the sending server
bounces it to its author at once instead of the desk accepting mail it would drop. ``DATA`` is
answered 250 only after the message is kept (:func:`intake.accept`); when it cannot be kept (the
database is away) the answer is 451 and the sending server tries again later, as SMTP servers do for
days. Nothing is parsed while the sender waits: a message the desk cannot read is still kept, and its
processing says why.

It runs on the caller's event loop through aiosmtpd's protocol classes (``loop.create_server``), not
aiosmtpd's controller thread, so the database and the file store are used from one loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from supportdesk.channels.email import intake
from supportdesk.channels.email.models import InboundSource
from supportdesk.core.clock import Clock
from supportdesk.core.storage import FileStore
from supportdesk.db.session import Database

_log = logging.getLogger(__name__)
_MAILBOXES_KEY = "supportdesk_mailboxes"


class MailHandler:
    """aiosmtpd's handler: checks recipients, keeps messages."""

    def __init__(self, database: Database, clock: Clock, store: FileStore, *, lmtp: bool = False) -> None:
        self._database = database
        self._clock = clock
        self._store = store
        self._lmtp = lmtp

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        try:
            mailbox = await intake.mailbox_for(self._database, address)
        except Exception:  # noqa: BLE001  (the database is away: the sender tries again later)
            _log.exception("could not look up the mailbox of %s", address)
            return "451 4.3.0 Mailbox lookup failed, try again later"
        if mailbox is None:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        mailboxes: list[intake.MailboxRef] = getattr(envelope, _MAILBOXES_KEY, [])
        mailboxes.append(mailbox)
        setattr(envelope, _MAILBOXES_KEY, mailboxes)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        mailboxes: list[intake.MailboxRef] = getattr(envelope, _MAILBOXES_KEY, [])
        try:
            kept = await intake.accept(
                self._database,
                self._clock,
                self._store,
                raw,
                source=InboundSource.lmtp if self._lmtp else InboundSource.smtp,
                mailboxes=mailboxes,
                recipients=list(envelope.rcpt_tos),
                envelope_sender=envelope.mail_from,
            )
        except Exception:  # noqa: BLE001  (whatever failed, the sender must try again)
            _log.exception("could not keep a message from %s", envelope.mail_from)
            reply = "451 4.3.0 The message could not be stored, try again later"
        else:
            reply = f"250 2.0.0 Message accepted as {', '.join(map(str, kept))}"
        if self._lmtp:
            # LMTP answers DATA once per accepted recipient (RFC 2033); the message was kept for all.
            return "\r\n".join(reply for _ in envelope.rcpt_tos)
        return reply


async def serve(
    database: Database,
    clock: Clock,
    store: FileStore,
    *,
    host: str,
    port: int,
    lmtp: bool = False,
    max_message_bytes: int = 40 * 1024 * 1024,
    hostname: str | None = None,
) -> asyncio.Server:
    """Start listening on ``host``:``port`` (0 for any free port) on the running loop."""
    handler = MailHandler(database, clock, store, lmtp=lmtp)
    protocol: type[SMTP] = LMTP if lmtp else SMTP
    settings: dict[str, Any] = {
        "data_size_limit": max_message_bytes,
        "enable_SMTPUTF8": True,
        "decode_data": False,
        "hostname": hostname,
        "timeout": 300,
    }
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: protocol(handler, **settings), host=host, port=port)
