"""The service's Prometheus metrics and the middleware that records every request in them."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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
    It records into the application's ``state.metrics``, the registry ``/metrics`` reads, so the two can
    never disagree about which metrics are the app's.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
            metrics: Metrics = scope["app"].state.metrics
            metrics.latency.labels(method, template).observe(time.perf_counter() - started)
            metrics.requests.labels(method, template, str(status)).inc()


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
