"""Turns every error into an RFC 9457 problem response in one place."""

from __future__ import annotations

import logging
import re
from typing import Any, cast

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from limits.errors import StorageError
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from supportdesk.core.errors import InvalidInput, NotFound, SupportdeskError, TooManyRequests
from supportdesk.core.schemas import drop_null_variant

PROBLEM_MEDIA_TYPE = "application/problem+json"
_log = logging.getLogger(__name__)


class FieldError(BaseModel):
    """One invalid field of a request."""

    field: str
    message: str
    type: str
    location: str | None = None


class Problem(BaseModel):
    """An RFC 9457 problem document; ``code`` is stable and safe to branch on."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    code: str
    detail: str
    instance: str
    errors: list[FieldError] | None = None


def _documented(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description, "content": {PROBLEM_MEDIA_TYPE: {}}}


# Documented on every API operation, so clients (and contract tests) know the error shape.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("The request body could not be read"),
    401: _documented("Missing, unknown, revoked or expired credentials"),
    403: _documented("The role does not allow this action"),
    404: _documented("No such object in this workspace"),
    409: _documented("The change conflicts with the object's state or with other data"),
    412: _documented("If-Match named an older version"),
    422: _documented("Invalid input; `errors` names each field"),
}

_RETRY_AFTER_HEADER = {
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}
}
# Documented on the operations that are rate limited.
TOO_MANY_REQUESTS: dict[str, Any] = {
    **_documented("Too many attempts; `Retry-After` says when to try again"),
    "headers": _RETRY_AFTER_HEADER,
}

# How long a client is asked to wait when the database cannot be reached. Long enough not to add to
# the load of a database that is coming back, short enough that a brief failover goes unnoticed.
UNAVAILABLE_RETRY_AFTER_SECONDS = 5

_HTTP_CODES = {
    400: "bad-request",
    401: "not-authenticated",
    403: "permission-denied",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    429: "too-many-requests",
}


def problem(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response with a stable ``code``."""
    body: dict[str, Any] = {
        "type": f"urn:supportdesk:problem:{code}",
        "title": title,
        "status": status,
        "code": code,
        "detail": detail or title,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _supportdesk_error(request: Request, error: Exception) -> JSONResponse:
    error = cast(SupportdeskError, error)
    headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
    if isinstance(error, TooManyRequests):
        headers = {"Retry-After": str(error.retry_after)}
    return problem(
        request,
        status=error.status_code,
        code=error.code,
        title=error.title,
        detail=error.detail,
        headers=headers,
        **error.extra,
    )


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    error = cast(RequestValidationError, error)
    errors = [
        {
            "field": _field_name(tuple(item.get("loc", ()))),
            "location": str(item.get("loc", ("body",))[0]),
            "message": item.get("msg", "invalid"),
            "type": item.get("type", "invalid"),
        }
        for item in error.errors()
    ]
    fields = ", ".join(sorted({item["field"] for item in errors}))
    return problem(
        request,
        status=422,
        code="validation-error",
        title="The request is not valid",
        detail=f"Invalid fields: {fields}",
        errors=errors,
    )


def page_refusal(error: RequestValidationError) -> SupportdeskError:
    """What a page shows for a request FastAPI could not read: a path that names nothing (an unknown
    kind, an id that is not a number) is not found, as a missing item is; anything else is invalid."""
    problems = error.errors()
    if any(item.get("loc", ("",))[0] == "path" for item in problems):
        return NotFound("No such page")
    first = problems[0] if problems else {}
    field = _field_name(tuple(first.get("loc", ())))
    return InvalidInput(field, f"{field}: {first.get('msg', 'invalid')}")


def _path_pattern(template: str, operations: dict[str, Any]) -> re.Pattern[str]:
    integers = {
        parameter["name"]
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter.get("in") == "path" and parameter.get("schema", {}).get("type") == "integer"
    }
    pattern = ""
    for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", template):
        pattern += re.escape(literal)
        if name:
            pattern += "[0-9]+" if name in integers else "[^/]+"
    return re.compile(f"^{pattern}$")


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the API serves at ``path``, from the published schema (for ``Allow``)."""
    patterns: list[tuple[re.Pattern[str], list[str]]] | None = getattr(app.state, "allow_patterns", None)
    if patterns is None:
        patterns = [
            (_path_pattern(template, operations), list(operations))
            for template, operations in app.openapi().get("paths", {}).items()
        ]
        app.state.allow_patterns = patterns
    methods = {
        method.upper() for pattern, operations in patterns if pattern.match(path) for method in operations
    }
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    error = cast(StarletteHTTPException, error)
    code = _HTTP_CODES.get(error.status_code, "error")
    headers = dict(error.headers) if error.headers else {}
    if error.status_code == 405:
        # Starlette names only the first matching route's methods; list every one served here.
        headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
    return problem(
        request, status=error.status_code, code=code, title=str(error.detail), headers=headers or None
    )


async def _stale_data(request: Request, _error: Exception) -> JSONResponse:
    return problem(
        request,
        status=409,
        code="concurrent-update",
        title="Someone else changed this resource at the same time; read it again and retry",
    )


async def _integrity_error(request: Request, error: Exception) -> JSONResponse:
    _log.info("integrity error on %s: %s", request.url.path, error)
    return problem(
        request,
        status=409,
        code="conflict",
        title="The change conflicts with existing data",
    )


async def _unavailable(request: Request, error: Exception) -> JSONResponse:
    # A driver error may also be the database refusing one statement while it is up; only one that
    # SQLAlchemy counts as operational, that broke the connection or whose SQLSTATE says the database
    # cannot be used is an outage. The rest are faults of the server, logged here with their traceback.
    if isinstance(error, DBAPIError) and not _is_outage(error):
        _log.error("unhandled %s on %s", type(error).__name__, request.url.path, exc_info=error)
        return _internal_problem(request)
    _log.warning("service unavailable on %s: %s: %s", request.url.path, type(error).__name__, error)
    return problem(
        request,
        status=503,
        code="service-unavailable",
        title="The service cannot reach its database; try again shortly",
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
    )


# SQLSTATE classes that say the database cannot be used at all, not that one statement was wrong:
# connection exceptions, refused logins, a missing database, resources exhausted, the server shutting
# down or starting up.
_OUTAGE_SQLSTATES = ("08", "28", "3D", "53", "57P")


def _is_outage(error: DBAPIError) -> bool:
    if isinstance(error, OperationalError) or error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_OUTAGE_SQLSTATES)


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    # Starlette re-raises the exception once this answer is sent, so the server logs its traceback; the
    # client learns nothing about it. This answer leaves from outside the application's middleware, which
    # is why it sets the header the middleware would have added.
    return _internal_problem(request, headers={"X-Content-Type-Options": "nosniff"})


def _internal_problem(request: Request, headers: dict[str, str] | None = None) -> JSONResponse:
    return problem(
        request,
        status=500,
        code="internal-error",
        title="Internal server error",
        detail="The server failed to handle the request; the error has been logged",
        headers=headers,
    )


# Errors that mean the database (or the rate limit store) is out of reach rather than the request wrong:
# refused or dropped connections, timeouts, the pool running dry, a server that is starting or full.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OSError,  # connection refused or reset, unknown host, connect timeouts (TimeoutError is an OSError)
    OperationalError,
    DBAPIError,
    DisconnectionError,
    PoolTimeoutError,
    # SQLAlchemy wraps the driver's errors once connected; one that arrives unwrapped was raised while
    # connecting: the server is starting or full, the database is missing, the login is refused.
    asyncpg.PostgresError,
    StorageError,
)


def document_problems(app: FastAPI) -> None:
    """Publish error responses under ``application/problem+json``, the media type they are sent with,
    and optional parameters as absent-or-value rather than nullable.

    FastAPI files a response model under ``application/json``; this moves it in the generated schema.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    # A query or header parameter is absent or a value; it is never JSON null.
                    drop_null_variant(parameter.get("schema", {}))
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    # Every error this API sends is a problem document, whichever status it has.
                    if status.isdigit() and int(status) >= 400 and "application/json" in content:
                        response["content"] = {PROBLEM_MEDIA_TYPE: content["application/json"]}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error type to its problem response."""
    app.add_exception_handler(SupportdeskError, _supportdesk_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StaleDataError, _stale_data)
    app.add_exception_handler(IntegrityError, _integrity_error)
    for error_type in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error_type, _unavailable)
    # Registered for Exception, Starlette calls this from its outermost layer for anything not handled
    # above, so that even a crash answers with a problem document.
    app.add_exception_handler(Exception, _internal_error)
    document_problems(app)
