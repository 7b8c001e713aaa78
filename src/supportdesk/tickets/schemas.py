"""Request and response bodies of the ticket API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from supportdesk.core.schemas import (
    BodyId,
    Category,
    EmailAddress,
    PatchModel,
    RequestModel,
    ResponseModel,
    StrictBoolean,
    Tag,
    Text,
)
from supportdesk.tickets.models import Channel, Priority, SatisfactionRating, TicketStatus

Title = Annotated[str, Text(strip_whitespace=True, min_length=1, max_length=300)]
Description = Annotated[str, Text(max_length=100_000)]
ExternalId = Annotated[str, Text(strip_whitespace=True, min_length=1, max_length=200)]
CustomerName = Annotated[str, Text(max_length=200)]
Tags = Annotated[list[Tag], Field(max_length=20)]


class TicketCreate(RequestModel):
    title: Title
    description: Description = ""
    priority: Priority = Priority.medium
    category: Category | None = None
    tags: Tags = Field(default_factory=list)
    customer_email: EmailAddress | None = None
    customer_name: CustomerName | None = None
    assigned_agent_id: BodyId | None = None
    channel: Channel = Channel.api
    external_id: ExternalId | None = None


class TicketUpdate(PatchModel):
    __nullable__ = frozenset({"assigned_agent_id", "external_id"})

    title: Title | None = None
    description: Description | None = None
    status: TicketStatus | None = None
    priority: Priority | None = None
    category: Category | None = None
    tags: Tags | None = None
    assigned_agent_id: BodyId | None = None
    external_id: ExternalId | None = None


class TicketSort(StrEnum):
    created_at = "created_at"
    created_at_desc = "-created_at"
    updated_at = "updated_at"
    updated_at_desc = "-updated_at"
    priority = "priority"
    priority_desc = "-priority"
    number = "number"
    number_desc = "-number"
    # The next running SLA target first (first response while unanswered, then resolution); tickets
    # whose clocks have stopped (resolved, closed) or that have none come last.
    sla_due = "sla_due"
    sla_due_desc = "-sla_due"


class CommentAuthor(StrEnum):
    agent = "agent"
    customer = "customer"


class CommentCreate(RequestModel):
    content: Annotated[str, Text(strip_whitespace=True, min_length=1, max_length=100_000)]
    is_public: StrictBoolean = True
    author: CommentAuthor = CommentAuthor.agent


class AttachmentOut(ResponseModel):
    id: int
    ticket_id: int
    comment_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    # Where its bytes are downloaded from.
    url: str


class CommentOut(ResponseModel):
    id: int
    ticket_id: int
    author_user_id: int | None
    author_customer_id: int | None
    author_email: str | None
    content: str
    is_public: bool
    created_at: datetime


class CommentWithFilesOut(CommentOut):
    attachments: list[AttachmentOut]


class SatisfactionOut(ResponseModel):
    """What the customer said of the resolution; every field is null until they answer."""

    ticket_id: int
    rating: SatisfactionRating | None = None
    comment: str | None = None
    customer_id: int | None = None
    rated_at: datetime | None = None
    updated_at: datetime | None = None


class ParticipantCreate(RequestModel):
    email: EmailAddress = Field(description="Who hears the ticket's public replies from now on.")
    name: Annotated[str, Text(strip_whitespace=True, min_length=1, max_length=200)] | None = None


class ParticipantOut(ResponseModel):
    id: int
    email: str
    name: str | None
    added_by_user_id: int | None
    created_at: datetime
