"""Every text a request may send fits the column it is written to: the schema's maximum length equals
the column's, so PostgreSQL (which enforces VARCHAR lengths, unlike SQLite) never refuses what the API
accepted.

Request bodies are found by walking the API; their fields are matched to columns by name, through the
tables below where the names differ. A text field that matches no column fails the test unless it is
listed as not stored, so a new field cannot slip past it.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import JSON, Column, String, Table

from supportdesk.app import create_app
from supportdesk.automation.models import Macro, Trigger
from supportdesk.automation.schemas import MacroCreate, MacroUpdate, TriggerCreate, TriggerUpdate
from supportdesk.channels.email.models import Mailbox
from supportdesk.channels.email.schemas import MailboxCreate, MailboxUpdate
from supportdesk.core.emails import MAX_EMAIL_LENGTH
from supportdesk.core.schemas import _checked_email
from supportdesk.db.base import Base
from supportdesk.idempotency.models import IdempotencyRecord
from supportdesk.idempotency.service import HEADER as IDEMPOTENCY_KEY
from supportdesk.notifications.mail.models import EmailTemplate
from supportdesk.notifications.mail.schemas import EmailTemplateIn
from supportdesk.people.models import ApiToken, Customer, User
from supportdesk.people.schemas import (
    CustomerCreate,
    CustomerUpdate,
    LoginRequest,
    MeUpdate,
    TokenCreate,
    UserCreate,
    UserUpdate,
)
from supportdesk.sla.models import BusinessCalendar, SlaPolicy
from supportdesk.sla.schemas import CalendarCreate, CalendarUpdate, PolicyCreate, PolicyUpdate
from supportdesk.tickets.models import Comment, Ticket, TicketParticipant, TicketTag
from supportdesk.tickets.schemas import CommentCreate, ParticipantCreate, TicketCreate, TicketUpdate
from supportdesk.webhooks.models import WebhookSubscription
from supportdesk.webhooks.schemas import SubscriptionCreate, SubscriptionUpdate
from supportdesk.workspaces.models import Workspace
from supportdesk.workspaces.schemas import WorkspaceUpdate
from tests.fixtures.database import make_settings
from tests.unit.core.api_inputs import ApiInput, StringLeaf, api_inputs, string_leaves

# The model whose table a request body's fields are written to (or, for a login, looked up in).
WRITTEN_TO: dict[type[BaseModel], type[Base]] = {
    TicketCreate: Ticket,
    TicketUpdate: Ticket,
    MailboxCreate: Mailbox,
    ParticipantCreate: TicketParticipant,
    MailboxUpdate: Mailbox,
    CommentCreate: Comment,
    CustomerCreate: Customer,
    CustomerUpdate: Customer,
    UserCreate: User,
    UserUpdate: User,
    MeUpdate: User,
    TokenCreate: ApiToken,
    LoginRequest: User,
    WorkspaceUpdate: Workspace,
    CalendarCreate: BusinessCalendar,
    CalendarUpdate: BusinessCalendar,
    PolicyCreate: SlaPolicy,
    PolicyUpdate: SlaPolicy,
    TriggerCreate: Trigger,
    TriggerUpdate: Trigger,
    MacroCreate: Macro,
    MacroUpdate: Macro,
    SubscriptionCreate: WebhookSubscription,
    SubscriptionUpdate: WebhookSubscription,
    EmailTemplateIn: EmailTemplate,
}

# Fields stored under another name, or in another table.
COLUMN_OF: dict[tuple[type[BaseModel], str], Any] = {
    (TicketCreate, "customer_name"): Customer.name,
    (TicketCreate, "tags"): TicketTag.name,
    (TicketUpdate, "tags"): TicketTag.name,
    (LoginRequest, "workspace"): Workspace.slug,
}

# Text that is never written as it was sent.
NOT_STORED: dict[tuple[type[BaseModel], str], str] = {
    (UserCreate, "password"): "only its argon2 hash is stored",
    (LoginRequest, "password"): "checked against the stored hash",
}

# Parameters (query strings and headers) that are written; the others only filter or point at a page.
PARAMETER_COLUMNS: dict[str, Any] = {IDEMPOTENCY_KEY: IdempotencyRecord.key, "token": Mailbox.hook_token}
FILTERS = frozenset({"assignee", "category", "tag", "company", "cursor", "email", "if-match", "target", "q"})


@pytest.fixture(scope="module")
def api() -> FastAPI:
    """The application, built only to read its routes (nothing connects to a database)."""
    return create_app(make_settings())


@pytest.fixture(scope="module")
def inputs(api: FastAPI) -> list[ApiInput]:
    return api_inputs(api)


def _column(model: type[Base], name: str) -> Column[Any] | None:
    table = model.__table__
    assert isinstance(table, Table)
    column: Column[Any] | None = table.c.get(name)
    return column


def _max_length(leaf: StringLeaf) -> int | None:
    # An e-mail address's length is checked by the e-mail validator, which gives it its own reason code.
    if _checked_email in leaf.functions:
        return MAX_EMAIL_LENGTH
    length = leaf.schema.get("max_length")
    return int(length) if length is not None else None


def _mismatch(where: str, leaf: StringLeaf, column: Any) -> str | None:
    """What is wrong with sending ``leaf`` to ``column``; None when it fits."""
    column_type = column.type
    allowed = _max_length(leaf)
    if isinstance(column_type, String) and column_type.length is not None:
        if allowed != column_type.length:
            return f"{where}: the schema allows {allowed} characters, {column} holds {column_type.length}"
    elif isinstance(column_type, String | JSON):
        # Unbounded columns (TEXT, JSON) hold anything, but the request should still have a limit.
        if allowed is None:
            return f"{where}: no maximum length, written to {column}"
    else:
        return f"{where}: text written to {column}, a {column_type} column"
    return None


def test_every_request_body_is_mapped_to_its_table(inputs: list[ApiInput]) -> None:
    bodies = {api_input.model for api_input in inputs if api_input.location == "body"}
    with_text = {
        model for model in bodies if model is not None and string_leaves(model.__pydantic_core_schema__)
    }
    assert with_text <= set(WRITTEN_TO), "add the new request body to WRITTEN_TO"
    assert set(WRITTEN_TO) <= bodies, "WRITTEN_TO names a model no endpoint reads any more"


def test_every_stored_text_of_a_request_body_fits_its_column(inputs: list[ApiInput]) -> None:
    problems: list[str] = []
    checked = 0
    for model, table_model in WRITTEN_TO.items():
        for leaf in string_leaves(model.__pydantic_core_schema__):
            field = leaf.field_names[0]
            where = f"{model.__name__}.{leaf.label}"
            if (model, field) in NOT_STORED:
                continue
            column = COLUMN_OF.get((model, field))
            if column is None:
                column = _column(table_model, field)
            if column is None:
                problems.append(
                    f"{where}: no column {table_model.__name__}.{field}; map it or list it as not stored"
                )
                continue
            checked += 1
            if (problem := _mismatch(where, leaf, column)) is not None:
                problems.append(problem)
    assert problems == []
    assert checked > 50  # not vacuous: nested texts (conditions, opening hours) are among them


def test_every_text_parameter_is_stored_in_a_column_it_fits_or_only_filters(inputs: list[ApiInput]) -> None:
    problems: list[str] = []
    for api_input in inputs:
        if api_input.location == "body":
            continue
        for leaf in string_leaves(api_input.adapter.core_schema):
            if api_input.name in PARAMETER_COLUMNS:
                problem = _mismatch(api_input.label, leaf, PARAMETER_COLUMNS[api_input.name])
                if problem is not None:
                    problems.append(problem)
            elif api_input.name not in FILTERS:
                problems.append(f"{api_input.label}: a text parameter neither stored nor listed as a filter")
    assert problems == []


def test_a_token_name_may_be_as_long_as_its_column_and_no_longer() -> None:
    column = _column(ApiToken, "name")
    assert column is not None
    assert isinstance(column.type, String)
    longest = column.type.length
    assert longest is not None
    assert TokenCreate(name="n" * longest).name == "n" * longest
    with pytest.raises(ValueError, match="string_too_long"):
        TokenCreate(name="n" * (longest + 1))
