"""Request and response bodies of the webhook subscription API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from supportdesk.core.schemas import Integer, PatchModel, RequestModel, ResponseModel, StrictBoolean, Text
from supportdesk.webhooks.models import WebhookEvent

Url = Annotated[
    str, Text(strip_whitespace=True, min_length=8, max_length=2000, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://")
]
Description = Annotated[str, Text(strip_whitespace=True, max_length=200)]
EventTypes = Annotated[list[WebhookEvent], Field(min_length=1, max_length=len(WebhookEvent))]


class SubscriptionCreate(RequestModel):
    url: Url = Field(description="An http(s) URL the desk may call: not a private or loopback address.")
    event_types: EventTypes
    description: Description = ""
    is_active: StrictBoolean = True


class SubscriptionUpdate(PatchModel):
    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    is_active: StrictBoolean | None = None


class SecretRotation(RequestModel):
    overlap_hours: Annotated[int, Integer(ge=0, le=168)] = Field(
        default=24, description="How long the old secret goes on signing alongside the new one."
    )


class SubscriptionOut(ResponseModel):
    id: int
    url: str
    description: str
    event_types: list[WebhookEvent]
    is_active: bool
    disabled_reason: str | None = Field(
        description="Why the desk switched it off, e.g. the endpoint was gone."
    )
    previous_secret_expires_at: datetime | None = Field(
        description="While set, messages are signed with the previous secret too."
    )
    created_at: datetime
    updated_at: datetime
    version: int


class SubscriptionWithSecret(SubscriptionOut):
    secret: str = Field(description="The signing secret (whsec_...). Shown only when created or rotated.")
