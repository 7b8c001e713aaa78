"""``supportdesk demo``: a lived-in workspace to try the product with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from supportdesk.cli.common import out, run_with_database, settings
from supportdesk.cli.errors import fail
from supportdesk.config import Settings
from supportdesk.core.clock import SystemClock
from supportdesk.db.session import Database

if TYPE_CHECKING:
    from supportdesk.demo import DemoCredentials


def demo(
    workspace: Annotated[str, typer.Option(help="Workspace slug for the demo data.")] = "demo",
    tickets: Annotated[int, typer.Option(min=0, max=100_000, help="How many tickets.")] = 500,
    customers: Annotated[int, typer.Option(min=1, max=10_000, help="How many customers.")] = 50,
    if_missing: Annotated[
        bool, typer.Option("--if-missing", help="Do nothing when the workspace exists already.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed, for repeatable data.")] = 7,
) -> None:
    """Fill a demo workspace with agents, customers, tickets and comments."""
    from supportdesk.demo import seed_demo

    if settings().env.value == "production":
        fail("refusing to create demo data with SUPPORTDESK_ENV=production: use a development database")

    async def work(database: Database, loaded: Settings) -> DemoCredentials | None:
        return await seed_demo(
            database,
            loaded,
            SystemClock(),
            workspace_slug=workspace,
            ticket_count=tickets,
            customer_count=customers,
            skip_if_exists=if_missing,
            seed=seed,
            console=out,
        )

    credentials = run_with_database(work)
    if credentials is None:
        out.print(f"workspace {workspace!r} exists; demo data left as it is")
        return
    out.print(f"demo workspace: {credentials.workspace}")
    out.print(f"log in as {credentials.admin_email} with password {credentials.admin_password}")
    out.print(f"admin API token: {credentials.admin_token}", soft_wrap=True, highlight=False)
