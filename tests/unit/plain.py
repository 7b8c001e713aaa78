"""Enum members as the plain strings a model holds when it was given one (``Ticket(status="open")``)."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar, cast

E = TypeVar("E", bound=StrEnum)


def plain(member: E) -> E:
    """``member``'s value as a bare ``str``, typed as the member, so rules can be called with it."""
    value = str(member.value)
    assert type(value) is str
    return cast(E, value)
