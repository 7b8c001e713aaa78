"""An id, once handed out, is never handed out again, even after its row (the newest) was deleted.

SQLite used to give the next row max(id) + 1, so the newest ticket's id came back after a delete, and
with it the deleted ticket's audit trail and the Location of an old idempotent response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import Table, inspect

from supportdesk.auth import service as auth_service
from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.db.base import Base
from supportdesk.db.session import Database
from supportdesk.people.models import User
from supportdesk.tickets.models import Ticket
from tests.factories.people import CustomerFactory, UserFactory
from tests.factories.tickets import CommentFactory, TicketFactory
from tests.fixtures.app import ApiClient


@dataclass
class Rows:
    """Makes one new row of a kind, through the same services the API uses."""

    database: Database
    settings: Settings
    clock: FrozenClock
    tickets: TicketFactory
    customers: CustomerFactory
    comments: CommentFactory
    users: UserFactory
    parent: Ticket | None = None
    author: User | None = None

    async def ticket(self) -> Base:
        return await self.tickets()

    async def customer(self) -> Base:
        return await self.customers()

    async def user(self) -> Base:
        return await self.users()

    async def comment(self) -> Base:
        self.parent = self.parent or await self.tickets()
        return await self.comments(self.parent, author=await self._author())

    async def api_token(self) -> Base:
        async with self.database.unit_of_work() as session:
            issued = await auth_service.create_personal_token(
                session, self.settings, self.clock, user=await self._author(), name="ids"
            )
        return issued.record

    async def _author(self) -> User:
        self.author = self.author or await self.users()
        return self.author


@pytest.fixture
def rows(
    database: Database,
    settings: Settings,
    clock: FrozenClock,
    ticket_factory: TicketFactory,
    customer_factory: CustomerFactory,
    comment_factory: CommentFactory,
    user_factory: UserFactory,
) -> Rows:
    return Rows(database, settings, clock, ticket_factory, customer_factory, comment_factory, user_factory)


async def _delete(database: Database, row: Base) -> int:
    """Delete ``row`` with a plain DELETE (no API deletes every kind) and return its id."""
    state = inspect(row)
    table = state.mapper.local_table
    assert isinstance(table, Table)
    assert state.identity is not None
    row_id = int(state.identity[0])
    async with database.unit_of_work() as session:
        await session.execute(table.delete().where(table.c.id == row_id))
    return row_id


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(Rows.ticket, id="ticket"),
        pytest.param(Rows.customer, id="customer"),
        pytest.param(Rows.comment, id="comment"),
        pytest.param(Rows.api_token, id="api-token"),
        pytest.param(Rows.user, id="user"),
    ],
)
async def test_the_id_of_a_deleted_newest_row_is_not_given_again(
    rows: Rows, database: Database, make: Callable[[Rows], Awaitable[Base]]
) -> None:
    deleted_id = await _delete(database, await make(rows))
    again = inspect(await make(rows)).identity
    assert again is not None
    assert again[0] > deleted_id


async def _create_ticket(client: ApiClient, title: str, key: str | None = None) -> tuple[int, str]:
    headers = {"Idempotency-Key": key} if key else {}
    response = await client.post("/api/v1/tickets", json={"title": title}, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"]), response.headers["location"]


async def test_a_new_ticket_after_a_delete_has_only_its_own_audit_trail(admin_client: ApiClient) -> None:
    old_id, _ = await _create_ticket(admin_client, "Export times out")
    await admin_client.patch(f"/api/v1/tickets/{old_id}", json={"priority": "critical"})
    assert (await admin_client.delete(f"/api/v1/tickets/{old_id}")).status_code == 204

    new_id, _ = await _create_ticket(admin_client, "Unrelated question")

    assert new_id != old_id
    trail = await admin_client.get(f"/api/v1/tickets/{new_id}/audit")
    assert trail.status_code == 200
    events = trail.json()
    assert [event["action"] for event in events] == ["created"]
    assert events[0]["changes"]["title"] == [None, "Unrelated question"]


async def test_an_old_idempotency_key_replays_a_location_that_now_answers_404(
    admin_client: ApiClient,
) -> None:
    old_id, old_location = await _create_ticket(admin_client, "Export times out", key="export-timeout")
    assert (await admin_client.delete(old_location)).status_code == 204
    new_id, _ = await _create_ticket(admin_client, "Unrelated question")

    replay = await admin_client.post(
        "/api/v1/tickets", json={"title": "Export times out"}, headers={"Idempotency-Key": "export-timeout"}
    )

    assert new_id != old_id
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["location"] == old_location == f"/api/v1/tickets/{old_id}"
    assert (await admin_client.get(replay.headers["location"])).status_code == 404
