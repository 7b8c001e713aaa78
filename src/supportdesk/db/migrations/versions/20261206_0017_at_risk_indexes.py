"""Indexes on the moments running SLA targets fall at risk.

The "SLA at risk" queue, and its count on every page of the workspace, look for running targets past
their at-risk moment and not yet due. The due-time indexes can only walk every target not yet due to
find them; these partial indexes (of running targets only, like the due-time ones) walk those whose
at-risk moment has passed, which in a desk that keeps its promises are few.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    (
        "ix_ticket_first_response_at_risk",
        "first_responded_at IS NULL AND status IN ('open', 'assigned', 'pending')",
        "first_response_at_risk_at",
    ),
    (
        "ix_ticket_resolution_at_risk",
        "status IN ('open', 'assigned', 'in_progress')",
        "resolution_at_risk_at",
    ),
)


def upgrade() -> None:
    for name, predicate, column in _INDEXES:
        op.create_index(
            name,
            "ticket",
            ["workspace_id", column],
            postgresql_where=sa.text(predicate),
            sqlite_where=sa.text(predicate),
        )


def downgrade() -> None:
    for name, _predicate, _column in _INDEXES:
        op.drop_index(name, table_name="ticket")
