"""Request and response bodies for staff users, tokens and customers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from supportdesk.core.permissions import Role
from supportdesk.core.schemas import (
    Category,
    EmailAddress,
    Integer,
    PatchModel,
    RequestModel,
    ResponseModel,
    StrictBoolean,
    Text,
)
from supportdesk.people.models import Availability, Tier

Name = Annotated[str, Text(strip_whitespace=True, min_length=1, max_length=200)]
# A password is checked exactly as typed: request bodies strip their text, but a space at either end is
# part of a password, and the CLI, which sets passwords too, keeps it.
Password = Annotated[str, Text(strip_whitespace=False, min_length=10, max_length=1024)]
ExternalId = Annotated[str, Text(strip_whitespace=True, min_length=1, max_length=200)]
# The column holds 100 characters, fewer than a person's name.
TokenName = Annotated[str, Text(strip_whitespace=True, min_length=1, max_length=100)]


class UserCreate(RequestModel):
    email: EmailAddress
    name: Name
    role: Role = Role.agent
    password: Password | None = None
    skills: Annotated[list[Category], Field(max_length=50)] = Field(default_factory=list)
    availability: Availability = Availability.available


class UserUpdate(PatchModel):
    name: Name | None = None
    role: Role | None = None
    skills: Annotated[list[Category], Field(max_length=50)] | None = None
    availability: Availability | None = None
    email_notifications: StrictBoolean | None = None


class MeUpdate(PatchModel):
    """What a staff member changes of their own profile."""

    name: Name | None = None
    # Whether assignments, breaches and escalations are e-mailed as well as put in the in-app inbox.
    email_notifications: StrictBoolean | None = None


class UserOut(ResponseModel):
    id: int
    email: str
    name: str
    role: Role
    is_active: bool
    skills: list[str]
    availability: Availability
    email_notifications: bool
    created_at: datetime


class CustomerCreate(RequestModel):
    email: EmailAddress
    name: Name | None = None
    company: Name | None = None
    tier: Tier = Tier.free
    external_id: ExternalId | None = None


class CustomerUpdate(PatchModel):
    __nullable__ = frozenset({"name", "company", "external_id"})

    email: EmailAddress | None = None
    name: Name | None = None
    company: Name | None = None
    tier: Tier | None = None
    external_id: ExternalId | None = None


class CustomerOut(ResponseModel):
    id: int
    email: str
    name: str | None
    company: str | None
    tier: Tier
    external_id: str | None
    # What the CRM last said of the customer, and when (never set through the API: the CRM is where
    # they are kept). The tier above follows the CRM's when it gives one.
    crm_plan: str | None
    crm_account_manager: str | None
    crm_id: str | None
    crm_checked_at: datetime | None
    # Mail to the address came back undeliverable (a delivery status report), and what it said.
    email_bounced_at: datetime | None = None
    email_bounce_reason: str | None = None
    created_at: datetime
    updated_at: datetime
    version: int


class CustomerCrmOut(ResponseModel):
    """What the CRM says of a customer, and how fresh that is.

    ``source``: ``fresh`` (asked just now), ``cached`` (asked within the cache's time), ``stale`` (the
    CRM cannot be reached; its last answer), or ``stored`` (no answer to give: the tier, plan and
    account manager stored on the customer, as the CRM last gave them, with ``reason`` saying why).
    """

    customer_id: int
    email: str
    tier: Tier
    plan: str | None
    account_manager: str | None
    source: Literal["fresh", "cached", "stale", "stored"]
    checked_at: datetime | None
    stored_tier: Tier
    reason: str | None


class TokenCreate(RequestModel):
    name: TokenName
    expires_in_days: Annotated[int, Integer(ge=1, le=3650)] | None = None


class TokenOut(ResponseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret. It is shown only now; store it safely.")


class LoginRequest(RequestModel):
    email: EmailAddress
    password: Annotated[str, Text(strip_whitespace=False, min_length=1, max_length=1024)]
    workspace: Annotated[str, Text(max_length=64)] | None = None


class LoginResponse(ResponseModel):
    token: str
    expires_at: datetime | None
    user: UserOut


class MeOut(UserOut):
    workspace_id: int
    workspace_slug: str
    permissions: list[str]
