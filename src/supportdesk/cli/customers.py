"""``supportdesk customers``: what an operator does to a desk's customers in bulk."""

from __future__ import annotations

from typing import Annotated

import typer

from supportdesk.cli.common import out, run_with_database
from supportdesk.cli.errors import fail
from supportdesk.config import Settings
from supportdesk.core.clock import SystemClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.integrations.crm.lookup import build_crm_client
from supportdesk.people import service as people_service
from supportdesk.workspaces import service as workspace_service

customers_app = typer.Typer(help="Customers: checking them against the CRM in bulk.", no_args_is_help=True)

# Customers asked about per transaction: each batch is written whole or not at all, and a command that
# stops half way is run again (customers already asked about are not asked twice, unless --all).
BATCH = 500


@customers_app.command("check-crm")
def check_crm(
    workspace: Annotated[str | None, typer.Option(help="Only this workspace (its slug).")] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Ask about every customer again, not only those never checked.")
    ] = False,
) -> None:
    """Have customers checked against the configured CRM in the background: those never checked (created
    before the CRM was configured, say), or every one with --all. The worker (or the server's background
    work) sends the look-ups through the outbox and stores each answer on its customer."""

    async def work(database: Database, loaded: Settings) -> dict[str, int]:
        # Settings that name a CRM without its URL or token were refused when they were read.
        client = build_crm_client(loaded)
        if client is None:
            fail("no CRM is configured: set SUPPORTDESK_CRM_KIND (and its URL and token) first")
        clock = SystemClock()
        async with database.unit_of_work(readonly=True) as session:
            if workspace is None:
                found = await workspace_service.list_workspaces(session)
            else:
                one = await workspace_service.get_workspace_by_slug(session, workspace)
                if one is None:
                    fail(f"no workspace {workspace!r}: see `supportdesk workspaces list`")
                found = [one]
            targets = {target.slug: target.id for target in found}
        asked: dict[str, int] = {}
        for slug, workspace_id in targets.items():
            asked[slug], after = 0, 0
            while True:
                async with database.unit_of_work() as session:
                    scope_to_workspace(session.sync_session, workspace_id)
                    ids = await people_service.request_crm_checks(
                        session, clock, client.name, recheck=every, after_id=after, limit=BATCH
                    )
                if not ids:
                    break
                asked[slug] += len(ids)
                after = ids[-1]
        return asked

    asked = run_with_database(work)
    for slug, count in asked.items():
        out.print(f"{slug}: {count} customer(s) to be checked against the CRM", markup=False, highlight=False)
