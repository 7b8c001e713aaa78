"""Shared Pydantic building blocks for request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from supportdesk.core.emails import validate_email_detailed

# The largest id JavaScript clients read exactly (and far below the BIGINT limit of the database).
MAX_ID = 2**53 - 1

ObjectId = Annotated[int, Path(ge=1, le=MAX_ID, description="The object's id")]
"""An id in a URL: a positive integer that fits the database's id column."""

QueryId = Annotated[int, Query(ge=1, le=MAX_ID)]
"""An id given as a query parameter."""

BodyId = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]
"""An id in a request body (strict: JSON ``true`` or ``"7"`` is not an id)."""

StrictBoolean = Annotated[bool, Strict()]
"""A JSON boolean; ``1`` or ``"yes"`` is refused."""


def _iso_timestamp(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise PydanticCustomError(
            "datetime_format", "Give an ISO 8601 time, e.g. 2026-01-31T12:00:00Z."
        ) from None
    if moment.tzinfo is None:
        raise PydanticCustomError("naive-datetime", "Give a time zone, e.g. 2026-01-31T12:00:00Z.")
    return moment


Timestamp = Annotated[
    datetime,
    BeforeValidator(_iso_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""An ISO 8601 time with a time zone; numbers and zone-less times are refused."""


class RequestModel(BaseModel):
    """A request body: unknown fields are refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def drop_null_variant(schema: dict[str, Any]) -> None:
    """Turn a JSON schema of "X or null" into "X", in place."""
    variants = schema.get("anyOf")
    if not isinstance(variants, list) or {"type": "null"} not in variants:
        return
    kept = [variant for variant in variants if variant != {"type": "null"}]
    schema.pop("default", None)
    del schema["anyOf"]
    if len(kept) == 1:
        schema.update(kept[0])
    else:
        schema["anyOf"] = kept


def _drop_null_from_schema(schema: dict[str, Any], model: type[BaseModel]) -> None:
    nullable: frozenset[str] = getattr(model, "__nullable__", frozenset())
    for name, field in schema.get("properties", {}).items():
        if name not in nullable:
            drop_null_variant(field)


class PatchModel(RequestModel):
    """A partial update: fields may be left out; only those in ``__nullable__`` may be set to null.

    The published schema says the same, so clients (and contract tests) know ``null`` is refused.
    """

    model_config = ConfigDict(json_schema_extra=_drop_null_from_schema)
    __nullable__: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.__nullable__:
            raise PydanticCustomError("null", "Leave the field out to keep its value; it cannot be null.")
        return value


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
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.:-]*$"}
    ),
]
Category = Annotated[
    str,
    BeforeValidator(_lowered),
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$"),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]*$"}
    ),
]
