"""Reading mailboxes over IMAP: ``supportdesk mail poll`` takes what arrives in each mailbox's folder in
through :func:`intake.accept`, the same door as the SMTP listener and the provider hook.

The poller only reads (see ``imap_connection``, which holds the connection to the server and the thread
that makes its calls): the desk can be pointed at a mailbox without changing how it is used. This module
keeps the bookkeeping of what has been read, and the pace at which each mailbox is read.

What has been read is kept on the mailbox as the folder's UIDVALIDITY and the highest UID handed to
intake. Each message is accepted first and its UID recorded after, in a transaction of its own, so a
crash between the two reads that one message again on the next pass; processing recognises the
second copy by its Message-ID and records it as a duplicate. When the folder's UIDVALIDITY changes (the
folder was recreated, or the server moved to other storage) the UIDs kept mean nothing any more, and
the whole folder is read again, for the same reason harmlessly: nothing that arrived in the meantime is
missed.

A server that offers IDLE announces new mail on the open connection, and the poller reads it at once;
the IDLE is renewed every ten minutes, well inside the 29 minutes after which servers may drop it and
soon enough to notice a connection that a router dropped without a word. Without IDLE the poller
connects every ``SUPPORTDESK_MAIL_POLL_SECONDS``. A mailbox that fails (a refused login, an unreachable
server) keeps the reason for admins and is tried again after a growing pause; the other mailboxes go
on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.channels.email import intake, mailboxes
from supportdesk.channels.email.imap_connection import ImapConnection, describe
from supportdesk.channels.email.models import InboundSource
from supportdesk.core.clock import Clock
from supportdesk.core.storage import FileStore
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace

_log = logging.getLogger(__name__)

# How long one IDLE lasts before it is ended and issued again (RFC 2177 asks for less than 29 minutes).
IDLE_SECONDS = 10 * 60.0
# The longest pause before a failing mailbox is tried again.
MAX_BACKOFF_SECONDS = 15 * 60.0


class MailboxChanged(Exception):
    """The mailbox was changed or deleted while it was being read; it is read again as it is now."""


@dataclass(slots=True)
class _Position:
    """How far a mailbox has been read, kept in step with its row as messages are read."""

    uidvalidity: int | None
    last_uid: int
    read: int = 0


@dataclass(frozen=True, slots=True)
class PassResult:
    """What one pass over a mailbox's folder did."""

    account: mailboxes.ImapAccount
    read: int
    error: str | None = None


class ImapPoller:
    """Reads every active mailbox that has an IMAP server, for the whole server (all workspaces)."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        store: FileStore,
        *,
        poll_seconds: float,
        timeout: float,
        idle_seconds: float = IDLE_SECONDS,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
    ) -> None:
        self._database = database
        self._clock = clock
        self._store = store
        self._poll_seconds = poll_seconds
        self._timeout = timeout
        self._idle_seconds = idle_seconds
        self._max_backoff = max_backoff_seconds

    async def accounts(self) -> list[mailboxes.ImapAccount]:
        async with self._database.unit_of_work(readonly=True) as session:
            return await mailboxes.imap_accounts(session)

    async def poll_once(self) -> list[PassResult]:
        """One pass over every mailbox, one after the other; a failing mailbox keeps its reason and the
        others are read all the same."""
        return [await self.poll(account) for account in await self.accounts()]

    async def poll(self, account: mailboxes.ImapAccount) -> PassResult:
        """Read what is new in ``account``'s folder; never raises for a failure of the server."""
        position = _Position(account.uidvalidity, account.last_uid or 0)
        try:
            connection = await ImapConnection.open(account, self._timeout)
            try:
                await self._read_new(connection, account, position)
            finally:
                await connection.close()
            await self._record(account, error=None)
        except MailboxChanged:
            return PassResult(account, position.read, "the mailbox was changed while it was read")
        except Exception as error:  # noqa: BLE001  (kept for admins; the other mailboxes go on)
            reason = describe(error, account, self._timeout)
            _log.warning("reading %s over IMAP failed: %s", account.address, reason)
            await self._record_failure(account, reason)
            return PassResult(account, position.read, reason)
        return PassResult(account, position.read)

    async def run(self) -> None:
        """Read every mailbox until cancelled: one task per mailbox, each on IDLE where the server offers
        it; every ``poll_seconds`` the mailboxes are looked up again, so that added, changed and removed
        ones are picked up (a changed one is read again with its new settings)."""
        watchers: dict[int, tuple[mailboxes.ImapAccount, asyncio.Task[None]]] = {}
        try:
            while True:
                try:
                    accounts = {account.mailbox_id: account for account in await self.accounts()}
                except Exception:  # noqa: BLE001  (the database is away: the watchers go on meanwhile)
                    _log.exception("could not look up the mailboxes to read over IMAP")
                else:
                    for mailbox_id, (account, task) in list(watchers.items()):
                        current = accounts.get(mailbox_id)
                        if task.done() or current is None or current.version != account.version:
                            task.cancel()
                            del watchers[mailbox_id]
                        if task.done() and not task.cancelled() and task.exception() is not None:
                            _log.error("reading %s stopped", account.address, exc_info=task.exception())
                    for mailbox_id, account in accounts.items():
                        if mailbox_id not in watchers:
                            watchers[mailbox_id] = (account, asyncio.create_task(self.watch(account)))
                await asyncio.sleep(self._poll_seconds)
        finally:
            tasks = [task for _account, task in watchers.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def watch(self, account: mailboxes.ImapAccount) -> None:
        """Read one mailbox until cancelled or changed: on IDLE while the server offers it, otherwise by
        connecting every ``poll_seconds``; after a failure, again after a pause that doubles up to
        ``max_backoff_seconds``."""
        position = _Position(account.uidvalidity, account.last_uid or 0)
        failures = 0
        while True:
            try:
                connection = await ImapConnection.open(account, self._timeout)
                try:
                    await self._read_new(connection, account, position)
                    await self._record(account, error=None)
                    failures = 0
                    while connection.can_idle:
                        await connection.wait_for_mail(self._idle_seconds)
                        await self._read_new(connection, account, position)
                        await self._record(account, error=None)
                finally:
                    await connection.close()
                pause = self._poll_seconds
            except MailboxChanged:
                return
            except Exception as error:  # noqa: BLE001  (kept for admins, and tried again later)
                failures += 1
                reason = describe(error, account, self._timeout)
                _log.warning("reading %s over IMAP failed: %s", account.address, reason)
                await self._record_failure(account, reason)
                pause = min(self._poll_seconds * 2 ** (failures - 1), self._max_backoff)
            await asyncio.sleep(pause)

    async def _read_new(
        self, connection: ImapConnection, account: mailboxes.ImapAccount, position: _Position
    ) -> None:
        """Hand every message above the last UID read to intake, recording each UID once it is kept."""
        if position.uidvalidity != connection.uidvalidity:
            if position.uidvalidity is not None:
                _log.warning(
                    "the UIDVALIDITY of %s changed from %d to %d: reading the whole folder again",
                    account.address,
                    position.uidvalidity,
                    connection.uidvalidity,
                )
            position.uidvalidity, position.last_uid = connection.uidvalidity, 0
            await self._keep(account, position)
        mailbox = intake.MailboxRef(account.mailbox_id, account.workspace_id, account.address)
        for uid in await connection.uids_after(position.last_uid):
            raw = await connection.fetch(uid)
            if raw is not None:
                await intake.accept(
                    self._database,
                    self._clock,
                    self._store,
                    raw,
                    source=InboundSource.imap,
                    mailboxes=[mailbox],
                    recipients=[account.address],
                )
                position.read += 1
            position.last_uid = uid
            await self._keep(account, position)

    async def _keep(self, account: mailboxes.ImapAccount, position: _Position) -> None:
        assert position.uidvalidity is not None  # noqa: S101  (set before anything is kept)
        async with self._database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, account.workspace_id)
            kept = await mailboxes.record_imap_position(
                session, account, uidvalidity=position.uidvalidity, last_uid=position.last_uid
            )
        if not kept:
            raise MailboxChanged

    async def _record(self, account: mailboxes.ImapAccount, *, error: str | None) -> None:
        async with self._database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, account.workspace_id)
            act_as(session.sync_session, SYSTEM, self._clock)
            recorded = await mailboxes.record_imap_pass(session, self._clock, account, error=error)
        if not recorded:
            raise MailboxChanged

    async def _record_failure(self, account: mailboxes.ImapAccount, reason: str) -> None:
        try:
            await self._record(account, error=reason)
        except MailboxChanged:
            pass
        except Exception:  # noqa: BLE001  (the database is away too; the log has the reason)
            _log.exception("could not keep the IMAP error of %s", account.address)
