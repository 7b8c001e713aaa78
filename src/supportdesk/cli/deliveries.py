"""``supportdesk deliveries``: the outbox as operators see it, and retrying what was dead-lettered."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.cli.common import Cell, json_value, out, print_rows, run_with_database
from supportdesk.cli.errors import fail
from supportdesk.config import Settings
from supportdesk.core.clock import SystemClock
from supportdesk.core.errors import SupportdeskError
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs import deliveries
from supportdesk.jobs.models import OPEN_STATES, DeliveryChannel, DeliveryState, OutboxMessage

deliveries_app = typer.Typer(
    help="Deliveries: e-mail, webhooks and CRM calls in the outbox.", no_args_is_help=True
)

WorkspaceOption = Annotated[str | None, typer.Option(help="Only this workspace (its slug).")]
COLUMNS = ["id", "workspace_id", "channel", "target", "state", "attempts", "next_attempt_at", "last_error"]
# The most a single `retry --all-dead` takes on; run it again for more.
RETRY_BATCH = 1000


def _row(message: OutboxMessage) -> dict[str, Cell]:
    return {
        "id": message.id,
        "workspace_id": message.workspace_id,
        "channel": message.channel,
        "target": message.target,
        "state": message.state,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at if message.state in OPEN_STATES else None,
        "last_error": message.last_error,
    }


async def _scope(session: AsyncSession, workspace: str | None) -> None:
    if workspace is None:
        return
    from supportdesk.workspaces import service as workspace_service

    found = await workspace_service.get_workspace_by_slug(session, workspace)
    if found is None:
        fail(f"no workspace {workspace!r}: see `supportdesk workspaces list`")
    scope_to_workspace(session.sync_session, found.id)


@deliveries_app.command("list")
def deliveries_list(
    workspace: WorkspaceOption = None,
    state: Annotated[DeliveryState | None, typer.Option(help="Only deliveries in this state.")] = None,
    channel: Annotated[DeliveryChannel | None, typer.Option(help="Only this channel.")] = None,
    ticket: Annotated[int | None, typer.Option(min=1, help="Only deliveries about this ticket id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array instead of columns.")] = False,
) -> None:
    """List deliveries, newest first, across every workspace unless --workspace names one."""

    async def work(database: Database, _settings: Settings) -> list[dict[str, Cell]]:
        async with database.unit_of_work(readonly=True) as session:
            await _scope(session, workspace)
            filters = deliveries.DeliveryFilter(state=state, channel=channel, ticket_id=ticket)
            rows, _next = await deliveries.list_deliveries(session, filters, limit=limit)
            return [_row(row) for row in rows]

    print_rows(run_with_database(work), COLUMNS, as_json=as_json)


@deliveries_app.command("show")
def deliveries_show(delivery_id: Annotated[int, typer.Argument(min=1, help="The delivery's id.")]) -> None:
    """Print one delivery as JSON: its state, payload and every attempt."""

    async def work(database: Database, _settings: Settings) -> dict[str, object]:
        async with database.unit_of_work(readonly=True) as session:
            message = await _get(session, delivery_id)
            attempts = (await deliveries.attempts_of(session, [message.id]))[message.id]
            shown: dict[str, object] = {key: json_value(value) for key, value in _row(message).items()}
            shown.update(
                dedupe_key=message.dedupe_key,
                ticket_id=message.ticket_id,
                created_at=message.created_at.isoformat(),
                delivered_at=message.delivered_at.isoformat() if message.delivered_at else None,
                provider=message.provider,
                manual_retries=message.manual_retries,
                payload=message.payload,
                attempt_log=[
                    {
                        "number": attempt.number,
                        "started_at": attempt.started_at.isoformat(),
                        "duration_ms": attempt.duration_ms,
                        "succeeded": attempt.succeeded,
                        "status_code": attempt.status_code,
                        "error": attempt.error,
                    }
                    for attempt in attempts
                ],
            )
            return shown

    out.print_json(json.dumps(run_with_database(work)))


@deliveries_app.command("retry")
def deliveries_retry(
    delivery_ids: Annotated[
        list[int] | None, typer.Argument(help="The ids of the deliveries to retry.")
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Retry every dead delivery.")] = False,
    workspace: WorkspaceOption = None,
    channel: Annotated[
        DeliveryChannel | None, typer.Option(help="With --all-dead: only this channel.")
    ] = None,
) -> None:
    """Make dead deliveries due again with a fresh set of attempts; prints one line per delivery."""
    if bool(delivery_ids) == all_dead:
        fail("name the deliveries to retry, or give --all-dead (not both)")

    async def work(database: Database, _settings: Settings) -> list[str]:
        clock = SystemClock()
        lines: list[str] = []
        async with database.unit_of_work() as session:
            await _scope(session, workspace)
            if all_dead:
                filters = deliveries.DeliveryFilter(state=DeliveryState.dead, channel=channel)
                messages, _next = await deliveries.list_deliveries(session, filters, limit=RETRY_BATCH)
            else:
                messages = [await _get(session, delivery_id) for delivery_id in delivery_ids or []]
            for message in messages:
                try:
                    await deliveries.retry_delivery(session, clock, message)
                except SupportdeskError as refused:
                    fail(f"delivery {message.id}: {refused.detail}; nothing was retried")
                lines.append(f"delivery {message.id} ({message.channel} to {message.target}) is due again")
        return lines

    lines = run_with_database(work)
    for line in lines:
        out.print(line, markup=False, highlight=False)
    if not lines:
        out.print("no dead deliveries", markup=False, highlight=False)


async def _get(session: AsyncSession, delivery_id: int) -> OutboxMessage:
    try:
        return await deliveries.get_delivery(session, delivery_id)
    except SupportdeskError:
        fail(f"no delivery {delivery_id}: see `supportdesk deliveries list`")
