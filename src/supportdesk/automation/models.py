"""Triggers (rules run when a ticket changes) and macros (bundles of actions an agent applies)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.db.base import Base, BigIntId, WorkspaceScoped
from supportdesk.db.types import JSONType, enum_column, json_default_list


class TriggerEvent(StrEnum):
    created = "created"
    updated = "updated"
    commented = "commented"


class Trigger(WorkspaceScoped, Base):
    """When ``event`` happens to a ticket and the conditions hold, apply the actions."""

    __tablename__ = "trigger"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        # The one hot query: a workspace's triggers for one event, in order.
        Index("ix_trigger_workspace_event", "workspace_id", "event", "position", "id"),
    )
    __audited__ = True

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    event: Mapped[TriggerEvent] = mapped_column(enum_column(TriggerEvent, "trigger_event"))
    # Validated JSON (automation.conditions, automation.actions): all of `conditions` must hold, and
    # one of `any_conditions` when there are any.
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=json_default_list)
    any_conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=json_default_list)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=json_default_list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Macro(WorkspaceScoped, Base):
    """Actions an agent applies to a ticket in one go, with an optional canned reply."""

    __tablename__ = "macro"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    __audited__ = True

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=json_default_list)
    # A jinja2 template with placeholders (automation.templates.REPLY_LANGUAGE), checked when saved.
    reply: Mapped[str | None] = mapped_column(Text, default=None)
    reply_public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
