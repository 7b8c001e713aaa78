"""Request and response bodies of the workspace API."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from supportdesk.core.schemas import (
    Category,
    EmailAddress,
    Integer,
    PatchModel,
    PublishedKeyPattern,
    ResponseModel,
    StrictBoolean,
    Text,
)
from supportdesk.workspaces.models import AssignmentStrategy

Days = Annotated[int, Integer(ge=1, le=3650)]
SenderName = Annotated[str, Text(strip_whitespace=True, min_length=1, max_length=200)]
# A mail provider's name, as the server's SUPPORTDESK_MAIL_PROVIDERS gives it.
ProviderName = Annotated[str, Text(max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]


class WorkspaceOut(ResponseModel):
    id: int
    slug: str
    name: str
    categories: list[str]
    auto_assign: bool
    assignment_strategy: AssignmentStrategy
    category_strategies: dict[str, AssignmentStrategy]
    agent_capacity: int | None
    escalation_delay_minutes: int
    auto_close_after_days: int | None
    pending_reminder_after_days: int | None
    email_enabled: bool
    email_from_address: str | None
    email_from_name: str | None
    email_reply_address: str | None
    email_providers: list[str]


class WorkspaceUpdate(PatchModel):
    """The settings to change; the others keep their values. ``null`` turns a limit or automation off."""

    __nullable__ = frozenset(
        {
            "agent_capacity",
            "auto_close_after_days",
            "pending_reminder_after_days",
            "email_from_address",
            "email_from_name",
            "email_reply_address",
        }
    )

    categories: Annotated[list[Category], Field(min_length=1, max_length=100)] | None = None
    auto_assign: StrictBoolean | None = None
    assignment_strategy: AssignmentStrategy | None = None
    category_strategies: (
        Annotated[dict[Category, AssignmentStrategy], Field(max_length=100), PublishedKeyPattern()] | None
    ) = None
    agent_capacity: Annotated[int, Integer(ge=1, le=10_000)] | None = None
    escalation_delay_minutes: Annotated[int, Integer(ge=0, le=525_600)] | None = None
    auto_close_after_days: Days | None = None
    pending_reminder_after_days: Days | None = None
    # E-mail out. ``null`` sender address: the server's (SUPPORTDESK_MAIL_FROM); ``null`` reply address:
    # customers reply to the sender address and replies are matched by the subject's ticket token.
    email_enabled: StrictBoolean | None = None
    email_from_address: EmailAddress | None = None
    email_from_name: SenderName | None = None
    email_reply_address: EmailAddress | None = None
    email_providers: Annotated[list[ProviderName], Field(max_length=10)] | None = None
