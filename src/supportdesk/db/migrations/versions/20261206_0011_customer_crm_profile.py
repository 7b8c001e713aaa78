"""What the CRM last said of a customer: plan, account manager, the CRM's id, and when it was asked.

The customer's tier, which the CRM also gives, has its own column since the first revision.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("crm_plan", "crm_account_manager", "crm_id", "crm_checked_at")


def upgrade() -> None:
    # Plain ALTER TABLEs, never a rebuild: a rebuilt customer table would lose its AUTOINCREMENT (0008).
    # Every column may be empty, so existing customers need no value: they are simply not checked yet.
    op.add_column("customer", sa.Column("crm_plan", sa.String(length=200), nullable=True))
    op.add_column("customer", sa.Column("crm_account_manager", sa.String(length=200), nullable=True))
    op.add_column("customer", sa.Column("crm_id", sa.String(length=200), nullable=True))
    op.add_column("customer", sa.Column("crm_checked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for column in reversed(_COLUMNS):
        op.drop_column("customer", column)
