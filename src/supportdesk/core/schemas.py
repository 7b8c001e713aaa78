"""Shared Pydantic building blocks for request and response bodies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

import annotated_types
from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetJsonSchemaHandler,
    Strict,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from supportdesk.core.emails import validate_email_detailed

# The largest id JavaScript clients read exactly (and far below the BIGINT limit of the database).
MAX_ID = 2**53 - 1

ObjectId = Annotated[int, Path(ge=1, le=MAX_ID, description="The object's id")]
"""An id in a URL: a positive integer that fits the database's id column."""

QueryId = Annotated[int, Query(ge=1, le=MAX_ID)]
"""An id given as a query parameter."""


def _integral_number(value: object) -> object:
    # JSON has a single number type, and JSON Schema counts 7.0 as an integer: a client whose encoder
    # writes every number with a fraction sends an integer that way. Anything else is left to the
    # strict check, which refuses booleans, strings and numbers with a fractional part.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True, kw_only=True)
class Integer(annotated_types.Interval):
    """The constraints of every integer in a request body: ``Annotated[int, Integer(ge=1, le=100)]``.

    It takes the bounds of :class:`annotated_types.Interval`. The integer is a JSON number without a
    fractional part, written ``7`` or ``7.0``; JSON ``true``, ``"7"`` and ``7.5`` are refused. The bounds
    are applied to the integer itself, before the conversion wraps it, so that they are published as
    ``minimum`` and ``maximum`` (on a wrapped schema pydantic would publish ``ge`` and ``le``).
    """

    def __iter__(self) -> Iterator[Any]:
        yield Strict()
        yield from super().__iter__()
        # Listed after the bounds, the conversion wraps the bounded integer and so runs first.
        yield BeforeValidator(_integral_number)


BodyId = Annotated[int, Integer(ge=1, le=MAX_ID)]
"""An id in a request body."""

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
    try:
        # Read as UTC here, once: a time at the edge of the calendar (year 1 at +14:00, year 9999 at
        # -14:00) has no UTC equivalent, and would otherwise fail later, wherever it is first compared.
        return moment.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "datetime-out-of-range", "The time lies outside the years 1 to 9999 once converted to UTC."
        ) from None


Timestamp = Annotated[
    datetime,
    BeforeValidator(_iso_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""An ISO 8601 time with a time zone, read as UTC; numbers and zone-less times are refused, and so are
times that have no UTC equivalent."""

# PostgreSQL text cannot hold U+0000, and neither database can store the surrogate code points
# U+D800 to U+DFFF on their own: UTF-8 has no encoding for them, though a JSON string can carry them as
# "\ud800" escapes. Refusing them when a request is read answers 422 instead of failing at the database.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _refuse_unstorable(value: object) -> object:
    if isinstance(value, str) and _UNSTORABLE.search(value) is not None:
        raise PydanticCustomError(
            "unstorable-character",
            "Text cannot contain the NUL character (U+0000) or unpaired surrogates (U+D800 to U+DFFF).",
        )
    return value


# The published form of the refusal, so clients and generated tests know NUL is not valid text. It names
# NUL only: a JSON Schema pattern matches UTF-16 code units, where a surrogate pair (an emoji) is valid.
_NO_NUL_PATTERN = "^[^\\u0000]*$"
# What pydantic strips from text: the Unicode White_Space characters, written out because regex engines
# disagree on \s (some leave out U+0085, some add U+FEFF, Python's adds U+001C to U+001F).
_STRIPPED = "\\t\\n\\u000b\\u000c\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
# Text that is stripped and may not be empty needs one character that stripping keeps: " " or "\f"
# alone is refused as too short, so the schema must not call it valid.
_NOT_BLANK_PATTERN = f"^[^\\u0000]*[^\\u0000{_STRIPPED}][^\\u0000]*$"


@dataclass(frozen=True)
class _PublishedWithoutNul:
    not_blank: bool

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        # A pattern or format of the field's own (a tag's, an e-mail address's) admits no NUL already.
        if schema.get("type") == "string" and not {"pattern", "format"} & schema.keys():
            schema["pattern"] = _NOT_BLANK_PATTERN if self.not_blank else _NO_NUL_PATTERN
        return schema


@dataclass(frozen=True)
class Text(StringConstraints):
    """The constraints of every text input: ``Annotated[str, Text(max_length=100)]``.

    It takes the arguments of :class:`pydantic.StringConstraints` and also refuses characters no database
    can store, before the other checks, so a NUL gets the same error whatever else is wrong with the text.
    The lengths stay in pydantic's own string check, with its error types and the published schema.
    """

    def __iter__(self) -> Iterator[Any]:
        yield from super().__iter__()
        # Listed after the constraints, the validator wraps the constrained string and so runs first.
        yield BeforeValidator(_refuse_unstorable)
        # Request bodies strip their text unless a field says otherwise (RequestModel).
        stripped = self.strip_whitespace is not False
        yield _PublishedWithoutNul(not_blank=stripped and (self.min_length or 0) >= 1)


class PublishedKeyPattern:
    """Publishes the pattern of a mapping's keys as ``propertyNames``.

    Used as ``Annotated[dict[Category, V], PublishedKeyPattern()]``.

    Pydantic publishes a key pattern as ``patternProperties``, which only constrains the values of the
    keys that match it and leaves every other key allowed, while the server refuses them. Moved into
    ``propertyNames``, the pattern tells clients (and generated tests) which keys are valid at all.
    """

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        patterns = schema.pop("patternProperties", None)
        if isinstance(patterns, dict) and len(patterns) == 1:
            ((pattern, values),) = patterns.items()
            schema["propertyNames"] = {**schema.get("propertyNames", {}), "pattern": pattern}
            schema["additionalProperties"] = values
        elif patterns is not None:
            schema["patternProperties"] = patterns
        return schema


QueryText = Annotated[str, Text()]
"""A free-text query parameter or header (a filter value, a cursor)."""


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
    Text(),
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


# Lower-cased before the pattern is checked, so "Billing" is accepted as "billing" (a validator listed
# later wraps the ones before it, so it runs first).
Tag = Annotated[
    str,
    Text(min_length=1, max_length=64, pattern=r"^[\w][\w.:-]*$"),
    BeforeValidator(_lowered),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.:-]*$"}
    ),
]
Category = Annotated[
    str,
    Text(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$"),
    BeforeValidator(_lowered),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]*$"}
    ),
]
