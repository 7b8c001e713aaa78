"""Ticket participants: people besides the customer whom an agent has copied on a ticket's replies.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ticket_participant",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("added_by_user_id", _ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by_user_id"],
            ["user.id"],
            name=op.f("fk_ticket_participant_added_by_user_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_ticket_participant_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_ticket_participant_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_participant")),
        sa.UniqueConstraint("ticket_id", "email", name=op.f("uq_ticket_participant_ticket_id_email")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_ticket_participant_workspace_email", "ticket_participant", ["workspace_id", "email"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_participant_workspace_email", table_name="ticket_participant")
    op.drop_table("ticket_participant")
