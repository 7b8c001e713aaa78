"""Benchmark of the support workflows on PostgreSQL with a large ticket table.

Run ``.venv/bin/python bench/workflows.py --help``; docs/performance.md records the results.

1. Builds a fresh PostgreSQL database with supportdesk's migrations and loads ``--tickets`` tickets
   (default 1,000,000) with one ``INSERT ... SELECT generate_series`` per batch: a year of history,
   mostly closed, with the last two weeks in every status and their SLA columns set as the service
   would set them. Exactly ``--escalate`` open, unassigned tickets are overdue and not yet escalated.
2. **breach scan**: ``find_sla_breaches`` (first page of 50) for each target, timed over ``--rounds``.
3. **escalation**: one ``escalate_overdue_tickets`` run over the overdue tickets, commit included.
4. **create**: ``POST /api/v1/tickets`` at concurrency 8 against one uvicorn worker (bench/api.py's
   load loop), in two workspaces of the same database, in alternating rounds: *plain* (no policies, no
   automatic assignment) and *workflows* (a business-hours calendar with holidays as the default
   policy plus tier and category policies, and automatic assignment by round robin over six agents).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import (
    Fixture,
    alternating_creates,
    bench_settings,
    drop_postgres_database,
    machine,
    recreate_postgres_database,
    start_server,
    stop_server,
)
from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.auth import service as auth_service
from supportdesk.automation import tasks
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db import migrate
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people import service as people_service
from supportdesk.people.models import Tier, User
from supportdesk.sla import service as sla_service
from supportdesk.sla.models import BusinessCalendar, SlaPolicy
from supportdesk.tickets.models import Ticket
from supportdesk.workspaces import service as workspace_service
from supportdesk.workspaces.models import Workspace

DEFAULT_URL: Final = "postgresql+asyncpg://postgres@127.0.0.1:5432/supportdesk_bench_workflows"
NOW: Final = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # a Monday afternoon
SPACING_SECONDS: Final = 30  # a million tickets span about a year
ACTIVE_DAYS: Final = 14
BATCH: Final = 100_000
CONCURRENCY: Final = 8

# Tickets older than two weeks are closed; newer ones cycle through the statuses. Due times follow the
# default targets (hours) per priority, as the service computes them in calendar time.
_SEED = """
INSERT INTO ticket (
    workspace_id, number, title, description, status, priority, category, channel, escalated,
    created_at, updated_at, version, sla_paused_seconds, assigned_agent_id,
    first_responded_at, resolved_at, closed_at, sla_paused_at,
    first_response_due_at, resolution_due_at, first_response_at_risk_at, resolution_at_risk_at
)
SELECT
    CAST(:workspace_id AS bigint), g, 'Ticket ' || g, '', s.status, p.priority, 'general', 'api',
    s.status = 'open',
    c.created, c.created, 1, 0,
    CASE WHEN s.status IN ('assigned', 'in_progress', 'pending', 'resolved', 'closed')
         THEN CAST(:agent_id AS bigint) END,
    CASE WHEN s.status IN ('in_progress', 'pending', 'resolved', 'closed')
         THEN c.created + interval '1 hour' END,
    CASE WHEN s.status IN ('resolved', 'closed') THEN c.created + interval '1 day' END,
    CASE WHEN s.status = 'closed' THEN c.created + interval '8 days' END,
    CASE WHEN s.status IN ('pending', 'resolved', 'closed') THEN c.created + interval '2 hours' END,
    c.created + p.first_response * interval '1 hour',
    c.created + p.resolution * interval '1 hour',
    c.created + p.first_response * interval '45 minutes',
    c.created + p.resolution * interval '45 minutes'
FROM generate_series(CAST(:start AS bigint), CAST(:stop AS bigint)) AS g
CROSS JOIN LATERAL (
    SELECT CAST(:now AS timestamptz) - (CAST(:total AS bigint) - g) * interval '30 seconds' AS created
) AS c
CROSS JOIN LATERAL (
    SELECT
        (ARRAY['low', 'medium', 'high', 'critical'])[1 + g % 4] AS priority,
        (ARRAY[72, 24, 4, 1])[1 + g % 4] AS first_response,
        (ARRAY[168, 72, 24, 8])[1 + g % 4] AS resolution
) AS p
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN c.created < CAST(:now AS timestamptz) - interval '14 days' THEN 'closed'
        ELSE (ARRAY['open', 'open', 'open', 'open', 'assigned', 'assigned', 'in_progress', 'pending',
                    'resolved', 'resolved'])[1 + g % 10]
    END AS status
) AS s
"""
# Leave exactly ``count`` overdue, unassigned open tickets to escalate: the newest overdue ones.
_KEEP_TO_ESCALATE = """
UPDATE ticket SET escalated = false
WHERE id IN (
    SELECT id FROM ticket
    WHERE workspace_id = :workspace_id AND status = 'open' AND assigned_agent_id IS NULL
      AND first_responded_at IS NULL AND first_response_due_at < :now
    ORDER BY first_response_due_at DESC
    LIMIT :count
)
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def make_staff(
    database: Database, clock: FrozenClock, workspace_id: int, agents: int
) -> tuple[list[int], User]:
    """Staff of one workspace: an admin, a senior agent and ``agents`` agents; returns the agents' ids
    and the admin (who acts in the create rounds)."""
    ids: list[int] = []
    admin: User | None = None
    async with database.unit_of_work() as session:
        act_as(session.sync_session, SYSTEM, clock)
        scope_to_workspace(session.sync_session, workspace_id)
        for role, count in ((Role.admin, 1), (Role.senior_agent, 1), (Role.agent, agents)):
            for index in range(count):
                user = await people_service.create_user(
                    session,
                    clock,
                    workspace_id=workspace_id,
                    email=f"{role.value}{index}.{workspace_id}@example.com",
                    name=f"{role.value} {index}",
                    role=role,
                )
                if role is Role.agent:
                    ids.append(user.id)
                elif role is Role.admin:
                    admin = user
    assert admin is not None
    return ids, admin


async def new_workspace(database: Database, clock: FrozenClock, slug: str) -> int:
    async with database.unit_of_work() as session:
        act_as(session.sync_session, SYSTEM, clock)
        workspace = await workspace_service.create_workspace(session, clock, slug=slug, name=slug)
        return workspace.id


async def seed(database: Database, workspace_id: int, agent_id: int, total: int, escalate: int) -> None:
    started = time.perf_counter()
    async with database.engine.begin() as connection:
        for start in range(1, total + 1, BATCH):
            stop = min(start + BATCH - 1, total)
            await connection.execute(
                text(_SEED),
                {
                    "workspace_id": workspace_id,
                    "agent_id": agent_id,
                    "start": start,
                    "stop": stop,
                    "total": total,
                    "now": NOW,
                },
            )
            log(f"  seeded {stop:,} tickets")
        await connection.execute(
            text("UPDATE workspace SET ticket_counter = :total WHERE id = :id"),
            {"total": total, "id": workspace_id},
        )
        await connection.execute(
            text(_KEEP_TO_ESCALATE), {"workspace_id": workspace_id, "now": NOW, "count": escalate}
        )
    async with database.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE ticket"))
    log(f"  seeded and analysed in {time.perf_counter() - started:.1f} s")


def percentile(samples: Sequence[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def breach_scan(database: Database, workspace_id: int, rounds: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, workspace_id)
        breached = (
            await session.execute(
                select(func.count()).select_from(Ticket).where(sla_service.sla_breached(NOW))
            )
        ).scalar_one()
        results["breached tickets"] = {"count": float(breached)}
        for target in sla_service.BreachTarget:
            samples = []
            for _ in range(rounds):
                started = time.perf_counter()
                page = await sla_service.find_sla_breaches(session, NOW, target=target, limit=50)
                samples.append((time.perf_counter() - started) * 1000)
                assert len(page.items) == 50
            results[target] = {"p50_ms": statistics.median(samples), "p95_ms": percentile(samples, 0.95)}
    return results


async def escalation(database: Database, workspace_id: int, expected: int) -> dict[str, float]:
    clock = FrozenClock(NOW)
    started = time.perf_counter()
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace_id)
        act_as(session.sync_session, SYSTEM, clock)
        workspace = await session.get_one(Workspace, workspace_id)
        escalated = await tasks.escalate_overdue_tickets(session, clock, workspace)
    seconds = time.perf_counter() - started
    assert escalated == expected, (escalated, expected)
    return {"escalated": float(escalated), "seconds": seconds}


async def configure_workflows(database: Database, clock: FrozenClock, workspace_id: int) -> None:
    """Business hours, tier and category policies, and round-robin assignment."""
    async with database.unit_of_work() as session:
        act_as(session.sync_session, SYSTEM, clock)
        scope_to_workspace(session.sync_session, workspace_id)
        calendar = BusinessCalendar(
            workspace_id=workspace_id,
            name="Office",
            timezone="Europe/Berlin",
            weekly_hours={
                day: [["08:00", "18:00"]] for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
            },
            holiday_country="DE",
            custom_holidays=[date(2026, 12, 24).isoformat()],
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        session.add(calendar)
        await session.flush()
        for name, tier, category in (
            ("Office hours", None, None),
            ("Enterprise", Tier.enterprise, None),
            ("Billing", None, "billing"),
            ("Premium billing", Tier.premium, "billing"),
        ):
            session.add(
                SlaPolicy(
                    workspace_id=workspace_id,
                    name=name,
                    tier=tier,
                    category=category,
                    calendar_id=calendar.id,
                    first_response_minutes={"critical": 30, "high": 120},
                    resolution_minutes={"critical": 240},
                    created_at=clock.now(),
                    updated_at=clock.now(),
                )
            )
        workspace = await session.get_one(Workspace, workspace_id)
        workspace.auto_assign = True
        await sla_service.bump_revision(session, workspace_id)


async def creates(database: Database, url: str, args: argparse.Namespace, work_dir: Path) -> dict[str, Any]:
    """Ticket creation over HTTP (one uvicorn worker, as bench/api.py measures it) in two workspaces."""
    clock = FrozenClock(NOW)
    settings = bench_settings(url)
    fixtures: dict[str, Fixture] = {}
    for kind in ("plain", "workflows"):
        workspace_id = await new_workspace(database, clock, kind)
        _, admin = await make_staff(database, clock, workspace_id, agents=6)
        if kind == "workflows":
            await configure_workflows(database, clock, workspace_id)
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace_id)
            issued = await auth_service.create_personal_token(
                session, settings, clock, user=admin, name="bench"
            )
        fixtures[kind] = Fixture(
            backend="postgresql",
            database_url=url,
            workspace_id=workspace_id,
            token=issued.secret,
            tickets=0,
            load_seconds=0.0,
            cursors=[],
            server_version="",
        )
    server = await start_server("supportdesk", url, fixtures["plain"].workspace_id, work_dir, None)
    try:
        results = await alternating_creates(
            server, fixtures, rounds=args.create_rounds, creates=args.creates, label="postgresql"
        )
    finally:
        stop_server(server)
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, fixtures["workflows"].workspace_id)
        unassigned = (
            await session.execute(
                select(func.count()).select_from(Ticket).where(Ticket.assigned_agent_id.is_(None))
            )
        ).scalar_one()
    assert unassigned == 0, "every ticket of the workflows workspace should have been assigned"
    summaries = {kind: result.summary() for kind, result in results.items()}
    return {
        **{
            kind: {key: summary[key] for key in ("throughput", "p50_ms", "p95_ms", "requests", "errors")}
            for kind, summary in summaries.items()
        },
        "ratio": results["workflows"].throughput / results["plain"].throughput,
    }


async def main_async(args: argparse.Namespace) -> int:
    url: str = args.postgres_url
    await recreate_postgres_database(url)
    database = Database(create_engine(bench_settings(url), url=url))
    try:
        await migrate.upgrade(database.engine)
        clock = FrozenClock(NOW)
        log(f"loading {args.tickets:,} tickets")
        workspace_id = await new_workspace(database, clock, "big")
        agents, _ = await make_staff(database, clock, workspace_id, agents=1)
        await seed(database, workspace_id, agents[0], args.tickets, args.escalate)
        log("breach scan")
        scan = await breach_scan(database, workspace_id, args.rounds)
        log("escalation")
        escalated = await escalation(database, workspace_id, args.escalate)
        log("create over HTTP")
        with tempfile.TemporaryDirectory(prefix="supportdesk-bench-") as work_dir:
            created = await creates(database, url, args, Path(work_dir))
        report = {
            "machine": machine(),
            "tickets": args.tickets,
            "breach_scan": scan,
            "escalation": escalated,
            "create": created,
        }
        print_report(report)
    finally:
        await database.dispose()
        if not args.keep:
            await drop_postgres_database(url)
    return 0


def print_report(report: dict[str, Any]) -> None:
    scan = report["breach_scan"]
    print(f"tickets: {report['tickets']:,}, breached now: {int(scan['breached tickets']['count']):,}")
    for target in ("any", "first_response", "resolution"):
        print(
            f"breach scan ({target}, first page of 50): "
            f"p50 {scan[target]['p50_ms']:.2f} ms, p95 {scan[target]['p95_ms']:.2f} ms"
        )
    escalation_result = report["escalation"]
    print(
        f"escalation: {int(escalation_result['escalated']):,} tickets in {escalation_result['seconds']:.2f} s"
    )
    create = report["create"]
    for kind in ("plain", "workflows"):
        numbers = create[kind]
        print(
            f"create over HTTP, c={CONCURRENCY}, {kind}: {numbers['throughput']:.0f} tickets/s, "
            f"p50 {numbers['p50_ms']:.1f} ms, p95 {numbers['p95_ms']:.1f} ms "
            f"({numbers['requests']} requests, {numbers['errors']} errors)"
        )
    print(f"workflows / plain: {create['ratio']:.2f}")
    print(f"machine: {report['machine']}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres-url", default=DEFAULT_URL, help="recreated, then dropped")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--escalate", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=50, help="breach scans per target")
    parser.add_argument("--creates", type=int, default=1000, help="tickets per create round and kind")
    parser.add_argument("--create-rounds", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
