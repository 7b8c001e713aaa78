"""Concurrent writers: twenty at once on the default SQLite file (and on PostgreSQL) all succeed."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select

from supportdesk.app import create_app
from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.auth import service as auth_service
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.people import service as people_service
from supportdesk.tickets.models import Ticket
from supportdesk.workspaces import service as workspace_service
from tests.fixtures.database import make_settings

WRITERS = 20


async def test_twenty_concurrent_api_writers_all_succeed(real_database: Database, clock: FrozenClock) -> None:
    settings = make_settings(real_database.engine.url.render_as_string(hide_password=False))
    async with real_database.unit_of_work() as session:
        act_as(session.sync_session, SYSTEM, clock)
        workspace = await workspace_service.create_workspace(session, clock, slug="busy", name="Busy")
        agent = await people_service.create_user(
            session, clock, workspace_id=workspace.id, email="a@busy.example.com", name="A", role=Role.agent
        )
        token = await auth_service.create_personal_token(session, settings, clock, user=agent, name="load")
    app = create_app(settings, database=real_database, clock=clock)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token.secret}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/tickets", json={"title": f"Rush {n}", "customer_email": "same@example.com"}
                )
                for n in range(WRITERS)
            )
        )
    assert [response.status_code for response in responses] == [201] * WRITERS, [
        response.text for response in responses if response.status_code != 201
    ]
    async with real_database.unit_of_work(readonly=True) as session:
        numbers = sorted((await session.execute(select(Ticket.number))).scalars())
    assert numbers == list(range(1, WRITERS + 1))


# Only SQLite queues writers; PostgreSQL lets them work side by side.
@pytest.mark.parametrize("db_backend", ["sqlite"])
async def test_a_writer_keeps_its_turn_until_its_transaction_ends_not_its_savepoint(
    real_database: Database,
) -> None:
    """On SQLite one writer goes at a time. A savepoint released inside a transaction (finding or
    creating a customer takes one) ends nothing: the next writer still waits for the commit."""
    order: list[str] = []
    first_released_its_savepoint = asyncio.Event()
    first_may_commit = asyncio.Event()

    async def first() -> None:
        async with real_database.unit_of_work() as session:
            async with session.begin_nested():
                await session.execute(select(Ticket.id).limit(1))
            first_released_its_savepoint.set()
            await first_may_commit.wait()
            order.append("first commits")

    async def second() -> None:
        await first_released_its_savepoint.wait()
        async with real_database.unit_of_work() as session:
            order.append("second begins")
            await session.execute(select(Ticket.id).limit(1))

    writers = [asyncio.create_task(first()), asyncio.create_task(second())]
    await first_released_its_savepoint.wait()
    # Time for the second writer to get in, if a savepoint's end let it.
    for _ in range(20):
        await asyncio.sleep(0)
    first_may_commit.set()
    await asyncio.gather(*writers)

    assert order == ["first commits", "second begins"]
