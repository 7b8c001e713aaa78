"""Statements about customers that run below the ORM's unit of work, naming their workspace themselves
(the session's tenancy hook checks the name against the session's workspace)."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Insert, Select, Table, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import ExecutableReturnsRows

from supportdesk.audit.recorder import created_event_parameters, insert_with_created_event, record_created
from supportdesk.db import direct
from supportdesk.db.tenancy import NAMES_ITS_WORKSPACE, required_workspace_id
from supportdesk.people.models import Customer, Tier

_customer_table = cast(Table, Customer.__table__)
# Every column but the id: a first contact's row, as the unit of work's flush would write it.
_FIRST_CONTACT_KEYS = tuple(column.key for column in _customer_table.c if column.key != "id")


@functools.cache
def _first_contact_written(dialect: str) -> Select[Any] | Insert:
    """A new customer's row, unless a concurrent first contact took the address: on PostgreSQL with its
    audit event in the same statement, elsewhere an ``INSERT ... ON CONFLICT DO NOTHING RETURNING``."""
    if dialect == "postgresql":
        return insert_with_created_event(Customer, _FIRST_CONTACT_KEYS, unless_taken=True)
    return sqlite.insert(_customer_table).on_conflict_do_nothing().returning(*_customer_table.c)


@functools.cache
def _first_contact_statement(dialect: str) -> ExecutableReturnsRows:
    """:func:`_first_contact_written` loaded as a ``Customer``, where SQLAlchemy sends it."""
    return select(Customer).from_statement(_first_contact_written(dialect))


async def insert_first_contact(
    session: AsyncSession, now: datetime, *, email: str, name: str | None
) -> Customer | None:
    """The customer, with its audit event, that a first contact from ``email`` makes in the session's
    workspace, or ``None`` (nothing written) when a concurrent first contact took the address meanwhile.
    One statement where a savepoint, the row, its audit event and the savepoint's release took four:
    every new request by e-mail from a new address comes through here."""
    workspace_id = required_workspace_id(session.sync_session)
    values: dict[str, Any] = dict.fromkeys(_FIRST_CONTACT_KEYS) | {
        "workspace_id": workspace_id,
        "email": email,
        "name": name,
        "tier": Tier.free,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    dialect = session.bind.dialect.name if session.bind is not None else ""
    parameters = values
    if dialect == "postgresql":
        parameters = values | created_event_parameters(session.sync_session, Customer, values)
    # The driver's own call where it can: SQLAlchemy's execution and loading cost more than the insert.
    customer = await direct.returned_object(session, Customer, _first_contact_written(dialect), parameters)
    if isinstance(customer, direct.NotSent):
        found = await session.scalars(
            _first_contact_statement(dialect),
            parameters,
            execution_options={NAMES_ITS_WORKSPACE: workspace_id},
        )
        customer = cast(Customer | None, found.one_or_none())
    if customer is not None and dialect != "postgresql":
        await record_created(session, customer)
    return customer
