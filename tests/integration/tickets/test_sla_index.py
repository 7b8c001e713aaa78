"""The breach scan reads the partial SLA indexes, not the whole ticket table (PostgreSQL's planner).

Thousands of tickets, most of them closed, are inserted in the test's transaction; the breach query is
run as the application runs it (a workspace-scoped session, so with the tenancy criterion, and with its
parameters), its SQL is captured from the connection, and ``EXPLAIN`` of exactly that SQL must name
the partial index of each target and no sequential scan of ``ticket``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.sla import service as sla_service
from supportdesk.sla.service import BreachTarget
from supportdesk.workspaces.models import Workspace
from tests.fixtures.clock import FROZEN_AT

TICKETS = 5_000


@pytest.fixture(params=[pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)])
def db_backend(request: pytest.FixtureRequest) -> str:
    """Only PostgreSQL: SQLite has no statistics-driven planner to hold to a plan."""
    return str(request.param)


# Per ticket n: 80% closed (in neither partial index), 10% in progress and answered (resolution clock
# only), 10% open and unanswered (both clocks). Due times spread over the next day or two, a few
# hours of them already past, so only a handful of tickets are breached.
_BULK_INSERT = text(
    """
    INSERT INTO ticket (
        workspace_id, number, title, description, status, priority, category, channel, escalated,
        created_at, updated_at, first_responded_at, closed_at, resolved_at,
        first_response_due_at, resolution_due_at, first_response_at_risk_at, resolution_at_risk_at,
        sla_paused_seconds, version
    )
    SELECT
        :workspace_id, n, 'Bulk ticket ' || n, '',
        CASE n % 10 WHEN 9 THEN 'open' WHEN 8 THEN 'in_progress' ELSE 'closed' END,
        'medium', 'general', 'api', false,
        created, created,
        CASE WHEN n % 10 = 9 THEN NULL ELSE created END,
        CASE WHEN n % 10 < 8 THEN created END,
        CASE WHEN n % 10 < 8 THEN created END,
        fr_due, res_due, fr_due - interval '6 hours', res_due - interval '18 hours',
        0, 1
    FROM (
        SELECT
            n,
            CAST(:now AS timestamptz) - (n % 48) * interval '1 hour' AS created,
            CAST(:now AS timestamptz) + ((n / 10) % 40 - 2) * interval '1 hour' AS fr_due,
            CAST(:now AS timestamptz) + ((n / 10) % 30 - 1) * interval '1 hour' AS res_due
        FROM generate_series(1, :count) AS n
    ) AS bulk
    """
)


@pytest.fixture
async def busy_session(database: Database, workspace: Workspace) -> AsyncIterator[AsyncSession]:
    """A session scoped to the workspace, over thousands of its tickets, with fresh statistics."""
    async with database.new_session() as db_session:
        await db_session.execute(
            _BULK_INSERT, {"workspace_id": workspace.id, "now": FROZEN_AT, "count": TICKETS}
        )
        await db_session.execute(text("ANALYZE ticket"))
        scope_to_workspace(db_session.sync_session, workspace.id)
        yield db_session


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


async def explain_breach_scan(
    session: AsyncSession, now: datetime, target: BreachTarget
) -> tuple[int, dict[str, Any]]:
    """Run the breach scan as the app does, then EXPLAIN the exact SQL and parameters it sent."""
    connection = (await session.connection()).sync_connection
    assert connection is not None
    sent: list[tuple[str, Sequence[Any]]] = []

    def capture(_conn: Connection, _cursor: Any, statement: str, parameters: Sequence[Any], *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", capture)
    try:
        page = await sla_service.find_sla_breaches(session, now, target=target)
    finally:
        event.remove(connection, "before_cursor_execute", capture)
    assert len(sent) == 1, [statement for statement, _ in sent]
    statement, parameters = sent[0]
    assert "workspace_id" in statement  # the tenancy criterion is part of what runs
    result = await session.connection()
    rows = await result.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", tuple(parameters))
    plan: dict[str, Any] = rows.scalar_one()[0]["Plan"]
    return len(page.items), plan


@pytest.mark.parametrize(
    ("target", "indexes"),
    [
        pytest.param(
            BreachTarget.first_response, {"ix_ticket_first_response_due"}, id="first-response-by-due"
        ),
        pytest.param(BreachTarget.resolution, {"ix_ticket_resolution_due"}, id="resolution-by-due"),
        pytest.param(
            BreachTarget.any, {"ix_ticket_first_response_due", "ix_ticket_resolution_due"}, id="any-target"
        ),
    ],
)
async def test_the_breach_scan_uses_the_partial_index_not_a_sequential_scan(
    busy_session: AsyncSession, target: BreachTarget, indexes: set[str]
) -> None:
    found, plan = await explain_breach_scan(busy_session, FROZEN_AT, target)
    nodes = list(_nodes(plan))
    used = {node["Index Name"] for node in nodes if "Index Name" in node}
    scanned = {node.get("Relation Name") for node in nodes if node["Node Type"] == "Seq Scan"}
    assert indexes <= used, plan
    assert "ticket" not in scanned, plan
    assert found > 0  # the scan finds the breached tickets it is planned for


async def test_the_sample_is_mostly_settled_tickets(busy_session: AsyncSession) -> None:
    """The premise of the plan test: the running clocks are a small share of the table."""
    counts = (
        await busy_session.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE status IN ('open', 'assigned', 'in_progress')) "
                "FROM ticket"
            )
        )
    ).one()
    assert tuple(counts) == (TICKETS, TICKETS // 5)
