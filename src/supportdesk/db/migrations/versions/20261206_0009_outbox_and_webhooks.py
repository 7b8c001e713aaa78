"""The outbox of side effects, its delivery log, and webhook subscriptions.

Every side effect (a webhook call now; e-mail and CRM calls next) is an outbox_message row written with
the change that causes it; delivery_attempt logs each try. Workspaces get a delivery revision, changed
with their webhook subscriptions, so processes may keep the active subscriptions in memory.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_message",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column(
            "channel",
            sa.Enum(
                "email",
                "webhook",
                "crm",
                name="delivery_channel",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("target", sa.String(length=320), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "queued",
                "sending",
                "delivered",
                "dead",
                name="delivery_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("manual_retries", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_outbox_message_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
        sa.UniqueConstraint(
            "workspace_id", "dedupe_key", name=op.f("uq_outbox_message_workspace_id_dedupe_key")
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_message_due",
            ["next_attempt_at"],
            unique=False,
            sqlite_where=sa.text("state IN ('pending', 'queued', 'sending')"),
            postgresql_where=sa.text("state IN ('pending', 'queued', 'sending')"),
        )
        batch_op.create_index(
            "ix_outbox_message_workspace_state", ["workspace_id", "state", "id"], unique=False
        )
        batch_op.create_index(
            "ix_outbox_message_workspace_target", ["workspace_id", "channel", "target", "id"], unique=False
        )
        batch_op.create_index(
            "ix_outbox_message_workspace_ticket", ["workspace_id", "ticket_id", "id"], unique=False
        )

    op.create_table(
        "webhook_subscription",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column(
            "event_types",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("previous_secret", sa.String(length=100), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_webhook_subscription_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscription")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_subscription_workspace", ["workspace_id", "id"], unique=False)

    op.create_table(
        "delivery_attempt",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["outbox_message.id"],
            name=op.f("fk_delivery_attempt_message_id_outbox_message"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_delivery_attempt_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempt")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("delivery_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_attempt_message", ["message_id", "number"], unique=False)

    # A plain ALTER TABLE, never a rebuild: a rebuilt workspace table would lose its AUTOINCREMENT (0008).
    op.add_column(
        "workspace", sa.Column("delivery_revision", sa.Integer(), server_default="0", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("workspace", "delivery_revision")

    with op.batch_alter_table("delivery_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_attempt_message")

    op.drop_table("delivery_attempt")
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_subscription_workspace")

    op.drop_table("webhook_subscription")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_workspace_ticket")
        batch_op.drop_index("ix_outbox_message_workspace_target")
        batch_op.drop_index("ix_outbox_message_workspace_state")
        batch_op.drop_index(
            "ix_outbox_message_due",
            sqlite_where=sa.text("state IN ('pending', 'queued', 'sending')"),
            postgresql_where=sa.text("state IN ('pending', 'queued', 'sending')"),
        )

    op.drop_table("outbox_message")
