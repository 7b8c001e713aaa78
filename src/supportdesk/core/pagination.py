"""Cursor pagination: opaque cursors over a sort key plus the id, so pages never skip or repeat rows."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import bindparam, tuple_
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from supportdesk.core.errors import InvalidInput

ItemT = TypeVar("ItemT")
RowT = TypeVar("RowT")
Sortable = ColumnElement[Any] | QueryableAttribute[Any]


class Page(BaseModel, Generic[ItemT]):
    """One page of results and the cursor of the next page (``null`` on the last page)."""

    items: list[ItemT]
    next_cursor: str | None
    limit: int


def encode_cursor(sort: str, value: Any, row_id: int) -> str:
    """An opaque cursor pointing just after the row with ``value`` and ``row_id``."""
    if isinstance(value, datetime):
        value = {"dt": value.isoformat()}
    raw = json.dumps([sort, value, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def after_cursor(
    sort_column: Sortable,
    id_column: Sortable,
    value: Any,
    row_id: int,
    *,
    descending: bool,
) -> ColumnElement[bool]:
    """Rows strictly after (value, row_id) in the sort order, as one row-value comparison.

    ``(a, id) < (x, y)`` lets both databases seek the (sort, id) index to the cursor; the equivalent
    ``a < x OR (a = x AND id < y)`` makes them walk every row before it.
    """
    sort_expression, id_expression = sort_column.expression, id_column.expression
    row = tuple_(sort_expression, id_expression)
    bound = tuple_(
        bindparam(None, value, type_=sort_expression.type),
        bindparam(None, row_id, type_=id_expression.type),
    )
    return row < bound if descending else row > bound


def split_page(
    rows: list[RowT], limit: int, cursor_of: Callable[[RowT], str]
) -> tuple[list[RowT], str | None]:
    """Cut ``limit + 1`` fetched rows to a page, with the cursor of the next page if there is one."""
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, cursor_of(page[-1])


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    """The (value, id) a cursor points after; refuses cursors that are malformed or from another sort."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        cursor_sort, value, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInput("cursor", "The cursor is not valid.", reason="invalid-cursor") from None
    if cursor_sort != sort or not isinstance(row_id, int) or isinstance(row_id, bool):
        raise InvalidInput("cursor", "The cursor belongs to another sort order.", reason="invalid-cursor")
    if isinstance(value, dict) and "dt" in value:
        try:
            value = datetime.fromisoformat(str(value["dt"]))
        except ValueError:
            raise InvalidInput("cursor", "The cursor is not valid.", reason="invalid-cursor") from None
        if value.tzinfo is None:
            raise InvalidInput("cursor", "The cursor is not valid.", reason="invalid-cursor")
    return value, row_id


def decode_cursor_as(cursor: str, sort: str, kind: type[Any]) -> tuple[Any, int]:
    """Like :func:`decode_cursor`, also refusing a value that is not of ``kind`` (a forged cursor)."""
    value, row_id = decode_cursor(cursor, sort)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidInput("cursor", "The cursor is not valid.", reason="invalid-cursor")
    return value, row_id
