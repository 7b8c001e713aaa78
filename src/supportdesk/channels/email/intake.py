"""Taking a message in, the same way for every door: the SMTP/LMTP listener, mailbox polling and the
HTTP hook all find the mailboxes a message is for, then keep it with :func:`accept` before they answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.channels.email import mailboxes, service
from supportdesk.channels.email.models import InboundSource
from supportdesk.core.clock import Clock
from supportdesk.core.storage import FileStore
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace


@dataclass(frozen=True, slots=True)
class MailboxRef:
    """A mailbox as intake needs it: which one, and whose."""

    id: int
    workspace_id: int
    address: str
    # The provider's signing key for hook calls, when the mailbox has one.
    signing_key: str | None = None


async def mailbox_for(database: Database, address: str) -> MailboxRef | None:
    """The active mailbox ``address`` delivers to, in whichever workspace has it."""
    async with database.unit_of_work(readonly=True) as session:
        mailbox = await mailboxes.find_mailbox(session, address)
        return None if mailbox is None else MailboxRef(mailbox.id, mailbox.workspace_id, mailbox.address)


async def mailbox_for_token(database: Database, token: str) -> MailboxRef | None:
    """The active mailbox whose inbound hook URL carries ``token``."""
    async with database.unit_of_work(readonly=True) as session:
        mailbox = await mailboxes.find_mailbox_by_token(session, token)
        if mailbox is None:
            return None
        return MailboxRef(mailbox.id, mailbox.workspace_id, mailbox.address, mailbox.hook_signing_key)


def one_per_workspace(mailboxes: Iterable[MailboxRef]) -> list[MailboxRef]:
    """The first mailbox of each workspace: a message sent to two addresses of one desk is one message
    there, and once to each desk it reached."""
    seen: dict[int, MailboxRef] = {}
    for mailbox in mailboxes:
        seen.setdefault(mailbox.workspace_id, mailbox)
    return list(seen.values())


async def accept(
    database: Database,
    clock: Clock,
    store: FileStore,
    raw: bytes,
    *,
    source: InboundSource,
    mailboxes: Sequence[MailboxRef],
    recipients: Sequence[str] = (),
    envelope_sender: str | None = None,
) -> list[int]:
    """Keep ``raw`` for each workspace among ``mailboxes`` and queue its processing; returns the ids of
    the inbound messages. Raises when it could not keep them, and then the caller must not say that the
    message was accepted (the sender tries again)."""
    digest = await service.keep_raw(store, raw)
    kept = []
    for mailbox in one_per_workspace(mailboxes):
        arrival = service.Arrival(
            raw=raw,
            source=source,
            mailbox_id=mailbox.id,
            workspace_id=mailbox.workspace_id,
            recipients=tuple(recipients),
            envelope_sender=envelope_sender,
        )
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, mailbox.workspace_id)
            act_as(session.sync_session, SYSTEM, clock)
            message = await service.record_arrival(session, clock, arrival, digest)
            kept.append(message.id)
    return kept
