"""The e-mails the desk sends, and a workspace's own wording of them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.db.base import Base, BigIntId, WorkspaceScoped
from supportdesk.db.types import enum_column


class Audience(StrEnum):
    customer = "customer"
    staff = "staff"


class EmailKind(StrEnum):
    """Each e-mail the desk sends; every one has a default template and may have a workspace's own."""

    ticket_received = "ticket_received"
    agent_reply = "agent_reply"
    status_changed = "status_changed"
    satisfaction_request = "satisfaction_request"
    ticket_assigned = "ticket_assigned"
    sla_breached = "sla_breached"
    ticket_escalated = "ticket_escalated"
    # A customer's link to sign in to the portal; about no ticket.
    portal_sign_in = "portal_sign_in"

    @property
    def audience(self) -> Audience:
        return Audience.staff if self in _STAFF_KINDS else Audience.customer


_STAFF_KINDS = frozenset({EmailKind.ticket_assigned, EmailKind.sla_breached, EmailKind.ticket_escalated})


class EmailTemplate(WorkspaceScoped, Base):
    """A workspace's wording of one kind of e-mail, in place of the default; Jinja2, rendered sandboxed."""

    __tablename__ = "email_template"
    __table_args__ = (UniqueConstraint("workspace_id", "kind"),)
    __audited__ = True
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset({"updated_at"})

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    kind: Mapped[EmailKind] = mapped_column(enum_column(EmailKind, "email_kind"))
    subject: Mapped[str] = mapped_column(String(500))
    text_body: Mapped[str] = mapped_column(Text)
    # None: the e-mail is sent as plain text only.
    html_body: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
