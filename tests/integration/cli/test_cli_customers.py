"""``supportdesk customers check-crm``: customers a desk had before its CRM was configured are checked
against it in the background, once each, and only in the workspaces asked for."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from supportdesk.core.clock import SystemClock
from supportdesk.db import migrate
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs.models import DeliveryChannel, DeliveryState, OutboxMessage
from supportdesk.people import service as people_service
from supportdesk.workspaces import service as workspace_service
from tests.fixtures.database import make_settings

from .conftest import Cli, single_error_line

pytestmark = pytest.mark.integration

CRM = {
    "SUPPORTDESK_CRM_KIND": "json",
    "SUPPORTDESK_CRM_URL": "https://crm.example.com/api",
    "SUPPORTDESK_CRM_TOKEN": "crm-token",
}


async def seed(cli: Cli, customers: dict[str, list[tuple[str, bool]]]) -> None:
    """Workspaces by slug with customers ``(e-mail, already checked)``, made with no CRM configured."""
    database = Database(create_engine(make_settings(cli.database_url)))
    clock = SystemClock()
    try:
        await migrate.upgrade(database.engine)
        for slug, people in customers.items():
            async with database.unit_of_work() as session:
                workspace = await workspace_service.create_workspace(session, clock, slug=slug, name=slug)
                scope_to_workspace(session.sync_session, workspace.id)
                for email, checked in people:
                    customer = await people_service.create_customer(session, clock, email=email)
                    if checked:
                        customer.crm_checked_at = clock.now() - timedelta(days=1)
    finally:
        await database.dispose()


async def crm_checks(cli: Cli) -> list[tuple[str, str, str, str]]:
    """The CRM messages in the outbox: (workspace slug, customer e-mail, target, state), in order."""
    database = Database(create_engine(make_settings(cli.database_url)))
    try:
        async with database.unit_of_work(readonly=True) as session:
            slugs = {w.id: w.slug for w in await workspace_service.list_workspaces(session)}
            # An unscoped session: every workspace's messages.
            query = (
                select(OutboxMessage)
                .where(OutboxMessage.channel == DeliveryChannel.crm)
                .order_by(OutboxMessage.id)
            )
            rows = (await session.execute(query)).scalars().all()
            return [(slugs[m.workspace_id], m.payload["email"], m.target, m.state) for m in rows]
    finally:
        await database.dispose()


@pytest.mark.parametrize("db_backend", ["sqlite", "postgresql"], indirect=True)
async def test_customers_never_checked_are_checked_once_each_in_the_workspace_asked_for(
    migrated_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(
        migrated_cli,
        {
            "acme": [("ann@example.com", False), ("bob@example.com", True), ("cy@example.com", False)],
            "globex": [("dee@example.com", False)],
        },
    )
    for name, value in CRM.items():
        monkeypatch.setenv(name, value)

    first = await migrated_cli.run("customers", "check-crm", "--workspace", "acme")
    again = await migrated_cli.run("customers", "check-crm", "--workspace", "acme")

    assert first.exit_code == 0, first.output
    assert first.stdout == "acme: 2 customer(s) to be checked against the CRM\n"
    # Still unchecked (the worker has not run), so asked about again, but under the same key: not twice.
    assert again.exit_code == 0, again.output
    assert await crm_checks(migrated_cli) == [
        ("acme", "ann@example.com", "json", DeliveryState.pending),
        ("acme", "cy@example.com", "json", DeliveryState.pending),
    ]


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_all_asks_about_every_customer_of_every_workspace_again(
    migrated_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(
        migrated_cli,
        {
            "acme": [("ann@example.com", False), ("bob@example.com", True)],
            "globex": [("dee@example.com", True)],
        },
    )
    for name, value in CRM.items():
        monkeypatch.setenv(name, value)

    result = await migrated_cli.run("customers", "check-crm", "--all")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "acme: 2 customer(s) to be checked against the CRM",
        "globex: 1 customer(s) to be checked against the CRM",
    ]
    assert [(slug, email) for slug, email, _target, _state in await crm_checks(migrated_cli)] == [
        ("acme", "ann@example.com"),
        ("acme", "bob@example.com"),
        ("globex", "dee@example.com"),
    ]


@pytest.mark.parametrize(
    ("environment", "args", "message"),
    [
        pytest.param({}, (), "no CRM is configured", id="no-crm"),
        pytest.param(
            {"SUPPORTDESK_CRM_KIND": "json", "SUPPORTDESK_CRM_TOKEN": "t"},
            (),
            "SUPPORTDESK_CRM_KIND=json needs SUPPORTDESK_CRM_URL",
            id="crm-without-url",
        ),
        pytest.param(CRM, ("--workspace", "nope"), "no workspace 'nope'", id="unknown-workspace"),
    ],
)
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_a_command_that_cannot_check_says_why_and_writes_nothing(
    migrated_cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    args: tuple[str, ...],
    message: str,
) -> None:
    await seed(migrated_cli, {"acme": [("ann@example.com", False)]})
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    result = await migrated_cli.run("customers", "check-crm", *args)

    assert result.exit_code != 0
    assert message in single_error_line(result)
    for name in environment:
        monkeypatch.delenv(name)  # so that the check below reads the database with valid settings
    assert await crm_checks(migrated_cli) == []
