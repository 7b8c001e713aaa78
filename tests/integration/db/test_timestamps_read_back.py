"""Timestamps come back from either database as aware UTC datetimes, whatever the session's time zone.

On PostgreSQL the driver's own decoding is trusted (no conversion per value), so this pins what it does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people.models import Customer
from supportdesk.workspaces.models import Workspace

BERLIN_SUMMER = timezone(timedelta(hours=2))


@pytest.mark.parametrize("session_zone", [None, "America/New_York", "Asia/Kolkata"])
async def test_a_stored_time_reads_back_as_the_same_instant_in_utc(
    session: AsyncSession,
    connection: AsyncConnection,
    workspace: Workspace,
    db_backend: str,
    session_zone: str | None,
) -> None:
    if session_zone is not None and db_backend == "postgresql":
        await connection.execute(text(f"SET LOCAL TIME ZONE '{session_zone}'"))
    scope_to_workspace(session.sync_session, workspace.id)
    stored = datetime(2026, 7, 1, 11, 30, 15, 250_000, tzinfo=BERLIN_SUMMER)
    session.add(Customer(email="ana@example.com", created_at=stored, updated_at=stored))
    await session.flush()
    session.expunge_all()

    created_at = (await session.execute(select(Customer.created_at))).scalar_one()

    assert created_at == stored
    assert created_at.utcoffset() == timedelta(0)
    assert created_at.tzinfo is UTC
    assert created_at.hour == 9
