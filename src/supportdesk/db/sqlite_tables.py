"""Changing a SQLite table the way SQLite's documentation describes for what ALTER TABLE cannot do.

The new table is created from the old one's own CREATE statement with one change made to its text,
the rows are copied (every column the new table has), the old table is dropped, the new one renamed,
and the old CREATE INDEX and CREATE TRIGGER statements run again. Reusing the stored statement keeps
every column, default, CHECK, foreign key and AUTOINCREMENT exactly as it was; a rebuild from
reflection (Alembic's batch mode) would move column CHECKs to the table and drop AUTOINCREMENT.
Migrations use this with foreign keys off (env.py arranges it): with them on, dropping the old table
would delete or null every row referring to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlalchemy as sa


def replace_once(pattern: re.Pattern[str], replacement: str, text: str, table: str) -> str:
    """``text`` with the one match of ``pattern`` replaced; anything but one match stops the migration
    (its transaction rolls back) rather than guessing at a schema it did not write."""
    changed, count = pattern.subn(replacement, text)
    if count != 1:
        raise RuntimeError(f"unexpected definition of table {table!r}; it was left unchanged")
    return changed


def require_foreign_keys_off(bind: sa.Connection) -> None:
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        # Dropping a table with foreign keys on would cascade into every table referring to it.
        raise RuntimeError("tables are rebuilt only with foreign keys off; migrate through supportdesk")


def rebuild(bind: sa.Connection, table: str, change: Callable[[str, str], str]) -> None:
    """Rebuild ``table`` from its CREATE statement as ``change(table, statement)`` rewrites it."""
    require_foreign_keys_off(bind)
    create = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :table"), {"table": table}
    ).scalar_one()
    # Indexes made by UNIQUE constraints have no statement of their own; the new table makes them again.
    dependents = (
        bind.execute(
            sa.text(
                "SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name = :table "
                "AND sql IS NOT NULL ORDER BY type, name"
            ),
            {"table": table},
        )
        .scalars()
        .all()
    )
    # The AUTOINCREMENT counter, which the copy alone would set back to the largest id left: a deleted
    # newest row's id must not be handed out again.
    counter = None
    if bind.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").first():
        counter = bind.execute(
            sa.text("SELECT seq FROM sqlite_sequence WHERE name = :table"), {"table": table}
        ).scalar()
    temporary = f"_rebuild_{table}"
    header = re.compile(rf'^\s*CREATE\s+TABLE\s+"?{table}"?\s*\(', re.IGNORECASE)
    new_create = replace_once(header, f'CREATE TABLE "{temporary}" (', change(table, create), table)
    bind.exec_driver_sql(new_create)

    # The rows copy column by column, so a change may also add or leave out a column. Names come from
    # the database's own description of the two tables.
    def names(of: str) -> list[str]:
        return [row[1] for row in bind.exec_driver_sql(f'PRAGMA table_info("{of}")').all()]

    kept = set(names(table))
    columns = ", ".join(f'"{name}"' for name in names(temporary) if name in kept)
    bind.exec_driver_sql(
        f'INSERT INTO "{temporary}" ({columns}) SELECT {columns} FROM "{table}"'  # noqa: S608
    )
    bind.exec_driver_sql(f'DROP TABLE "{table}"')
    bind.exec_driver_sql(f'ALTER TABLE "{temporary}" RENAME TO "{table}"')
    for statement in dependents:
        bind.exec_driver_sql(statement)
    if counter is not None:
        bind.execute(
            sa.text("UPDATE sqlite_sequence SET seq = max(seq, :counter) WHERE name = :table"),
            {"table": table, "counter": counter},
        )


def replace_check(bind: sa.Connection, table: str, name: str, condition: str) -> None:
    """Give the CHECK constraint ``name`` of ``table`` the new ``condition`` (SQL), on SQLite by a
    rebuild and elsewhere by dropping and adding it."""
    if bind.dialect.name != "sqlite":
        bind.exec_driver_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        bind.exec_driver_sql(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" CHECK ({condition})')
        return
    pattern = re.compile(rf'CONSTRAINT\s+"?{name}"?\s+CHECK\s*\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)')

    def change(table: str, create: str) -> str:
        return replace_once(pattern, f"CONSTRAINT {name} CHECK ({condition})", create, table)

    rebuild(bind, table, change)


def add_column(bind: sa.Connection, table: str, column: str, constraint: str) -> None:
    """Add the column defined by ``column`` (SQL) with the table constraint ``constraint`` (SQL), such
    as a named foreign key, which SQLite's ADD COLUMN cannot name."""

    def change(table: str, create: str) -> str:
        create = replace_once(_LAST_PARENTHESIS, f", {constraint}\n)", create, table)
        return replace_once(_FIRST_CONSTRAINT, f"\\g<head> {column},\\g<tail>", create, table)

    rebuild(bind, table, change)


def drop_column(bind: sa.Connection, table: str, column: str, constraint: str) -> None:
    """Drop ``column`` and the table constraint named ``constraint`` that :func:`add_column` added with
    it. SQLite refuses DROP COLUMN for a column with a foreign key; a rebuild without it does not."""
    definition = re.compile(rf'"?{column}"?\s[^,]*,\s*', re.IGNORECASE)
    named = re.compile(rf',\s*CONSTRAINT\s+"?{constraint}"?\s[^,]*?(?=\s*,|\s*\)\s*$)', re.IGNORECASE)

    def change(table: str, create: str) -> str:
        return replace_once(named, "", replace_once(definition, "", create, table), table)

    rebuild(bind, table, change)


_LAST_PARENTHESIS = re.compile(r"\s*\)\s*$")
# Everything up to the first table constraint, which the new column goes before.
_FIRST_CONSTRAINT = re.compile(r"^(?P<head>.*?,)(?P<tail>\s*CONSTRAINT\s)", re.IGNORECASE | re.DOTALL)
