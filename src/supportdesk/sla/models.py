"""SLA policies and the business-hours calendars they may count in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportdesk.db.base import Base, BigIntId, WorkspaceScoped
from supportdesk.db.types import JSONType, enum_column, json_default_list
from supportdesk.people.models import Tier


class BusinessCalendar(WorkspaceScoped, Base):
    """When the desk is open: a time zone, weekly opening hours and holidays."""

    __tablename__ = "business_calendar"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    __audited__ = True

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    # {"monday": [["09:00", "17:00"]], ...}; a missing day is closed.
    weekly_hours: Mapped[dict[str, list[list[str]]]] = mapped_column(JSONType)
    holiday_country: Mapped[str | None] = mapped_column(String(8), default=None)
    holiday_subdivision: Mapped[str | None] = mapped_column(String(16), default=None)
    # ISO dates ("2026-12-24") on which the desk is closed besides the national holidays.
    custom_holidays: Mapped[list[str]] = mapped_column(JSONType, default=json_default_list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class SlaPolicy(WorkspaceScoped, Base):
    """Targets per priority for first response and resolution, for tickets of a tier and/or category."""

    __tablename__ = "sla_policy"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    __audited__ = True

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    tier: Mapped[Tier | None] = mapped_column(enum_column(Tier, "sla_policy_tier"), default=None)
    category: Mapped[str | None] = mapped_column(String(64), default=None)
    # None counts calendar time (24/7). A calendar in use cannot be deleted.
    calendar_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("business_calendar.id", ondelete="RESTRICT"), default=None, index=True
    )
    # {"critical": 60, ...} in minutes; a priority left out takes the built-in default.
    first_response_minutes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    resolution_minutes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)

    calendar: Mapped[BusinessCalendar | None] = relationship(lazy="raise")

    __mapper_args__ = {"version_id_col": version}
