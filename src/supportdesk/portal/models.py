"""What the portal stores: the sign-in links it mailed and the sessions they opened. Both keep only a
keyed hash of their secret, so a copy of the database signs nobody in."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.db.base import Base, BigIntId, WorkspaceScoped


class PortalSignIn(WorkspaceScoped, Base):
    """A sign-in link mailed to a customer: good once, until it expires."""

    __tablename__ = "portal_sign_in"
    __table_args__ = (Index("ix_portal_sign_in_customer", "workspace_id", "customer_id"),)
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset({"token_hash"})

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("customer.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class PortalSession(WorkspaceScoped, Base):
    """A customer signed in to the portal of one workspace, in one browser."""

    __tablename__ = "portal_session"
    __table_args__ = (Index("ix_portal_session_customer", "workspace_id", "customer_id"),)
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset({"secret_hash"})

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("customer.id", ondelete="CASCADE"))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
