"""Turns every error into an RFC 9457 problem response in one place."""

from __future__ import annotations

import logging
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from supportdesk.core.errors import SupportdeskError

PROBLEM_MEDIA_TYPE = "application/problem+json"
_log = logging.getLogger(__name__)

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


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    error = cast(StarletteHTTPException, error)
    code = _HTTP_CODES.get(error.status_code, "error")
    return problem(
        request,
        status=error.status_code,
        code=code,
        title=str(error.detail),
        headers=dict(error.headers) if error.headers else None,
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


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error type to its problem response."""
    app.add_exception_handler(SupportdeskError, _supportdesk_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StaleDataError, _stale_data)
    app.add_exception_handler(IntegrityError, _integrity_error)
