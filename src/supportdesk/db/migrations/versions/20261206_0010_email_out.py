"""E-mail out: a workspace's sender identity and providers, its own templates, and staff preferences.

Every existing workspace gets a random key of its own for signing per-ticket reply addresses.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "email_template",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "ticket_received",
                "agent_reply",
                "status_changed",
                "satisfaction_request",
                "ticket_assigned",
                "sla_breached",
                "ticket_escalated",
                name="email_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_email_template_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_template")),
        sa.UniqueConstraint("workspace_id", "kind", name=op.f("uq_email_template_workspace_id_kind")),
        sqlite_autoincrement=True,
    )
    op.add_column(
        "user", sa.Column("email_notifications", sa.Boolean(), server_default=sa.true(), nullable=False)
    )
    # Plain ALTER TABLEs, never a rebuild: a rebuilt workspace table would lose its AUTOINCREMENT (0008).
    op.add_column(
        "workspace", sa.Column("email_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
    )
    op.add_column("workspace", sa.Column("email_from_address", sa.String(length=254), nullable=True))
    op.add_column("workspace", sa.Column("email_from_name", sa.String(length=200), nullable=True))
    op.add_column("workspace", sa.Column("email_reply_address", sa.String(length=254), nullable=True))
    op.add_column("workspace", sa.Column("email_providers", _JSON, server_default="[]", nullable=False))
    op.add_column(
        "workspace", sa.Column("email_reply_key", sa.String(length=64), server_default="", nullable=False)
    )
    workspace = sa.table("workspace", sa.column("id", _ID), sa.column("email_reply_key", sa.String()))
    connection = op.get_bind()
    for (workspace_id,) in connection.execute(sa.select(workspace.c.id)).all():
        connection.execute(
            workspace.update()
            .where(workspace.c.id == workspace_id)
            .values(email_reply_key=secrets.token_hex(16))
        )


def downgrade() -> None:
    for column in (
        "email_reply_key",
        "email_providers",
        "email_reply_address",
        "email_from_name",
        "email_from_address",
        "email_enabled",
    ):
        op.drop_column("workspace", column)
    op.drop_column("user", "email_notifications")
    op.drop_table("email_template")
