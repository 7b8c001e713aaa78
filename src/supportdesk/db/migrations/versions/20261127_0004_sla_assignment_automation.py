"""SLA policies and calendars, notifications, scheduled job runs; SLA, assignment and automation columns.

Columns added to existing tables get server defaults for the rows already there. On SQLite, the
strategy column is added with its CHECK inline: SQLite cannot add a constraint to an existing table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_run",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("tick", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_run")),
        sa.UniqueConstraint("job", "tick", name=op.f("uq_job_run_job_tick")),
    )
    op.create_table(
        "business_calendar",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column(
            "weekly_hours",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("holiday_country", sa.String(length=8), nullable=True),
        sa.Column("holiday_subdivision", sa.String(length=16), nullable=True),
        sa.Column(
            "custom_holidays",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_business_calendar_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_calendar")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_business_calendar_workspace_id_name")),
    )
    op.create_table(
        "sla_policy",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "tier",
            sa.Enum(
                "free",
                "basic",
                "premium",
                "enterprise",
                name="sla_policy_tier",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("calendar_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "first_response_minutes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "resolution_minutes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["business_calendar.id"],
            name=op.f("fk_sla_policy_calendar_id_business_calendar"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_sla_policy_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policy")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_sla_policy_workspace_id_name")),
    )
    op.create_index(op.f("ix_sla_policy_calendar_id"), "sla_policy", ["calendar_id"], unique=False)
    op.create_table(
        "notification",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "sla_breach",
                "escalation",
                "pending_reminder",
                "assignment",
                "trigger",
                name="notification_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_notification_ticket_id_ticket"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_notification_user_id_user"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_notification_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
    )
    op.create_index(op.f("ix_notification_ticket_id"), "notification", ["ticket_id"], unique=False)
    op.create_index(
        "ix_notification_user_created", "notification", ["user_id", "created_at", "id"], unique=False
    )
    _alter_existing_tables()


BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
STRATEGIES = ("round_robin", "least_loaded", "by_priority", "by_skill")


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _alter_existing_tables() -> None:
    op.add_column("ticket", sa.Column("sla_policy_id", BIGINT, nullable=True))
    if _is_sqlite():
        strategies = ", ".join(f"'{name}'" for name in STRATEGIES)
        op.execute(
            "ALTER TABLE workspace ADD COLUMN assignment_strategy VARCHAR(32) DEFAULT 'round_robin' NOT NULL "
            f"CONSTRAINT ck_workspace_assignment_strategy CHECK (assignment_strategy IN ({strategies}))"
        )
    else:
        op.add_column(
            "workspace",
            sa.Column("assignment_strategy", sa.String(32), server_default="round_robin", nullable=False),
        )
        op.create_check_constraint(
            "assignment_strategy", "workspace", sa.column("assignment_strategy").in_(STRATEGIES)
        )
    for name in (
        "first_response_due_at",
        "resolution_due_at",
        "first_response_at_risk_at",
        "resolution_at_risk_at",
        "sla_paused_at",
    ):
        op.add_column("ticket", sa.Column(name, STAMP, nullable=True))
    op.add_column("ticket", sa.Column("sla_paused_seconds", sa.Integer(), server_default="0", nullable=False))
    for name in ("first_response_breach_notified_at", "resolution_breach_notified_at", "pending_reminded_at"):
        op.add_column("ticket", sa.Column(name, STAMP, nullable=True))
    for name, predicate, column in _PARTIAL_INDEXES:
        op.create_index(
            name,
            "ticket",
            ["workspace_id", column],
            unique=False,
            postgresql_where=sa.text(predicate),
            sqlite_where=sa.text(predicate),
        )
    op.add_column("user", sa.Column("capacity", sa.Integer(), nullable=True))
    op.add_column("user", sa.Column("last_assignment_seq", BIGINT, server_default="0", nullable=False))
    op.add_column(
        "workspace", sa.Column("auto_assign", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column("workspace", sa.Column("category_strategies", JSON, server_default="{}", nullable=False))
    op.add_column("workspace", sa.Column("agent_capacity", sa.Integer(), nullable=True))
    op.add_column(
        "workspace", sa.Column("escalation_delay_minutes", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "workspace", sa.Column("auto_close_after_days", sa.Integer(), server_default="7", nullable=True)
    )
    op.add_column(
        "workspace", sa.Column("pending_reminder_after_days", sa.Integer(), server_default="3", nullable=True)
    )
    op.add_column("workspace", sa.Column("assignment_counter", BIGINT, server_default="0", nullable=False))
    op.add_column("workspace", sa.Column("sla_revision", sa.Integer(), server_default="0", nullable=False))


_PARTIAL_INDEXES = (
    (
        "ix_ticket_first_response_due",
        "first_responded_at IS NULL AND status IN ('open', 'assigned', 'pending')",
        "first_response_due_at",
    ),
    ("ix_ticket_resolution_due", "status IN ('open', 'assigned', 'in_progress')", "resolution_due_at"),
    ("ix_ticket_resolved_at", "status = 'resolved'", "resolved_at"),
    ("ix_ticket_pending_since", "status = 'pending'", "sla_paused_at"),
)


def downgrade() -> None:
    # Indexes first: SQLite refuses to drop a column an index names.
    for name, _predicate, _column in _PARTIAL_INDEXES:
        op.drop_index(name, table_name="ticket")
    for table, columns in (
        (
            "workspace",
            (
                "sla_revision",
                "assignment_counter",
                "pending_reminder_after_days",
                "auto_close_after_days",
                "escalation_delay_minutes",
                "agent_capacity",
                "category_strategies",
                "auto_assign",
            ),
        ),
        ("user", ("last_assignment_seq", "capacity")),
        (
            "ticket",
            (
                "pending_reminded_at",
                "resolution_breach_notified_at",
                "first_response_breach_notified_at",
                "sla_paused_seconds",
                "sla_paused_at",
                "resolution_at_risk_at",
                "first_response_at_risk_at",
                "resolution_due_at",
                "first_response_due_at",
                "sla_policy_id",
            ),
        ),
    ):
        for column in columns:
            op.drop_column(table, column)
    # The CHECK belongs to the column on both databases and goes with it.
    op.drop_column("workspace", "assignment_strategy")
    op.drop_index("ix_notification_user_created", table_name="notification")
    op.drop_index(op.f("ix_notification_ticket_id"), table_name="notification")
    op.drop_table("notification")
    op.drop_index(op.f("ix_sla_policy_calendar_id"), table_name="sla_policy")
    op.drop_table("sla_policy")
    op.drop_table("business_calendar")
    op.drop_table("job_run")
