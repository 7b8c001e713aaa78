"""The workspace: the tenant every other row belongs to."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.db.base import Base, BigIntId
from supportdesk.db.types import JSONType

DEFAULT_CATEGORIES: tuple[str, ...] = ("technical", "billing", "account", "authentication", "general")


class Workspace(Base):
    __tablename__ = "workspace"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    categories: Mapped[list[str]] = mapped_column(JSONType, default=lambda: list(DEFAULT_CATEGORIES))
    ticket_counter: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]

    __audited__ = True
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset({"ticket_counter"})

    def audit_subject(self) -> tuple[int, str, int]:
        """A workspace's events are filed in the workspace itself."""
        return self.id, "workspace", self.id
