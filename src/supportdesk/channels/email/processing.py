"""The inbound channel's handler: each outbox message of the channel is one arrived e-mail to process.

It runs where the outbox's other senders run (the server's embedded worker or ``supportdesk worker``),
with their retries: a failure (the database away, a virus scanner that cannot check) is tried again
after the channel's backoff, and the error is kept on the message. When the last attempt fails, or the
message cannot ever be processed (its bytes are gone from the store), it is quarantined: listed for
admins with its reason, and processed again on request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.exc import NoResultFound
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.channels.email import parsing, service
from supportdesk.channels.email.models import InboundMessage, InboundState
from supportdesk.channels.email.reader import MessageReader
from supportdesk.core.clock import Clock
from supportdesk.core.storage import FileStore
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs.channels import Delivery, DeliveryFailed, Sent
from supportdesk.jobs.models import DeliveryChannel
from supportdesk.jobs.rules import RETRY_POLICIES

_log = logging.getLogger(__name__)

# Messages one process works on at once. Processing is mostly the processor's own work (reading the
# MIME, the flows) between short queries: a few at a time keep the database busy while another one is
# read. More only stretch every transaction by the others' turns on the event loop, hold as many
# connections, and keep the workspace's row, which opening a ticket locks until the commit, locked for
# that much longer while every other new ticket of the workspace waits for it (in all processes).
CONCURRENCY = 4


class Process(Protocol):
    """The use case (channels.email.flows.process_inbound), given by whoever wires the process: it sits
    above this module, which the outbox calls."""

    async def __call__(
        self,
        session: AsyncSession,
        clock: Clock,
        store: FileStore,
        settings: service.InboundRules,
        message: InboundMessage,
        parsed: parsing.ParsedEmail,
        *,
        desk: service.Desk | None = None,
        history: service.History | None = None,
    ) -> InboundMessage: ...


class InboundProcessor:
    """Processes arrived e-mails handed over by the outbox."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        store: FileStore,
        rules: service.InboundRules,
        process: Process,
        reader: MessageReader | None = None,
    ) -> None:
        self._process = process
        # Where messages are read: in this process unless the caller gives a reader of its own.
        self._reader = reader if reader is not None else MessageReader(separate=False)
        self._database = database
        self._clock = clock
        self._store = store
        self._rules = rules
        # The desk of each message of the batches being processed (see prepare), by outbox message.
        self._prepared: dict[int, service.Desk] = {}
        self._running = asyncio.Semaphore(CONCURRENCY)

    async def prepare(self, deliveries: Sequence[Delivery]) -> None:
        """Read the desk (the workspace's e-mail settings and mailboxes) of a batch's messages once per
        workspace, instead of once for each message. A batch takes seconds: a change of the settings
        applies from the next one."""
        workspaces = sorted({delivery.workspace_id for delivery in deliveries})
        desks: dict[int, service.Desk] = {}
        try:
            async with self._database.unit_of_work(readonly=True) as session:
                for workspace_id in workspaces:
                    scope_to_workspace(session.sync_session, workspace_id)
                    with contextlib.suppress(NoResultFound):  # the workspace is gone; its messages too
                        desks[workspace_id] = await service.read_desk(
                            session, workspace_id, self._rules.default_from
                        )
        except Exception as error:  # noqa: BLE001  (each message reads its desk, and fails, on its own)
            _log.warning("inbound: the desks of a batch could not be read: %s", error)
            return
        for delivery in deliveries:
            desk = desks.get(delivery.workspace_id)
            if desk is not None:
                self._prepared[delivery.message_id] = desk

    async def __call__(self, delivery: Delivery) -> Sent:
        desk = self._prepared.pop(delivery.message_id, None)
        async with self._running:
            return await self._process_one(delivery, desk)

    async def _process_one(self, delivery: Delivery, desk: service.Desk | None) -> Sent:
        message_id = delivery.payload.get("inbound_message_id")
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            raise DeliveryFailed(
                "the job names no inbound message", permanent=True, provider=service.PROCESSOR
            )
        # The bytes are read and parsed before the transaction, when the job names them: the message's
        # row is then read together with what earlier messages say about it, in one statement.
        parsed = await self._parsed_beforehand(delivery)
        try:
            async with self._database.unit_of_work() as session:
                scope_to_workspace(session.sync_session, delivery.workspace_id)
                act_as(session.sync_session, SYSTEM, self._clock)
                history: service.History | None = None
                if parsed is not None:
                    found = await service.load_message(
                        session,
                        message_id,
                        parsed,
                        now=self._clock.now(),
                        window=self._rules.thread_window,
                    )
                    message, history = found if found is not None else (None, None)
                else:
                    message = await session.get(InboundMessage, message_id)
                if message is None or message.state != InboundState.received:
                    # Deleted with its workspace, or done by an earlier attempt whose answer was lost.
                    return Sent(provider=service.PROCESSOR)
                if parsed is None:
                    parsed = await self._reader.read_stored(
                        self._store, message.raw_sha256, self._rules.limits
                    )
                await self._process(
                    session,
                    self._clock,
                    self._store,
                    self._rules,
                    message,
                    parsed,
                    desk=desk,
                    history=history,
                )
        except FileNotFoundError:
            reason = "the message's bytes are missing from the file store"
            await self._failed(delivery, message_id, reason, last=True)
            raise DeliveryFailed(reason, permanent=True, provider=service.PROCESSOR) from None
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"[:2000]
            last = delivery.attempt >= RETRY_POLICIES[DeliveryChannel.inbound].max_attempts
            _log.warning("inbound message %d failed (attempt %d): %s", message_id, delivery.attempt, reason)
            await self._failed(delivery, message_id, reason, last=last)
            raise DeliveryFailed(reason, permanent=last, provider=service.PROCESSOR) from error
        return Sent(provider=service.PROCESSOR)

    async def _parsed_beforehand(self, delivery: Delivery) -> parsing.ParsedEmail | None:
        """The message the job names by its bytes, parsed; ``None`` when the job names none (queued by an
        earlier release) or the bytes are missing, which processing then finds out for itself (the
        message may be gone, and then that is no failure)."""
        digest = delivery.payload.get(service.RAW_KEY)
        if not isinstance(digest, str):
            return None
        try:
            return await self._reader.read_stored(self._store, digest, self._rules.limits)
        except FileNotFoundError:
            return None

    async def _failed(self, delivery: Delivery, message_id: int, reason: str, *, last: bool) -> None:
        """Keep the failure on the message (in a unit of work of its own: the one that failed is gone)."""
        async with self._database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, delivery.workspace_id)
            act_as(session.sync_session, SYSTEM, self._clock)
            message = await session.get(InboundMessage, message_id)
            if message is None:
                return
            message.attempts += 1
            message.last_error = reason
            if last:
                message.state = InboundState.quarantined
