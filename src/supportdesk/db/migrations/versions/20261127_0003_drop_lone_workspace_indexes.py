"""Drop the single-column workspace_id indexes; index tags by name first.

Every query filters by something more selective than the workspace, and the composite indexes lead
with workspace_id where a workspace-wide scan is wanted. Without statistics, SQLite's planner picked
the lone workspace_id index over the selective one (e.g. scanning every tag of the workspace instead of
looking up a page of tickets' tags by primary key).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LONE_WORKSPACE_INDEXES = (
    "audit_event",
    "customer",
    "user",
    "api_token",
    "idempotency_record",
    "ticket",
    "comment",
    "ticket_tag",
)


def upgrade() -> None:
    for table in LONE_WORKSPACE_INDEXES:
        op.drop_index(f"ix_{table}_workspace_id", table_name=table)
    op.drop_index("ix_ticket_tag_workspace_name", table_name="ticket_tag")
    op.create_index("ix_ticket_tag_name_workspace", "ticket_tag", ["name", "workspace_id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_tag_name_workspace", table_name="ticket_tag")
    op.create_index("ix_ticket_tag_workspace_name", "ticket_tag", ["workspace_id", "name"])
    for table in LONE_WORKSPACE_INDEXES:
        op.create_index(f"ix_{table}_workspace_id", table, ["workspace_id"])
