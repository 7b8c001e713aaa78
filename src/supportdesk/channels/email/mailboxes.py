"""The desk's mailboxes: the addresses customers write to, which workspace each belongs to, its hook
and its IMAP server, and the poller's bookkeeping of how far each has been read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.channels.email.models import (
    ImapSecurity,
    Mailbox,
    new_hook_token,
)
from supportdesk.core.clock import Clock
from supportdesk.core.errors import Conflict, InvalidInput
from supportdesk.core.http import require_version
from supportdesk.db.lookups import get_in_workspace
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Priority
from supportdesk.workspaces import service as workspace_service


# The outbox target of processing messages: there is one processor, not one per receiver.
class MailboxExists(Conflict):
    code = "mailbox-exists"
    title = "Another mailbox has this address"


def mailbox_address(address: str) -> str:
    """The mailbox an address delivers to: lower case, without a ``+`` part (``help+77.sig@x`` is
    ``help@x``)."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at:
        return address.strip().lower()
    return f"{local.split('+', 1)[0]}@{domain}"


# --- mailboxes ----------------------------------------------------------------------------------


async def find_mailbox(session: AsyncSession, address: str) -> Mailbox | None:
    """The active mailbox ``address`` delivers to, in any workspace (``session`` is not scoped: the
    address is what says which workspace a message is for)."""
    found = await session.execute(
        select(Mailbox).where(Mailbox.address == mailbox_address(address), Mailbox.is_active.is_(True))
    )
    return found.scalar_one_or_none()


async def find_mailbox_by_token(session: AsyncSession, token: str) -> Mailbox | None:
    """The active mailbox whose inbound hook URL carries ``token``."""
    found = await session.execute(
        select(Mailbox).where(Mailbox.hook_token == token, Mailbox.is_active.is_(True))
    )
    return found.scalar_one_or_none()


async def _check_category(session: AsyncSession, workspace_id: int, category: str | None) -> None:
    if category is not None:
        workspace = await workspace_service.get_workspace(session, workspace_id)
        ticket_service.require_known_category(category, workspace.categories)


async def _flush_unique(session: AsyncSession, mailbox: Mailbox) -> None:
    # Addresses are unique across workspaces, which a scoped session cannot read: the constraint
    # decides, in a savepoint so that only this statement is undone.
    try:
        async with session.begin_nested():
            session.add(mailbox)
            await session.flush()
    except IntegrityError:
        raise MailboxExists(f"A mailbox with the address {mailbox.address} exists already") from None


async def create_mailbox(
    session: AsyncSession,
    clock: Clock,
    *,
    workspace_id: int,
    address: str,
    name: str = "",
    default_category: str | None = None,
    default_priority: Priority | None = None,
    is_active: bool = True,
    hook_signing_key: str | None = None,
    imap_host: str | None = None,
    imap_port: int | None = None,
    imap_security: ImapSecurity = ImapSecurity.tls,
    imap_username: str | None = None,
    imap_password: str | None = None,
    imap_folder: str = "INBOX",
) -> Mailbox:
    await _check_category(session, workspace_id, default_category)
    now = clock.now()
    mailbox = Mailbox(
        workspace_id=workspace_id,
        address=mailbox_address(address),
        name=name,
        default_category=default_category,
        default_priority=default_priority,
        is_active=is_active,
        hook_signing_key=hook_signing_key,
        imap_host=imap_host,
        imap_port=imap_port,
        imap_security=imap_security,
        imap_username=imap_username,
        imap_password=imap_password,
        imap_folder=imap_folder,
        created_at=now,
        updated_at=now,
    )
    await _flush_unique(session, mailbox)
    return mailbox


# Settings that name another folder: what was read of the old one says nothing about the new one.
_IMAP_FOLDER_SETTINGS = ("imap_host", "imap_username", "imap_folder")


async def get_mailbox(session: AsyncSession, mailbox_id: int) -> Mailbox:
    return await get_in_workspace(session, Mailbox, mailbox_id, "mailbox")


async def list_mailboxes(session: AsyncSession) -> list[Mailbox]:
    return list((await session.execute(select(Mailbox).order_by(Mailbox.id))).scalars())


async def update_mailbox(
    session: AsyncSession,
    clock: Clock,
    mailbox: Mailbox,
    changes: dict[str, Any],
    *,
    expected_version: int | None = None,
) -> Mailbox:
    require_version(mailbox.version, expected_version)
    if changes.get("address") is not None:
        changes["address"] = mailbox_address(changes["address"])
    await _check_category(session, mailbox.workspace_id, changes.get("default_category"))
    for name in ("address", "name", "is_active"):
        if name in changes and changes[name] is None:
            raise InvalidInput(name, f"{name} cannot be null.", reason="null")
    other_folder = any(
        name in changes and changes[name] != getattr(mailbox, name) for name in _IMAP_FOLDER_SETTINGS
    )
    for name, value in changes.items():
        setattr(mailbox, name, value)
    if other_folder:
        # The poller starts the new folder from its first message.
        mailbox.imap_uidvalidity = mailbox.imap_last_uid = None
        mailbox.imap_polled_at = mailbox.imap_error_at = None
        mailbox.imap_error = None
    mailbox.updated_at = clock.now()
    await _flush_unique(session, mailbox)
    return mailbox


async def rotate_hook_token(session: AsyncSession, clock: Clock, mailbox: Mailbox) -> Mailbox:
    """Give the mailbox's hook a new URL; the old one stops working at once."""
    mailbox.hook_token = new_hook_token()
    mailbox.updated_at = clock.now()
    await session.flush()
    return mailbox


async def delete_mailbox(session: AsyncSession, mailbox: Mailbox) -> None:
    """Stop taking mail at the address; what arrived there stays."""
    await session.delete(mailbox)
    await session.flush()


# --- reading mailboxes over IMAP ----------------------------------------------------------------


def imap_default_port(security: ImapSecurity) -> int:
    return 993 if security == ImapSecurity.tls else 143


@dataclass(frozen=True, slots=True)
class ImapAccount:
    """A mailbox read over IMAP, as the poller needs it, taken at one version of the mailbox: every
    change an admin makes gives the mailbox a new version, and what the poller records for an older one
    is refused (see :func:`record_imap_position`)."""

    mailbox_id: int
    workspace_id: int
    address: str
    version: int
    host: str
    port: int
    security: ImapSecurity
    username: str
    password: str
    folder: str
    uidvalidity: int | None
    last_uid: int | None


async def imap_accounts(session: AsyncSession) -> list[ImapAccount]:
    """Every active mailbox with an IMAP server, in every workspace (``session`` is not scoped: one
    poller reads the mailboxes of the whole server)."""
    found = await session.execute(
        select(Mailbox)
        .where(Mailbox.is_active.is_(True), Mailbox.imap_host.is_not(None))
        .order_by(Mailbox.id)
    )
    return [
        ImapAccount(
            mailbox_id=mailbox.id,
            workspace_id=mailbox.workspace_id,
            address=mailbox.address,
            version=mailbox.version,
            host=mailbox.imap_host,
            port=mailbox.imap_port or imap_default_port(mailbox.imap_security),
            security=mailbox.imap_security,
            username=mailbox.imap_username or "",
            password=mailbox.imap_password or "",
            folder=mailbox.imap_folder,
            uidvalidity=mailbox.imap_uidvalidity,
            last_uid=mailbox.imap_last_uid,
        )
        for mailbox in found.scalars()
        if mailbox.imap_host is not None
    ]


async def record_imap_position(
    session: AsyncSession, account: ImapAccount, *, uidvalidity: int, last_uid: int
) -> bool:
    """Keep how far the poller has read (in the session's workspace). False when the mailbox changed or
    went since ``account`` was read, and nothing was kept: the poller must read the mailbox again.

    The statement is below the ORM, so the mailbox keeps its version (an admin's ETag stays valid while
    mail is read) and the audit trail is left alone: this is bookkeeping, not a change of settings."""
    result = await session.execute(
        update(Mailbox)
        .where(Mailbox.id == account.mailbox_id, Mailbox.version == account.version)
        .values(imap_uidvalidity=uidvalidity, imap_last_uid=last_uid)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def record_imap_pass(
    session: AsyncSession, clock: Clock, account: ImapAccount, *, error: str | None
) -> bool:
    """Keep the outcome of a pass over the folder: when it last succeeded, or why it failed (for admins).
    False, as for :func:`record_imap_position`, when the mailbox changed meanwhile."""
    now = clock.now()
    values: dict[str, Any] = (
        {"imap_polled_at": now, "imap_error": None, "imap_error_at": None}
        if error is None
        else {"imap_error": error[:2000], "imap_error_at": now}
    )
    result = await session.execute(
        update(Mailbox)
        .where(Mailbox.id == account.mailbox_id, Mailbox.version == account.version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
