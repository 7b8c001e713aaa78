"""Inbound mail: mailboxes, arrived messages, follow-ups, bounces and the desk's own notes.

A trigger set off by mail arriving has no staff user to write its internal note in the name of, so a
comment may now have no author at all (the desk's own); it still never has two. The outbox gains the
channel that processes arrived mail.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from supportdesk.db import sqlite_tables

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_PRIORITIES = ("low", "medium", "high", "critical")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "mailbox",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("default_category", sa.String(length=64), nullable=True),
        sa.Column("default_priority", _enum("ticket_priority", *_PRIORITIES), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("hook_token", sa.String(length=64), nullable=False),
        sa.Column("hook_signing_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("workspace_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_mailbox_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailbox")),
        sa.UniqueConstraint("address", name=op.f("uq_mailbox_address")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_mailbox_workspace", "mailbox", ["workspace_id", "id"], unique=False)
    op.create_table(
        "inbound_message",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("mailbox_id", _ID, nullable=True),
        sa.Column("source", _enum("inbound_source", "smtp", "lmtp", "imap", "http"), nullable=False),
        sa.Column("envelope_sender", sa.String(length=320), nullable=True),
        sa.Column("recipients", _JSON, nullable=False),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False),
        sa.Column("raw_size", _ID, nullable=False),
        sa.Column("message_id", sa.String(length=500), nullable=True),
        sa.Column("sender", sa.String(length=254), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", _enum("inbound_state", "received", "processed", "quarantined"), nullable=False),
        sa.Column(
            "outcome",
            _enum("inbound_outcome", "new-ticket", "reply", "follow-up", "automated", "duplicate"),
            nullable=True,
        ),
        sa.Column("thread_rule", sa.String(length=32), nullable=True),
        sa.Column("thread_evidence", sa.String(length=1000), nullable=True),
        sa.Column("automated_reason", sa.String(length=500), nullable=True),
        sa.Column("authenticity", sa.String(length=16), nullable=True),
        sa.Column("defects", _JSON, nullable=False),
        sa.Column("ticket_id", _ID, nullable=True),
        sa.Column("comment_id", _ID, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workspace_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comment.id"],
            name=op.f("fk_inbound_message_comment_id_comment"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailbox.id"],
            name=op.f("fk_inbound_message_mailbox_id_mailbox"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_inbound_message_ticket_id_ticket"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_inbound_message_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_message")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_inbound_message_workspace_state", "inbound_message", ["workspace_id", "state", "id"], unique=False
    )
    op.create_index(
        "ix_inbound_message_workspace_ticket",
        "inbound_message",
        ["workspace_id", "ticket_id", "id"],
        unique=False,
    )
    op.create_index(
        "ix_inbound_message_workspace_sender",
        "inbound_message",
        ["workspace_id", "sender", "received_at"],
        unique=False,
    )
    op.create_index(
        "ix_inbound_message_workspace_message_id",
        "inbound_message",
        ["workspace_id", "message_id"],
        unique=False,
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        sqlite_tables.add_column(
            bind,
            "ticket",
            "follow_up_of_id INTEGER",
            "CONSTRAINT fk_ticket_follow_up_of_id_ticket FOREIGN KEY(follow_up_of_id) "
            "REFERENCES ticket (id) ON DELETE SET NULL",
        )
    else:
        op.add_column("ticket", sa.Column("follow_up_of_id", _ID, nullable=True))
        op.create_foreign_key(
            op.f("fk_ticket_follow_up_of_id_ticket"),
            "ticket",
            "ticket",
            ["follow_up_of_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.add_column("customer", sa.Column("email_bounced_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("customer", sa.Column("email_bounce_reason", sa.String(length=500), nullable=True))
    sqlite_tables.replace_check(
        bind, "comment", "ck_comment_one_author", "author_user_id IS NULL OR author_customer_id IS NULL"
    )
    sqlite_tables.replace_check(
        bind,
        "outbox_message",
        "ck_outbox_message_delivery_channel",
        "channel IN ('email', 'webhook', 'crm', 'inbound')",
    )


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM outbox_message WHERE channel = 'inbound'"))
    sqlite_tables.replace_check(
        bind, "outbox_message", "ck_outbox_message_delivery_channel", "channel IN ('email', 'webhook', 'crm')"
    )
    # The desk's own notes have no author the older schema can name; they go with the downgrade.
    bind.execute(sa.text("DELETE FROM comment WHERE author_user_id IS NULL AND author_customer_id IS NULL"))
    sqlite_tables.replace_check(
        bind, "comment", "ck_comment_one_author", "(author_user_id IS NULL) <> (author_customer_id IS NULL)"
    )
    op.drop_column("customer", "email_bounce_reason")
    op.drop_column("customer", "email_bounced_at")
    if bind.dialect.name == "sqlite":
        sqlite_tables.drop_column(bind, "ticket", "follow_up_of_id", "fk_ticket_follow_up_of_id_ticket")
    else:
        op.drop_constraint(op.f("fk_ticket_follow_up_of_id_ticket"), "ticket", type_="foreignkey")
        op.drop_column("ticket", "follow_up_of_id")
    op.drop_index("ix_inbound_message_workspace_message_id", table_name="inbound_message")
    op.drop_index("ix_inbound_message_workspace_sender", table_name="inbound_message")
    op.drop_index("ix_inbound_message_workspace_ticket", table_name="inbound_message")
    op.drop_index("ix_inbound_message_workspace_state", table_name="inbound_message")
    op.drop_table("inbound_message")
    op.drop_index("ix_mailbox_workspace", table_name="mailbox")
    op.drop_table("mailbox")
