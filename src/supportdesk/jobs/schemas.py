"""Response bodies of the delivery log (/api/v1/admin/deliveries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from supportdesk.core.schemas import ResponseModel
from supportdesk.jobs.models import DeliveryChannel, DeliveryState


class DeliveryAttemptOut(ResponseModel):
    number: int
    started_at: datetime
    duration_ms: int = Field(description="How long the attempt took, sending and waiting for the answer.")
    succeeded: bool
    provider: str | None
    status_code: int | None = Field(description="The receiver's HTTP status, where it answered one.")
    error: str | None


class DeliveryOut(ResponseModel):
    id: int
    channel: DeliveryChannel
    target: str = Field(description="The recipient: an e-mail address, or a webhook subscription's id.")
    dedupe_key: str = Field(description="Names the change and the recipient; sent as the webhook-id.")
    ticket_id: int | None
    state: DeliveryState
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None = Field(
        description="When it is tried next (pending), or when its lease ends (queued or sending)."
    )
    last_error: str | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    provider: str | None = Field(description="Which provider of a fallback chain delivered it.")
    provider_message_id: str | None
    manual_retries: int
    created_at: datetime
    last_status_code: int | None = Field(
        default=None, description="What the receiver answered to the latest attempt, where it answered."
    )
    last_duration_ms: int | None = Field(default=None, description="How long the latest attempt took.")


class DeliveryDetailOut(DeliveryOut):
    payload: dict[str, Any]
    attempt_log: list[DeliveryAttemptOut]
