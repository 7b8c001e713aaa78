"""Recording notifications for staff, and reading one's own inbox."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CTE, Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.core.clock import Clock
from supportdesk.core.errors import NotFound
from supportdesk.core.pagination import after_cursor, decode_cursor_as, encode_cursor, split_page
from supportdesk.core.permissions import Role
from supportdesk.core.pushes import Push, push_after_commit
from supportdesk.notifications.mail import service as mail
from supportdesk.notifications.mail.compose import Thread
from supportdesk.notifications.mail.models import EmailKind
from supportdesk.notifications.models import Notification, NotificationKind
from supportdesk.people.models import User
from supportdesk.realtime.pubsub import agent_channel

_notifications = cast(Table, Notification.__table__)
_INSERT = insert(_notifications)


@dataclass(frozen=True, slots=True)
class About:
    """The ticket a note is about, as the e-mail copy of the note shows it."""

    number: int
    title: str
    status: str
    created_at: datetime

    @classmethod
    def of(cls, ticket: Any) -> About:
        """From a ticket, or a row with its fields."""
        return cls(ticket.number, ticket.title, ticket.status.value, ticket.created_at)


@dataclass(frozen=True, slots=True)
class Note:
    """One notification to record: for whom, about what.

    A note with ``about`` set (and its ticket's id) is e-mailed too, to a recipient who wants e-mail,
    when its kind is one the desk mails (:data:`MAILED_KINDS`).
    """

    user_id: int
    kind: NotificationKind
    message: str
    ticket_id: int | None = None
    priority: str = "medium"
    about: About | None = None


# The notifications that are e-mailed too, and as which e-mail.
MAILED_KINDS: dict[NotificationKind, EmailKind] = {
    NotificationKind.assignment: EmailKind.ticket_assigned,
    NotificationKind.sla_breach: EmailKind.sla_breached,
    NotificationKind.escalation: EmailKind.ticket_escalated,
}


def _fields(note: Note, now: datetime) -> dict[str, Any]:
    """The columns of ``note``'s row but its workspace."""
    return {
        "user_id": note.user_id,
        "kind": note.kind,
        "message": note.message,
        "ticket_id": note.ticket_id,
        "priority": note.priority,
        "created_at": now,
        "read_at": None,
    }


async def record(session: AsyncSession, clock: Clock, workspace_id: int, notes: Iterable[Note]) -> int:
    """Record ``notes`` in one statement; returns how many. Delivery beyond the inbox reads these rows."""
    return await record_at(session, workspace_id, notes, clock.now())


async def record_at(session: AsyncSession, workspace_id: int, notes: Iterable[Note], now: datetime) -> int:
    """:func:`record`, stamped ``now``."""
    notes = list(notes)
    rows = [{"workspace_id": workspace_id, **_fields(note, now)} for note in notes]
    if rows:
        connection = await session.connection()
        await connection.execute(_INSERT, rows)
        await tell(session, workspace_id, notes, now)
    return len(rows)


async def tell(session: AsyncSession, workspace_id: int, notes: Sequence[Note], now: datetime) -> None:
    """Beyond the inbox: push each note to its recipient's open screens once the change commits, and
    e-mail those that are mailed. Called by :func:`record_at`, and for a note written with its ticket."""
    push_after_commit(
        session,
        [
            Push(
                agent_channel(workspace_id, note.user_id),
                {
                    "type": "notification",
                    "kind": note.kind.value,
                    "message": note.message,
                    "priority": note.priority,
                    "ticket_id": note.ticket_id,
                    "created_at": now.isoformat(),
                },
            )
            for note in notes
        ],
    )
    await mail_notes(session, workspace_id, notes, now)


async def mail_notes(session: AsyncSession, workspace_id: int, notes: Sequence[Note], now: datetime) -> int:
    """E-mail the notes that are mailed to those of their recipients who want e-mail; returns how many
    e-mails were written."""
    mails = [
        mail.StaffMail(
            user_id=note.user_id,
            kind=MAILED_KINDS[note.kind],
            message=note.message,
            thread=Thread(note.ticket_id, note.about.number, note.about.title, note.about.created_at),
            priority=note.priority,
            status=note.about.status,
        )
        for note in notes
        if note.kind in MAILED_KINDS and note.about is not None and note.ticket_id is not None
    ]
    return await mail.mail_staff(session, workspace_id, mails, now)


# A note about a row that the same statement inserts (PostgreSQL's data-modifying WITH): its ticket id
# comes from that row, everything else from parameters prefixed "note_".
_NOTE_KEYS = ("user_id", "kind", "message", "priority", "created_at")


def insert_note_about(new_ticket: CTE) -> CTE:
    """A part of a statement that records one note about the ticket ``new_ticket`` inserts; the
    parameters come from :func:`note_parameters`."""
    columns = _notifications.c
    return (
        insert(_notifications)
        .from_select(
            ["workspace_id", *_NOTE_KEYS, "ticket_id"],
            select(
                new_ticket.c.workspace_id,
                *(bindparam(f"note_{key}", type_=columns[key].type) for key in _NOTE_KEYS),
                new_ticket.c.id,
            ),
        )
        .cte("ticket_note")
    )


def note_parameters(note: Note, now: datetime) -> dict[str, Any]:
    """The parameters of :func:`insert_note_about` for ``note``, stamped ``now``."""
    fields = _fields(note, now)
    return {f"note_{key}": fields[key] for key in _NOTE_KEYS}


async def staff_ids_with_roles(session: AsyncSession, roles: Sequence[Role]) -> list[int]:
    """Active staff of the session's workspace with one of ``roles``, by id."""
    query = select(User.id).where(User.is_active.is_(True), User.role.in_(list(roles))).order_by(User.id)
    return list((await session.execute(query)).scalars())


class NotificationService:
    """Notifying staff from within a unit of work; what is recorded commits with the change that caused it."""

    def __init__(self, session: AsyncSession, clock: Clock, workspace_id: int) -> None:
        self._session = session
        self._clock = clock
        self._workspace_id = workspace_id

    async def notify_agent(
        self,
        agent_id: int,
        message: str,
        priority: str = "medium",
        *,
        kind: NotificationKind = NotificationKind.trigger,
        ticket_id: int | None = None,
    ) -> None:
        """Notify one staff user."""
        note = Note(user_id=agent_id, kind=kind, message=message, ticket_id=ticket_id, priority=priority)
        await record(self._session, self._clock, self._workspace_id, [note])

    async def notify_roles(
        self,
        roles: Sequence[Role],
        message: str,
        priority: str = "medium",
        *,
        kind: NotificationKind,
        ticket_id: int | None = None,
    ) -> int:
        """Notify every active staff user with one of ``roles``; returns how many were notified."""
        user_ids = await staff_ids_with_roles(self._session, roles)
        notes = [Note(user_id, kind, message, ticket_id, priority) for user_id in user_ids]
        return await record(self._session, self._clock, self._workspace_id, notes)


@dataclass(slots=True)
class NotificationPage:
    items: list[Notification]
    next_cursor: str | None


async def list_for_user(
    session: AsyncSession, user_id: int, *, unread_only: bool, limit: int, cursor: str | None
) -> NotificationPage:
    """The user's notifications, newest first."""
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if cursor is not None:
        created_at, row_id = decode_cursor_as(cursor, "-created_at", datetime)
        query = query.where(
            after_cursor(Notification.created_at, Notification.id, created_at, row_id, descending=True)
        )
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit + 1)
    rows = list((await session.execute(query)).scalars())
    items, next_cursor = split_page(
        rows, limit, lambda last: encode_cursor("-created_at", last.created_at, last.id)
    )
    return NotificationPage(items, next_cursor)


async def count_unread(session: AsyncSession, user_id: int, *, cap: int) -> int:
    """How many of the user's notifications are unread, counting no further than ``cap + 1``: a badge
    says "99+" and every page shows it, so its cost stays bounded however full the inbox is."""
    unread = (
        select(Notification.id)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .limit(cap + 1)
    )
    counted = await session.execute(select(func.count()).select_from(unread.subquery()))
    return int(counted.scalar_one())


async def mark_read(session: AsyncSession, clock: Clock, user_id: int, notification_id: int) -> Notification:
    """Mark one of the user's notifications read (again is harmless)."""
    notification = await session.get(Notification, notification_id)
    if notification is None or notification.user_id != user_id:
        raise NotFound("No such notification")
    if notification.read_at is None:
        notification.read_at = clock.now()
        await session.flush()
    return notification


async def mark_all_read(session: AsyncSession, clock: Clock, user_id: int) -> int:
    """Mark every unread notification of the user read; returns how many."""
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
