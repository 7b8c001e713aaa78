"""A comment that changes nothing on its ticket but when it was last updated (a customer's reply to an
open ticket, an internal note) is written on PostgreSQL with its audit event and the ticket's update in
one statement (``comment_writes.insert_comment``). It must be the comment, the event and the ticket the
unit of work's flush writes: watching the SQL sends it through the flush, which is how each test gets
the one to compare with. Any other change of the ticket (a reopened ticket) is the flush's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Table, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from supportdesk.audit.models import AuditEvent
from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.core.clock import FrozenClock
from supportdesk.db import direct
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Comment, Ticket, TicketStatus
from supportdesk.tickets.schemas import CommentAuthor
from supportdesk.workspaces.models import Workspace
from tests.factories.tickets import TicketFactory
from tests.fixtures.statements import statements_run

pytestmark = pytest.mark.integration

_tickets = cast(Table, Ticket.__table__)


def comment_values(comment: Comment) -> dict[str, Any]:
    return {
        column.key: getattr(comment, column.key) for column in Comment.__table__.columns if column.key != "id"
    }


async def events_of(session: AsyncSession, object_type: str, object_id: int) -> list[tuple[Any, ...]]:
    found = await session.execute(
        select(AuditEvent)
        .where(AuditEvent.object_type == object_type, AuditEvent.object_id == object_id)
        .order_by(AuditEvent.id)
    )
    return [
        (event.workspace_id, event.actor_type, event.actor_id, event.action, event.created_at, event.changes)
        for event in found.scalars()
    ]


async def reply(session: AsyncSession, clock: FrozenClock, ticket_id: int, text: str) -> Comment:
    ticket = await session.get_one(Ticket, ticket_id)
    return await ticket_service.add_comment(
        session, clock, ticket, actor=None, content=text, author=CommentAuthor.customer
    )


@pytest.fixture
async def two_open_tickets(
    session: AsyncSession, workspace: Workspace, clock: FrozenClock, ticket_factory: TicketFactory
) -> tuple[int, int]:
    first = await ticket_factory(customer_email="ines@example.org")
    second = await ticket_factory(customer_email="ines@example.org")
    scope_to_workspace(session.sync_session, workspace.id)
    act_as(session.sync_session, SYSTEM, clock)
    clock.advance(timedelta(minutes=5))
    return first.id, second.id


@pytest.fixture
def one_statement_writes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each time a comment tried its one statement, whether the driver sent it."""
    sent: list[bool] = []
    original = direct.fetch_row_in_one_trip

    async def counted(*args: Any) -> tuple[Any, ...] | None:
        returned = await original(*args)
        sent.append(returned is not None)
        return returned

    monkeypatch.setattr(direct, "fetch_row_in_one_trip", counted)
    return sent


async def test_a_reply_written_in_one_statement_is_what_the_flush_writes(
    session: AsyncSession,
    clock: FrozenClock,
    db_backend: str,
    two_open_tickets: tuple[int, int],
    one_statement_writes: list[bool],
) -> None:
    first_id, second_id = two_open_tickets
    with statements_run(await session.connection()) as unwatched_check:
        pass
    assert unwatched_check == []

    by_statement = await reply(session, clock, first_id, "It happens again")
    with statements_run(await session.connection()) as watched:
        by_flush = await reply(session, clock, second_id, "It happens again")

    assert "INSERT" in watched, "the second went through the flush"
    assert "UPDATE" in watched
    assert one_statement_writes == ([True, False] if db_backend == "postgresql" else [])
    for comment, ticket_id in ((by_statement, first_id), (by_flush, second_id)):
        state = inspect(comment)
        assert state.persistent
        assert not state.modified
        ticket = await session.get_one(Ticket, ticket_id)
        assert not inspect(ticket).modified
        assert (ticket.updated_at, ticket.version) == (clock.now(), 2)
    assert {**comment_values(by_statement), "ticket_id": None} == {
        **comment_values(by_flush),
        "ticket_id": None,
    }
    events = [await events_of(session, "comment", comment.id) for comment in (by_statement, by_flush)]
    for [(*_, changes)], ticket_id in zip(events, (first_id, second_id), strict=True):
        assert changes.pop("ticket_id") == [None, ticket_id]
    assert events[0] == events[1]

    session.expunge_all()
    for ticket_id in (first_id, second_id):
        stored = await session.execute(
            select(Ticket.updated_at, Ticket.version).where(Ticket.id == ticket_id)
        )
        assert stored.one() == (clock.now(), 2)


async def test_a_ticket_changed_by_another_transaction_meanwhile_is_refused(
    session: AsyncSession, clock: FrozenClock, two_open_tickets: tuple[int, int]
) -> None:
    first_id, _ = two_open_tickets
    ticket = await session.get_one(Ticket, first_id)
    # Another writer moved the version on after this session read the ticket.
    await (await session.connection()).execute(
        update(_tickets).where(_tickets.c.id == first_id).values(version=7)
    )

    with pytest.raises(StaleDataError):
        await ticket_service.add_comment(
            session, clock, ticket, actor=None, content="Lost update?", author=CommentAuthor.customer
        )


async def test_a_reply_that_reopens_its_ticket_goes_through_the_flush(
    session: AsyncSession, workspace: Workspace, clock: FrozenClock, ticket_factory: TicketFactory
) -> None:
    resolved = await ticket_factory(customer_email="ines@example.org", status=TicketStatus.resolved)
    scope_to_workspace(session.sync_session, workspace.id)
    act_as(session.sync_session, SYSTEM, clock)

    comment = await reply(session, clock, resolved.id, "Still broken")

    ticket = await session.get_one(Ticket, resolved.id)
    assert ticket.status == TicketStatus.open
    assert comment.id is not None
    status_changes = [
        changes["status"]
        for *_, changes in await events_of(session, "ticket", resolved.id)
        if "status" in changes
    ]
    assert status_changes[-1] == ["resolved", "open"]


async def test_a_comment_made_the_moment_its_ticket_last_changed_leaves_the_ticket_as_it_was(
    session: AsyncSession, workspace: Workspace, clock: FrozenClock, ticket_factory: TicketFactory
) -> None:
    # The flush writes no update when updated_at is set to the value it has; nor does the statement,
    # so the ticket's version, which tells screens and webhooks of a change, stays.
    ticket = await ticket_factory(customer_email="ines@example.org")
    scope_to_workspace(session.sync_session, workspace.id)
    act_as(session.sync_session, SYSTEM, clock)

    comment = await reply(session, clock, ticket.id, "Sent as the ticket was opened")

    held = await session.get_one(Ticket, ticket.id)
    assert not inspect(held).modified
    assert held.version == 1
    session.expunge_all()
    stored = await session.execute(select(Ticket.version).where(Ticket.id == ticket.id))
    assert stored.scalar_one() == 1
    assert [action for _, _, _, action, *_ in await events_of(session, "comment", comment.id)] == ["created"]


async def test_a_reply_with_other_changes_pending_goes_through_the_flush_with_them(
    session: AsyncSession,
    clock: FrozenClock,
    two_open_tickets: tuple[int, int],
    one_statement_writes: list[bool],
) -> None:
    first_id, second_id = two_open_tickets
    other = await session.get_one(Ticket, second_id)
    other.title = "Renamed in the same unit of work"

    comment = await reply(session, clock, first_id, "And another thing")

    assert one_statement_writes == [], "one statement would leave the other change out of the flush's order"
    assert comment.id is not None
    session.expunge_all()
    titles = await session.execute(
        select(Ticket.id, Ticket.title).where(Ticket.id.in_((first_id, second_id)))
    )
    assert dict(titles.all())[second_id] == "Renamed in the same unit of work"
