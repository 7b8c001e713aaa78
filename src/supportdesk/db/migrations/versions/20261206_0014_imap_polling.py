"""Mailboxes read over IMAP: the server's settings and how far the poller has read.

Every column is added with a plain ALTER TABLE: none has a foreign key, so SQLite needs no rebuild of
the table. The two that may not be null get a server default for the mailboxes already there. On
SQLite the security column's CHECK is written into its ADD COLUMN, since SQLite cannot add a
constraint to an existing table; on both databases the CHECK belongs to the column and goes with it on
the way down.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_STAMP = sa.DateTime(timezone=True)
_SECURITY = ("tls", "starttls", "none")
_CHECK = "ck_mailbox_imap_security"

# The nullable columns, in the order the model lists them (security and folder are added on their own).
_NULLABLE = (
    ("imap_host", sa.String(length=253)),
    ("imap_port", sa.Integer()),
    ("imap_username", sa.String(length=254)),
    ("imap_password", sa.String(length=200)),
    ("imap_uidvalidity", _ID),
    ("imap_last_uid", _ID),
    ("imap_polled_at", _STAMP),
    ("imap_error", sa.String(length=2000)),
    ("imap_error_at", _STAMP),
)


def upgrade() -> None:
    bind = op.get_bind()
    for name, column_type in _NULLABLE:
        op.add_column("mailbox", sa.Column(name, column_type, nullable=True))
    if bind.dialect.name == "sqlite":
        allowed = ", ".join(f"'{value}'" for value in _SECURITY)
        op.execute(
            "ALTER TABLE mailbox ADD COLUMN imap_security VARCHAR(32) DEFAULT 'tls' NOT NULL "
            f"CONSTRAINT {_CHECK} CHECK (imap_security IN ({allowed}))"
        )
    else:
        op.add_column(
            "mailbox", sa.Column("imap_security", sa.String(length=32), server_default="tls", nullable=False)
        )
        op.create_check_constraint(op.f(_CHECK), "mailbox", sa.column("imap_security").in_(_SECURITY))
    op.add_column(
        "mailbox", sa.Column("imap_folder", sa.String(length=200), server_default="INBOX", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("mailbox", "imap_folder")
    op.drop_column("mailbox", "imap_security")
    for name, _type in reversed(_NULLABLE):
        op.drop_column("mailbox", name)
