"""HTTP helpers shared by the routers: ETags and JSON responses built from response models."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import Response
from pydantic import BaseModel

from supportdesk.core.errors import InvalidInput, PreconditionFailed
from supportdesk.core.schemas import QueryText

JSON = "application/json"
_ETAG = re.compile(r'^(?:W/)?"v([0-9]{1,18})"$', re.ASCII)


IfMatch = Annotated[
    QueryText | None,
    Header(
        description='The ETag you read, e.g. "v3"; the change is refused with 412 if it is stale.',
        json_schema_extra={"pattern": '^(\\*|(W/)?"v[0-9]{1,18}")$'},
    ),
]
"""The If-Match header of an update; :func:`parse_if_match` reads it."""


def etag(version: int) -> str:
    """The entity tag of a resource at ``version``."""
    return f'"v{version}"'


def parse_if_match(value: str | None) -> int | None:
    """The version an If-Match header expects; ``None`` when absent or ``*``."""
    if value is None or value.strip() == "*":
        return None
    match = _ETAG.match(value.strip())
    if match is None:
        raise InvalidInput("If-Match", 'Send the ETag you received, like "v3".', reason="invalid-etag")
    return int(match.group(1))


def require_version(current: int, expected: int | None) -> None:
    """Refuse a change based on a stale read: ``expected`` (from If-Match) must be the current version."""
    if expected is not None and expected != current:
        raise PreconditionFailed(
            f"The resource is at version {current}, not {expected}", current_version=current
        )


def model_response(
    model: BaseModel, *, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response of ``model``, serialised by pydantic in one step."""
    return Response(model.model_dump_json(), status_code=status_code, headers=headers, media_type=JSON)


def versioned_response(view: BaseModel, version: int) -> Response:
    """``view`` as JSON with the ETag of the resource at ``version`` (for the next If-Match)."""
    return model_response(view, headers={"ETag": etag(version)})


def created_headers(version: int, location: str) -> dict[str, str]:
    """The headers of a 201: the new resource's ETag and its address."""
    return {"ETag": etag(version), "Location": location}


def named_fields(body: BaseModel) -> dict[str, Any]:
    """The validated values of the fields a PATCH body named (nested models as models, not dumps)."""
    return {name: getattr(body, name) for name in body.model_fields_set}
