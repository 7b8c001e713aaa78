"""Shared Pydantic building blocks for request and response bodies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from supportdesk.core.emails import validate_email_detailed

MAX_ID = 2**63 - 1

ObjectId = Annotated[int, Path(ge=1, le=MAX_ID, description="The object's id")]
"""An id in a URL: a positive integer that fits the database's id column."""

QueryId = Annotated[int, Query(ge=1, le=MAX_ID)]
"""An id given as a query parameter."""

BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]
"""An id in a request body."""


class RequestModel(BaseModel):
    """A request body: unknown fields are refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResponseModel(BaseModel):
    """A response body, read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


def _checked_email(value: str) -> str:
    result = validate_email_detailed(value)
    if not result.is_valid or result.normalized is None:
        raise PydanticCustomError(
            str(result.error_code), "{message}", {"message": result.message or "invalid e-mail address"}
        )
    return result.normalized


EmailAddress = Annotated[
    str,
    AfterValidator(_checked_email),
    WithJsonSchema(
        {
            "type": "string",
            "format": "email",
            "maxLength": 254,
            "description": "A deliverable e-mail address; reserved names such as .test are refused.",
        }
    ),
]
"""An e-mail address checked by the one validator; the error type is its reason code."""


def _lowered(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


# Lower-cased before the pattern is checked, so "Billing" is accepted as "billing".
Tag = Annotated[
    str,
    BeforeValidator(_lowered),
    StringConstraints(min_length=1, max_length=64, pattern=r"^[\w][\w.:-]*$"),
]
Category = Annotated[
    str,
    BeforeValidator(_lowered),
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$"),
]
