"""Lookups every kind of named, workspace-owned configuration needs: by id, and by name."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.core.errors import NotFound
from supportdesk.db.base import Base

_Row = TypeVar("_Row", bound=Base)


async def get_in_workspace(session: AsyncSession, model: type[_Row], object_id: int, what: str) -> _Row:
    """The ``model`` row with ``object_id`` in the session's workspace; NotFound ("No such <what>")
    for any other id, another workspace's included."""
    query = select(model).where(model.__table__.c.id == object_id)
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"No such {what}")
    return found


async def name_taken(
    session: AsyncSession, model: type[Base], workspace_id: int, name: str, except_id: int | None = None
) -> bool:
    """Whether a ``model`` row of the workspace other than ``except_id`` is called ``name``."""
    columns = model.__table__.c
    query = select(columns.id).where(columns.workspace_id == workspace_id, columns.name == name)
    if except_id is not None:
        query = query.where(columns.id != except_id)
    return (await session.execute(query.limit(1))).first() is not None
