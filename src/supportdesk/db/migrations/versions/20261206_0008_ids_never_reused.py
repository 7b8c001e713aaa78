"""SQLite tables keep handing out new ids after the newest row is deleted (AUTOINCREMENT).

A plain INTEGER PRIMARY KEY on SQLite takes max(id) + 1, so deleting the newest ticket gave its id to
the next one, which then showed the deleted ticket's audit trail, and an old Idempotency-Key replayed a
Location naming it. AUTOINCREMENT can only be declared when a table is created, so every table with an
integer id is rebuilt the way SQLite's documentation describes for schema changes ALTER TABLE cannot
make: create the new table from the old one's own CREATE statement with the key changed, copy the rows,
drop the old table, rename the new one, and run the old CREATE INDEX statements again. Reusing the stored
statements keeps every column, default, CHECK and foreign key exactly as it was (a rebuild from
reflection would move column CHECKs to the table, which an older downgrade's DROP COLUMN cannot undo).
Foreign keys are off meanwhile (env.py arranges it and checks them before the commit): with them on,
dropping a table would delete or null every row that refers to it.

Each table's counter starts after its largest id and after every id an audit event names, so a ticket
deleted before this upgrade does not come back either. PostgreSQL sequences never go back: nothing to do
there. The downgrade rebuilds the tables without AUTOINCREMENT, after which SQLite may reuse ids again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from supportdesk.db import sqlite_tables

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every table whose key is a single integer id at this revision (ticket_tag's key is (ticket_id, name)).
TABLES = (
    "workspace",
    "user",
    "api_token",
    "customer",
    "ticket",
    "comment",
    "audit_event",
    "idempotency_record",
    "notification",
    "business_calendar",
    "sla_policy",
    "trigger",
    "macro",
    "job_run",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for table in TABLES:
        sqlite_tables.rebuild(bind, table, _with_autoincrement)
        _continue_after_known_ids(bind, table)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for table in TABLES:
        sqlite_tables.rebuild(bind, table, _without_autoincrement)


_AUTOINCREMENT_ID = re.compile(
    r'(?P<lead>[(,]\s*)"?id"?\s+INTEGER\s+NOT\s+NULL\s+PRIMARY\s+KEY\s+AUTOINCREMENT(?P<tail>\s*,)',
    re.IGNORECASE,
)


def _id_column(table: str) -> re.Pattern[str]:
    # The id column as first created, or with the named key this revision's downgrade puts on it.
    return re.compile(
        rf'(?P<lead>[(,]\s*)"?id"?\s+INTEGER\s+NOT\s+NULL'
        rf'(?P<key>\s+CONSTRAINT\s+"?pk_{table}"?\s+PRIMARY\s+KEY)?(?P<tail>\s*,)',
        re.IGNORECASE,
    )


def _table_key(table: str) -> re.Pattern[str]:
    return re.compile(
        rf'\s*CONSTRAINT\s+"?pk_{table}"?\s+PRIMARY\s+KEY\s*\(\s*"?id"?\s*\)\s*,', re.IGNORECASE
    )


def _with_autoincrement(table: str, create: str) -> str:
    column = _id_column(table)
    found = column.search(create)
    if found is not None and found.group("key") is None:
        # AUTOINCREMENT goes on the column, so the separate key constraint has to go.
        create = sqlite_tables.replace_once(_table_key(table), "", create, table)
    return sqlite_tables.replace_once(
        column, r"\g<lead>id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT\g<tail>", create, table
    )


def _without_autoincrement(table: str, create: str) -> str:
    # A named column constraint: the key keeps the name the naming convention gives it.
    return sqlite_tables.replace_once(
        _AUTOINCREMENT_ID,
        rf"\g<lead>id INTEGER NOT NULL CONSTRAINT pk_{table} PRIMARY KEY\g<tail>",
        create,
        table,
    )


def _continue_after_known_ids(bind: sa.Connection, table: str) -> None:
    # Copying the rows already moved the counter to the largest id present; a deleted newest row may
    # still be named by its audit events, so its id is not handed out again either.
    bind.execute(
        sa.text(
            "INSERT INTO sqlite_sequence (name, seq) SELECT :table, 0 "
            "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = :table)"
        ),
        {"table": table},
    )
    bind.execute(
        sa.text(
            "UPDATE sqlite_sequence SET seq = max(seq, coalesce("
            "(SELECT max(object_id) FROM audit_event WHERE object_type = :table), 0)) "
            "WHERE name = :table"
        ),
        {"table": table},
    )
