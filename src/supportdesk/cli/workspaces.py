"""``supportdesk workspaces``: the workspaces in the database."""

from __future__ import annotations

from typing import Annotated

import typer

from supportdesk.cli.common import Cell, print_rows, run_with_database
from supportdesk.config import Settings
from supportdesk.db.session import Database
from supportdesk.workspaces import service as workspace_service

workspaces_app = typer.Typer(help="Workspaces.", no_args_is_help=True)


@workspaces_app.command("list")
def workspaces_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array instead of columns.")] = False,
) -> None:
    """List the workspaces: id, slug, name and when each was created."""

    async def work(database: Database, _settings: Settings) -> list[dict[str, Cell]]:
        async with database.unit_of_work(readonly=True) as session:
            workspaces = await workspace_service.list_workspaces(session)
            return [
                {"id": ws.id, "slug": ws.slug, "name": ws.name, "created_at": ws.created_at}
                for ws in workspaces
            ]

    print_rows(run_with_database(work), ["id", "slug", "name", "created_at"], as_json=as_json)
