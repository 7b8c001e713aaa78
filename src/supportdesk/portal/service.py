"""The portal's business: mailing sign-in links, turning a link into a session, knowing who a session
belongs to, and reading a customer's own tickets with their public conversation.

Every function runs in a session scoped to the portal's workspace, so a customer of another workspace,
and another workspace's tickets, are out of sight before any rule here is applied. Writes only flush:
the router commits, and the sign-in e-mail goes into the outbox in the same transaction as its link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.config import Settings
from supportdesk.core.clock import Clock
from supportdesk.core.errors import NotFound
from supportdesk.jobs import outbox
from supportdesk.notifications.mail import service as mail
from supportdesk.people import service as people_service
from supportdesk.people.models import Customer, User
from supportdesk.portal import rules
from supportdesk.portal.models import PortalSession, PortalSignIn
from supportdesk.portal.rules import LinkState, Purpose
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Attachment, Comment, Ticket


@dataclass(frozen=True, slots=True)
class Link:
    """A sign-in link just made: its secret (only ever in the e-mail) and where it leads."""

    secret: str
    url: str


async def request_sign_in(
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    *,
    workspace_id: int,
    email: str,
    link_base: str,
) -> Link | None:
    """Mail a sign-in link to the customer with ``email``, if the workspace has one; the link's address
    is ``link_base`` followed by its secret. Returns the link made, or ``None`` for an address that is
    nobody's, which the caller answers exactly as the other."""
    customer = await _customer_by_address(session, email)
    if customer is None:
        return None
    now = clock.now()
    secret = rules.new_secret()
    row = PortalSignIn(
        workspace_id=workspace_id,
        customer_id=customer.id,
        token_hash=rules.stored_hash(secret, settings.secret_key, Purpose.link),
        created_at=now,
        expires_at=rules.link_expires_at(now),
    )
    session.add(row)
    await session.flush()
    link = Link(secret=secret, url=f"{link_base}{secret}")
    context: dict[str, dict[str, Any]] = {
        "customer": {"name": customer.name, "email": customer.email},
        "link": {"url": link.url, "minutes": rules.LINK_MINUTES},
    }
    message = await mail.sign_in_message(
        session,
        clock,
        workspace_id=workspace_id,
        to=customer.email,
        cause=f"portal-link:{row.id}",
        context=context,
    )
    if message is not None:
        await outbox.enqueue(session, clock, workspace_id, [message])
    return link


async def _customer_by_address(session: AsyncSession, email: str) -> Customer | None:
    """The customer with ``email``; people type their address in letters of either case, so another
    spelling finds the customer too, as long as it names only one."""
    exact = await people_service.find_customer_by_email(session, email)
    if exact is not None:
        return exact
    query = select(Customer).where(func.lower(Customer.email) == email.lower()).limit(2)
    found = list((await session.execute(query)).scalars())
    return found[0] if len(found) == 1 else None


async def _link(session: AsyncSession, settings: Settings, secret: str) -> PortalSignIn | None:
    if not rules.plausible_secret(secret):
        return None
    digest = rules.stored_hash(secret, settings.secret_key, Purpose.link)
    return (
        await session.execute(select(PortalSignIn).where(PortalSignIn.token_hash == digest))
    ).scalar_one_or_none()


async def link_state(session: AsyncSession, clock: Clock, settings: Settings, secret: str) -> LinkState:
    """Whether the link with ``secret`` would sign someone in now (nothing is changed)."""
    found = await _link(session, settings, secret)
    if found is None:
        return LinkState.unknown
    return rules.link_state(found.expires_at, found.used_at, clock.now())


@dataclass(frozen=True, slots=True)
class SignedIn:
    customer: Customer
    secret: str
    expires_at: datetime


async def redeem_link(
    session: AsyncSession, clock: Clock, settings: Settings, secret: str
) -> SignedIn | LinkState:
    """Use the link with ``secret``: a new portal session for its customer, or why the link cannot be
    used. Signing in retires every other link the customer still holds."""
    found = await _link(session, settings, secret)
    now = clock.now()
    state = rules.link_state(found.expires_at, found.used_at, now) if found else LinkState.unknown
    if found is None or state != LinkState.usable:
        return state
    # One statement marks the link used only if it still is unused, so two tabs racing with the same
    # link open one session between them.
    retired = await session.execute(
        update(PortalSignIn)
        .where(PortalSignIn.id == found.id, PortalSignIn.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(retired, "rowcount", 0) != 1:
        return LinkState.used
    await session.execute(
        update(PortalSignIn)
        .where(PortalSignIn.customer_id == found.customer_id, PortalSignIn.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    customer = await people_service.get_customer(session, found.customer_id)
    session_secret = rules.new_secret()
    expires_at = now + timedelta(hours=settings.session_ttl_hours)
    session.add(
        PortalSession(
            workspace_id=customer.workspace_id,
            customer_id=customer.id,
            secret_hash=rules.stored_hash(session_secret, settings.secret_key, Purpose.session),
            created_at=now,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return SignedIn(customer=customer, secret=session_secret, expires_at=expires_at)


async def customer_of_session(
    session: AsyncSession, clock: Clock, settings: Settings, secret: str | None
) -> Customer | None:
    """The customer whose portal session has ``secret``, while it lasts."""
    if secret is None or not rules.plausible_secret(secret):
        return None
    digest = rules.stored_hash(secret, settings.secret_key, Purpose.session)
    found = (
        await session.execute(select(PortalSession).where(PortalSession.secret_hash == digest))
    ).scalar_one_or_none()
    if found is None or not rules.session_alive(found.expires_at, clock.now()):
        return None
    return await session.get(Customer, found.customer_id)


async def sign_out(session: AsyncSession, settings: Settings, secret: str) -> None:
    """End the portal session with ``secret``."""
    digest = rules.stored_hash(secret, settings.secret_key, Purpose.session)
    await session.execute(delete(PortalSession).where(PortalSession.secret_hash == digest))


async def customer_tickets(session: AsyncSession, customer_id: int) -> list[Ticket]:
    """The customer's tickets, newest first."""
    query = (
        select(Ticket)
        .where(Ticket.customer_id == customer_id)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
    )
    return list((await session.execute(query)).scalars())


async def customer_ticket(session: AsyncSession, customer_id: int, ticket_id: int) -> Ticket:
    """The customer's ticket ``ticket_id``; anybody else's is not found, exactly like one that does not
    exist, so a customer learns nothing by trying numbers."""
    ticket = await ticket_service.get_ticket(session, ticket_id)
    if ticket.customer_id != customer_id:
        raise NotFound("No such ticket")
    return ticket


# How the portal names who wrote: the customer is "You"; staff by the name their public replies are
# signed with in e-mail (never an address); the desk itself, which has no name, "Support".
YOU = "You"
SUPPORT = "Support"


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of the public conversation as the customer sees it, with its files."""

    author: str
    by_customer: bool
    content: str
    created_at: datetime
    files: list[Attachment] = field(default_factory=list)


async def public_conversation(session: AsyncSession, ticket: Ticket) -> list[Entry]:
    """The ticket's public comments, oldest first, with their authors as the customer sees them.
    Internal notes are never read."""
    query = (
        select(Comment)
        .where(Comment.ticket_id == ticket.id, Comment.is_public.is_(True))
        .order_by(Comment.created_at, Comment.id)
    )
    comments: Sequence[Comment] = list((await session.execute(query)).scalars())
    staff_ids = {comment.author_user_id for comment in comments if comment.author_user_id is not None}
    names: dict[int, str] = {}
    if staff_ids:
        rows = await session.execute(select(User.id, User.name).where(User.id.in_(staff_ids)))
        names = {row.id: row.name for row in rows}
    files: dict[int, list[Attachment]] = {}
    if comments:
        # Read by the public comments' ids, so an internal note's files are never read either.
        query_files = (
            select(Attachment)
            .where(Attachment.comment_id.in_([comment.id for comment in comments]))
            .order_by(Attachment.id)
        )
        for attachment in (await session.execute(query_files)).scalars():
            files.setdefault(attachment.comment_id, []).append(attachment)
    entries = []
    for comment in comments:
        by_customer = comment.author_customer_id is not None
        if by_customer:
            author = YOU
        elif comment.author_user_id is not None:
            author = names.get(comment.author_user_id) or SUPPORT
        else:
            author = SUPPORT
        entries.append(
            Entry(author, by_customer, comment.content, comment.created_at, files.get(comment.id, []))
        )
    return entries


async def public_attachment(
    session: AsyncSession, customer_id: int, ticket_id: int, attachment_id: int
) -> Attachment:
    """The file ``attachment_id`` of the customer's ticket ``ticket_id``, on a public comment; a file of
    an internal note, of another ticket or of another customer's is not found, like one that does not
    exist."""
    ticket = await customer_ticket(session, customer_id, ticket_id)
    query = (
        select(Attachment)
        .join(Comment, Comment.id == Attachment.comment_id)
        .where(
            Attachment.id == attachment_id,
            Attachment.ticket_id == ticket.id,
            Comment.ticket_id == ticket.id,
            Comment.is_public.is_(True),
        )
    )
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise NotFound("No such file")
    return found
