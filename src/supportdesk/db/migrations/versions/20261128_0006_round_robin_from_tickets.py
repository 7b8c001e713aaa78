"""Round robin reads each agent's latest automatic assignment from the tickets.

The mark moves from the user row (one more UPDATE for every ticket assigned) to the ticket, which is
written anyway. Marks already on user rows are not carried over: round robin starts afresh.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_MARKED = "assignment_seq IS NOT NULL"


def upgrade() -> None:
    op.add_column("ticket", sa.Column("assignment_seq", BIGINT, nullable=True))
    op.create_index(
        "ix_ticket_agent_assignment",
        "ticket",
        ["workspace_id", "assigned_agent_id", "assignment_seq"],
        unique=False,
        postgresql_where=sa.text(_MARKED),
        sqlite_where=sa.text(_MARKED),
    )
    op.drop_column("user", "last_assignment_seq")


def downgrade() -> None:
    op.add_column("user", sa.Column("last_assignment_seq", BIGINT, server_default="0", nullable=False))
    op.execute(
        'UPDATE "user" SET last_assignment_seq = COALESCE((SELECT MAX(ticket.assignment_seq) FROM ticket '
        'WHERE ticket.assigned_agent_id = "user".id AND ticket.assignment_seq IS NOT NULL), 0)'
    )
    op.drop_index("ix_ticket_agent_assignment", table_name="ticket")
    op.drop_column("ticket", "assignment_seq")
