"""Turns every error into an RFC 9457 problem response in one place."""

from __future__ import annotations

import logging
import re
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from supportdesk.core.errors import SupportdeskError
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
                    if (
                        status.isdigit()
                        and int(status) in PROBLEM_RESPONSES
                        and "application/json" in content
                    ):
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
    document_problems(app)
