"""Index tickets by last update, for lists sorted by recent activity.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_ticket_workspace_updated", "ticket", ["workspace_id", "updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_workspace_updated", table_name="ticket")
