"""Indexes of each agent's tickets in play, for "My tickets".

"My tickets", and its count on every page of the workspace, asks for an agent's tickets that somebody
still has to act on. Counting them up to the badge's cap, PostgreSQL preferred a scan of the table
from its start, expecting to meet the agent's tickets evenly on the way; they are the recently
created and changed rows, at its end, so the scan read nearly all of it. Listing them SLA due first,
it walked the workspace's due-time indexes and skipped every other agent's ticket, which read all of
them whenever the agent had none of that clock running.

The first index holds only active tickets, by agent, so the count reads at most a hundred of its
entries. The other two hold the agent's running targets in due order, as the workspace's due-time
indexes do for everyone, so the list reads the agent's next due tickets and no others.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES: tuple[tuple[str, str, list[str]], ...] = (
    (
        "ix_ticket_active_assignee",
        "status IN ('open', 'assigned', 'in_progress', 'pending')",
        [],
    ),
    (
        "ix_ticket_assignee_first_response_due",
        "first_responded_at IS NULL AND status IN ('open', 'assigned', 'pending')",
        ["first_response_due_at"],
    ),
    (
        "ix_ticket_assignee_resolution_due",
        "status IN ('open', 'assigned', 'in_progress')",
        ["resolution_due_at"],
    ),
)


def upgrade() -> None:
    for name, predicate, columns in _INDEXES:
        op.create_index(
            name,
            "ticket",
            ["workspace_id", "assigned_agent_id", *columns],
            postgresql_where=sa.text(predicate),
            sqlite_where=sa.text(predicate),
        )


def downgrade() -> None:
    for name, _predicate, _columns in _INDEXES:
        op.drop_index(name, table_name="ticket")
