"""The workspace: the tenant every other row belongs to."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.db.base import Base, BigIntId
from supportdesk.db.types import JSONType, enum_column

DEFAULT_CATEGORIES: tuple[str, ...] = ("technical", "billing", "account", "authentication", "general")


def _fresh_revision() -> int:
    # Random, as the service makes them: a reused workspace id must not meet another workspace's cache
    # entry. Imported here, not at the top: the revisions module imports this one.
    from supportdesk.workspaces.revisions import new_revision

    return new_revision()


def new_reply_key() -> str:
    """The secret that signs a workspace's per-ticket reply addresses, so nobody can guess one."""
    return secrets.token_hex(16)


class AssignmentStrategy(StrEnum):
    round_robin = "round_robin"
    least_loaded = "least_loaded"
    by_priority = "by_priority"
    by_skill = "by_skill"


class Workspace(Base):
    __tablename__ = "workspace"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    categories: Mapped[list[str]] = mapped_column(JSONType, default=lambda: list(DEFAULT_CATEGORIES))
    ticket_counter: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    # Automation settings.
    auto_assign: Mapped[bool] = mapped_column(Boolean, default=False)
    assignment_strategy: Mapped[AssignmentStrategy] = mapped_column(
        enum_column(AssignmentStrategy, "assignment_strategy"), default=AssignmentStrategy.round_robin
    )
    # {"billing": "least_loaded"}: categories that use another strategy than the workspace's.
    category_strategies: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    agent_capacity: Mapped[int | None] = mapped_column(Integer, default=None)
    # Escalate a ticket this long after its first-response target passed while still open and unassigned.
    escalation_delay_minutes: Mapped[int] = mapped_column(Integer, default=0)
    auto_close_after_days: Mapped[int | None] = mapped_column(Integer, default=7)
    pending_reminder_after_days: Mapped[int | None] = mapped_column(Integer, default=3)
    assignment_counter: Mapped[int] = mapped_column(BigIntId, default=0)
    # Changed by every change to SLA policies or calendars, and to triggers, so that processes know when
    # their cached copy is stale (workspaces.revisions).
    # A workspace added without the service starts from random revisions too (see _fresh_revision).
    sla_revision: Mapped[int] = mapped_column(Integer, default=_fresh_revision)
    automation_revision: Mapped[int] = mapped_column(Integer, default=_fresh_revision)
    # Changed by every change to what the workspace sends out (webhook subscriptions, e-mail settings
    # and templates).
    delivery_revision: Mapped[int] = mapped_column(Integer, default=_fresh_revision)
    # E-mail out. Without a sender address of its own the workspace sends from the server's
    # (SUPPORTDESK_MAIL_FROM); an empty provider list means every provider the server configures, in
    # its order.
    email_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    email_from_address: Mapped[str | None] = mapped_column(String(254), default=None)
    email_from_name: Mapped[str | None] = mapped_column(String(200), default=None)
    email_reply_address: Mapped[str | None] = mapped_column(String(254), default=None)
    email_providers: Mapped[list[str]] = mapped_column(JSONType, default=list)
    email_reply_key: Mapped[str] = mapped_column(String(64), default=new_reply_key)

    __audited__ = True
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset(
        {
            "ticket_counter",
            "assignment_counter",
            "sla_revision",
            "automation_revision",
            "delivery_revision",
            "email_reply_key",
        }
    )

    def audit_subject(self) -> tuple[int, str, int]:
        """A workspace's events are filed in the workspace itself."""
        return self.id, "workspace", self.id
