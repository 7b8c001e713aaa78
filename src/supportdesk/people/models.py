"""Staff users, their API tokens, and customers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Protocol

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportdesk.core.permissions import Role
from supportdesk.db.base import Base, BigIntId, WorkspaceScoped
from supportdesk.db.types import JSONType, enum_column, json_default_list

if TYPE_CHECKING:
    from supportdesk.tickets.models import Ticket


class Availability(StrEnum):
    available = "available"
    away = "away"


class Tier(StrEnum):
    free = "free"
    basic = "basic"
    premium = "premium"
    enterprise = "enterprise"


class TokenKind(StrEnum):
    personal = "personal"
    session = "session"


class Staff(Protocol):
    """What a service needs to know of the staff member acting: a loaded :class:`User`, or the caller
    of a request as its token was checked."""

    @property
    def id(self) -> int: ...

    @property
    def workspace_id(self) -> int: ...

    @property
    def role(self) -> Role: ...

    @property
    def email(self) -> str: ...

    @property
    def name(self) -> str: ...


class User(WorkspaceScoped, Base):
    """A staff member: admin, senior agent, agent or viewer."""

    __tablename__ = "user"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)
    __audited__ = True
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset({"updated_at", "password_hash"})
    # Read by id through the object cache (db.objects) as a StaffSnapshot; a change forgets it.
    __object_cache__: ClassVar[tuple[str, str]] = ("user", "id")

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role, "user_role"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    skills: Mapped[list[str]] = mapped_column(JSONType, default=json_default_list)
    availability: Mapped[Availability] = mapped_column(
        enum_column(Availability, "user_availability"), default=Availability.available
    )
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    # Most open tickets this agent takes by automatic assignment; None means the workspace's default.
    capacity: Mapped[int | None] = mapped_column(Integer, default=None)
    # Whether what reaches the user's in-app inbox (assignments, breaches, escalations) is e-mailed too.
    email_notifications: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApiToken(WorkspaceScoped, Base):
    """A bearer credential: a personal API token, or a browser session created by password login."""

    __tablename__ = "api_token"
    __audited__ = True
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset({"token_hash"})

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[TokenKind] = mapped_column(enum_column(TokenKind, "token_kind"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship(lazy="raise")


class Customer(WorkspaceScoped, Base):
    """An end customer who asks for help."""

    __tablename__ = "customer"
    __table_args__ = (
        UniqueConstraint("workspace_id", "email"),
        UniqueConstraint("workspace_id", "external_id"),
    )
    __audited__ = True
    # Read by id through the object cache (db.objects) as a CustomerSnapshot; a change forgets it.
    __object_cache__: ClassVar[tuple[str, str]] = ("customer", "id")

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    company: Mapped[str | None] = mapped_column(String(200), default=None)
    tier: Mapped[Tier] = mapped_column(enum_column(Tier, "customer_tier"), default=Tier.free)
    external_id: Mapped[str | None] = mapped_column(String(200), default=None)
    # What the desk's CRM last said of the customer (integrations/crm, written by its sender in the
    # background): the tier above is set from it too when the CRM gives one. Empty until the CRM is asked,
    # and when it does not know the address.
    crm_plan: Mapped[str | None] = mapped_column(String(200), default=None)
    crm_account_manager: Mapped[str | None] = mapped_column(String(200), default=None)
    crm_id: Mapped[str | None] = mapped_column(String(200), default=None)
    # When the CRM gave that answer; set as well when it answered that it does not know the address.
    crm_checked_at: Mapped[datetime | None] = mapped_column(default=None)
    # When mail to the address last came back undeliverable, and what the report said; cleared when the
    # address changes.
    email_bounced_at: Mapped[datetime | None] = mapped_column(default=None)
    email_bounce_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)

    tickets: Mapped[list[Ticket]] = relationship(back_populates="customer", lazy="raise")

    __mapper_args__ = {"version_id_col": version}


@dataclass(slots=True)
class StaffSnapshot:
    """A staff member as read for answering and checking, not for changing: the columns the API shows
    and an assignment checks, without the ORM's bookkeeping; what the object cache keeps of a user."""

    id: int
    email: str
    name: str
    role: Role
    is_active: bool
    skills: list[str]
    availability: Availability
    email_notifications: bool
    created_at: datetime


@dataclass(slots=True)
class CustomerSnapshot:
    """A customer as read for answering, not for changing: the columns the API shows; what the object
    cache keeps of a customer."""

    id: int
    email: str
    name: str | None
    company: str | None
    tier: Tier
    external_id: str | None
    crm_plan: str | None
    crm_account_manager: str | None
    crm_id: str | None
    crm_checked_at: datetime | None
    email_bounced_at: datetime | None
    email_bounce_reason: str | None
    created_at: datetime
    updated_at: datetime
    version: int
