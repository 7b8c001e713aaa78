"""The portal's rules, as plain functions: how secrets are made, stored and checked, when a sign-in
link may be used, and what a customer may do to a ticket in each status. No I/O."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from supportdesk.core.security import hash_token
from supportdesk.tickets.models import TicketStatus

# A sign-in link works once, for this long: long enough to switch to the mail client and back, short
# enough that a link left in a mailbox is of no use to whoever reads it later.
LINK_MINUTES = 15
# Slugs are short names of letters, digits and hyphens; anything else names no workspace, and is
# answered "not found" before the database is asked.
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class Purpose(StrEnum):
    """What a secret is for; its stored hash is keyed by it, so one never passes for the other."""

    link = "portal-link"
    session = "portal-session"


def new_secret() -> str:
    """A fresh secret for a link or a session: 256 random bits, written for a URL or a cookie."""
    return secrets.token_urlsafe(32)


def stored_hash(secret: str, secret_key: str, purpose: Purpose) -> str:
    """The form a secret is stored in: a keyed SHA-256 of it and its purpose (decision 0007)."""
    return hash_token(f"{purpose.value}\x00{secret}", secret_key)


def plausible_secret(value: str) -> bool:
    """Whether ``value`` could be a secret this module made, before anything is looked up."""
    return 20 <= len(value) <= 100 and re.fullmatch(r"[A-Za-z0-9_-]+", value) is not None


def plausible_slug(value: str) -> bool:
    """Whether ``value`` could be a workspace's slug."""
    return _SLUG.fullmatch(value) is not None


def link_expires_at(now: datetime) -> datetime:
    """When a link made at ``now`` stops working."""
    return now + timedelta(minutes=LINK_MINUTES)


class LinkState(StrEnum):
    usable = "usable"
    used = "used"
    expired = "expired"
    unknown = "unknown"


def link_state(expires_at: datetime | None, used_at: datetime | None, now: datetime) -> LinkState:
    """Whether a link with these times may sign someone in at ``now``; ``expires_at`` None is a link
    nobody made."""
    if expires_at is None:
        return LinkState.unknown
    if used_at is not None:
        return LinkState.used
    if now >= expires_at:
        return LinkState.expired
    return LinkState.usable


def session_alive(expires_at: datetime, now: datetime) -> bool:
    """Whether a portal session is still good at ``now``."""
    return now < expires_at


def can_reply(status: TicketStatus) -> bool:
    """A closed ticket takes no more comments; a reply to a resolved one opens it again."""
    return status != TicketStatus.closed


def can_mark_solved(status: TicketStatus) -> bool:
    """A customer may say their request is solved while the desk still works on it."""
    return status not in (TicketStatus.resolved, TicketStatus.closed)


def can_rate(status: TicketStatus) -> bool:
    """A customer rates the resolution once there is one, and may change their answer later."""
    return status in (TicketStatus.resolved, TicketStatus.closed)


_CUSTOMER_STATUS = {
    TicketStatus.open: "Received",
    TicketStatus.assigned: "Being looked at",
    TicketStatus.in_progress: "Being worked on",
    TicketStatus.pending: "Waiting for your reply",
    TicketStatus.resolved: "Solved",
    TicketStatus.closed: "Closed",
}


def customer_status(status: TicketStatus) -> str:
    """A ticket's status in the customer's words: the desk's own steps read as what they mean to them."""
    return _CUSTOMER_STATUS[status]
