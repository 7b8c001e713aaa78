"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supportdesk.db import migrate
from supportdesk.db.session import Database

router = APIRouter(tags=["operations"])


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app, so tests stay apart)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "supportdesk_http_requests",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "supportdesk_http_request_duration_seconds",
            "Time to handle an HTTP request",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )


class MetricsMiddleware:
    """Counts and times every request by its route template (not its raw path, to bound the labels).

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` would cost as much as a small endpoint.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            template = route_template(scope)
            method = str(scope["method"])
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
            self.metrics.requests.labels(method, template, str(status)).inc()


def route_template(scope: Scope) -> str:
    """The route's full path template (``/api/v1/tickets/{ticket_id}``), or ``unmatched``.

    Routes of included routers know their path without the outer prefix; the prefix is the part of
    the URL in front of what the route's own pattern matches.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    pattern = getattr(route, "path_regex", None)
    if not isinstance(template, str) or pattern is None:
        return "unmatched"
    path = str(scope["path"])
    for index, char in enumerate(path):
        if char == "/" and pattern.match(path[index:]):
            return path[:index] + template
    return template


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable and migrated")
async def readyz(request: Request) -> JSONResponse:
    database: Database = request.app.state.database
    try:
        async with database.new_session(readonly=True) as session:
            connection = await session.connection()
            await connection.execute(text("SELECT 1"))
            migrated = await migrate.revision_on(connection) == migrate.head_revision()
    except Exception as error:  # noqa: BLE001  (any failure means not ready; the reason is reported)
        return JSONResponse(
            {"status": "unavailable", "database": f"unreachable: {type(error).__name__}"}, 503
        )
    if not migrated:
        return JSONResponse({"status": "unavailable", "database": "not migrated"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
