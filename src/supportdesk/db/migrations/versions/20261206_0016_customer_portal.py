"""The customer portal: sign-in links, portal sessions and customers' ratings of resolutions.

Also lets workspaces word the new e-mail that carries a sign-in link.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from supportdesk.db import sqlite_tables

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_KINDS = (
    "ticket_received",
    "agent_reply",
    "status_changed",
    "satisfaction_request",
    "ticket_assigned",
    "sla_breached",
    "ticket_escalated",
)


def _kinds(*kinds: str) -> str:
    return "kind IN ({})".format(", ".join(f"'{kind}'" for kind in kinds))


def _secret_table(name: str, secret: str, *extra: sa.Column[object]) -> None:
    op.create_table(
        name,
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column(secret, sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        *extra,
        sa.Column("workspace_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f(f"fk_{name}_customer_id_customer"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f(f"fk_{name}_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint(secret, name=op.f(f"uq_{name}_{secret}")),
        sqlite_autoincrement=True,
    )
    op.create_index(f"ix_{name}_customer", name, ["workspace_id", "customer_id"], unique=False)


def upgrade() -> None:
    _secret_table(
        "portal_sign_in", "token_hash", sa.Column("used_at", sa.DateTime(timezone=True), nullable=True)
    )
    _secret_table("portal_session", "secret_hash")
    op.create_table(
        "ticket_satisfaction",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=True),
        sa.Column(
            "rating",
            sa.Enum(
                "good",
                "bad",
                name="satisfaction_rating",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_ticket_satisfaction_customer_id_customer"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_ticket_satisfaction_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_ticket_satisfaction_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_satisfaction")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_ticket_satisfaction_ticket_id")),
        sqlite_autoincrement=True,
    )
    sqlite_tables.replace_check(
        op.get_bind(), "email_template", "ck_email_template_email_kind", _kinds(*_KINDS, "portal_sign_in")
    )


def downgrade() -> None:
    bind = op.get_bind()
    # A workspace's own wording of the sign-in e-mail has no kind the older schema can name.
    bind.execute(sa.text("DELETE FROM email_template WHERE kind = 'portal_sign_in'"))
    sqlite_tables.replace_check(bind, "email_template", "ck_email_template_email_kind", _kinds(*_KINDS))
    op.drop_table("ticket_satisfaction")
    op.drop_index("ix_portal_session_customer", table_name="portal_session")
    op.drop_table("portal_session")
    op.drop_index("ix_portal_sign_in_customer", table_name="portal_sign_in")
    op.drop_table("portal_sign_in")
