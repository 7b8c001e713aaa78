"""A ticket's fields are defined once, by the model; every other shape of a ticket is checked against it.

The API view (``TicketOut``) shows model columns with their nullability; a list page reads exactly what
that view and the SLA view need (``ListedTicket``), no more and no less. Adding a column to the view
without the list read (or the other way round) fails here, naming the field.
"""

from __future__ import annotations

import types
import typing
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table

from supportdesk.sla import service as sla_service
from supportdesk.tickets.models import ListedTicket, Priority, Ticket, TicketStatus
from supportdesk.tickets.views import TicketOut

TABLE = typing.cast(Table, Ticket.__table__)
# Fields of the view that are not columns: tags come from their own table, the SLA is computed.
NOT_COLUMNS = frozenset({"tags", "sla"})
VIEW_COLUMNS = [name for name in TicketOut.model_fields if name not in NOT_COLUMNS]


def _admits_none(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation) or annotation is type(None)


@pytest.mark.parametrize("name", VIEW_COLUMNS)
def test_each_field_of_the_view_is_a_column_with_the_same_nullability(name: str) -> None:
    assert name in TABLE.c, f"TicketOut.{name} is not a column of the ticket table"
    assert _admits_none(TicketOut.model_fields[name].annotation) == TABLE.c[name].nullable


def test_a_list_page_reads_what_the_ticket_view_and_the_sla_view_need_and_nothing_else() -> None:
    listed = {field.name for field in fields(ListedTicket)} - NOT_COLUMNS
    needed = set(VIEW_COLUMNS) | set(sla_service.VIEW_COLUMNS)

    assert sorted(needed - listed) == [], "read these for the list too"
    assert sorted(listed - needed) == [], "the list reads these but nothing shows them"


def test_the_sla_view_reads_only_its_declared_columns() -> None:
    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    only_declared = types.SimpleNamespace(
        **dict.fromkeys(sla_service.VIEW_COLUMNS)
        | {
            "priority": Priority.high,
            "status": TicketStatus.open,
            "created_at": now,
            "sla_paused_seconds": 0,
            "first_response_due_at": now + timedelta(hours=4),
            "resolution_due_at": now + timedelta(hours=24),
        }
    )
    setup = sla_service.SlaSetup(revision=1, policies=(), by_id={})

    view = sla_service.sla_view(only_declared, setup, now)  # type: ignore[arg-type]

    assert view.first_response is not None
    assert view.first_response.state.value == "ok"
