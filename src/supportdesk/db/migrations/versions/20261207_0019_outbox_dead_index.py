"""Index only the dead outbox messages by workspace, instead of every message by state.

An index on (workspace, state, id) took an entry for each message written and another at each change
of state, which on PostgreSQL is every step from pending to delivered, because a change to an indexed
column cannot update the row in place. The admin's list by state needs it only for dead messages:
open ones are few and found through the relay's due-time index, and delivered ones are most of the
table, so the primary key read backwards finds a page of them at once.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEAD = "state = 'dead'"


def upgrade() -> None:
    op.drop_index("ix_outbox_message_workspace_state", table_name="outbox_message")
    op.create_index(
        "ix_outbox_message_workspace_dead",
        "outbox_message",
        ["workspace_id", "id"],
        postgresql_where=sa.text(_DEAD),
        sqlite_where=sa.text(_DEAD),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_message_workspace_dead", table_name="outbox_message")
    op.create_index(
        "ix_outbox_message_workspace_state", "outbox_message", ["workspace_id", "state", "id"], unique=False
    )
