"""The edges of the API: every error is a problem document (500 and 503 included), request bodies have a
size limit, every answer says ``nosniff``, and the API documentation needs nothing from outside."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from starlette.types import Message

from supportdesk.app import create_app
from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from supportdesk.ops.docs import ASSETS_PATH
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.database import DEFAULT_POSTGRES_URL, make_settings

PROBLEM = "application/problem+json"


def _client(app: FastAPI) -> httpx.AsyncClient:
    # The server-error layer re-raises after answering (so that the server logs it); a real server
    # would swallow that, and so does this transport.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


# --- 500 ------------------------------------------------------------------------------------------------


async def test_an_unhandled_error_is_a_500_problem_that_reveals_nothing(
    settings: Settings, database: Database, clock: FrozenClock
) -> None:
    app = create_app(settings, database=database, clock=clock)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("the secret internals of /srv/supportdesk")

    @app.get("/bad-statement")
    async def bad_statement() -> None:
        raise ProgrammingError("SELECT secret FROM nowhere", {}, ValueError("no such table: nowhere"))

    async with _client(app) as client:
        response = await client.get("/boom")
        statement = await client.get("/bad-statement")

    assert statement.status_code == 500  # a database that is up and refused one statement is no outage
    assert statement.json()["code"] == "internal-error"
    assert "secret" not in statement.text
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["x-content-type-options"] == "nosniff"
    body = response.json()
    assert body["code"] == "internal-error"
    assert body["status"] == 500
    assert body["instance"] == "/boom"
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text


# --- 503 ------------------------------------------------------------------------------------------------


@pytest.fixture(
    params=[
        pytest.param("postgresql+asyncpg://nobody@127.0.0.1:1/nothing", id="postgresql-closed-port"),
        pytest.param("sqlite", id="sqlite-unopenable-path"),
        pytest.param("missing", id="postgresql-missing-database", marks=pytest.mark.postgres),
    ]
)
async def unreachable_app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FastAPI]:
    url: str = request.param
    if url == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'no-such-folder' / 'supportdesk.db'}"
    elif url == "missing":
        server = make_url(os.environ.get("SUPPORTDESK_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
        missing = server.set(database=f"no_such_database_{uuid.uuid4().hex}")
        url = missing.render_as_string(hide_password=False)
    settings = make_settings(url)
    database = Database(create_engine(settings, url=url))
    yield create_app(settings, database=database)
    await database.dispose()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "/api/v1/tickets", None, id="authenticated-read"),
        pytest.param("POST", "/api/v1/tickets", {"title": "Printer on fire"}, id="authenticated-write"),
        pytest.param(
            "POST", "/api/v1/auth/login", {"email": "kim@acme.example.com", "password": "x"}, id="login"
        ),
    ],
)
async def test_an_unreachable_database_is_a_503_problem_with_retry_after(
    unreachable_app: FastAPI, method: str, path: str, body: dict[str, Any] | None
) -> None:
    async with _client(unreachable_app) as client:
        response = await client.request(
            method, path, json=body, headers={"Authorization": "Bearer sdk_not-checked-yet"}
        )

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "service-unavailable"
    assert int(response.headers["retry-after"]) > 0
    assert "nobody" not in response.text
    assert "no-such-folder" not in response.text


# --- request size limit ---------------------------------------------------------------------------------


@pytest.fixture
def small_app(settings: Settings, database: Database, clock: FrozenClock) -> FastAPI:
    return create_app(settings.model_copy(update={"max_request_bytes": 2048}), database=database, clock=clock)


def _assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "payload-too-large"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(small_app: FastAPI) -> None:
    reads = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 4096, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/auth/login",
        "raw_path": b"/api/v1/auth/login",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        "client": ("203.0.113.7", 40000),
        "server": ("testserver", 80),
        "state": {},
    }

    await small_app(scope, receive, send)

    assert reads == 0
    assert sent[0]["status"] == 413
    assert (b"content-type", PROBLEM.encode()) in sent[0]["headers"]


async def test_a_declared_body_over_the_limit_is_a_413_problem(small_app: FastAPI) -> None:
    async with _client(small_app) as client:
        response = await client.post("/api/v1/auth/login", content=b"{" + b" " * 4096 + b"}")

    _assert_too_large(response)


async def test_a_streamed_body_is_cut_off_at_the_limit(small_app: FastAPI) -> None:
    chunks_read = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal chunks_read
        for _ in range(100):
            chunks_read += 1
            yield b" " * 1024

    async with _client(small_app) as client:
        response = await client.post(
            "/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
        )

    _assert_too_large(response)
    assert chunks_read <= 4  # the rest of the stream was never asked for


async def test_a_body_within_the_limit_is_served(
    small_app: FastAPI, agent_client: ApiClient, clock: FrozenClock
) -> None:
    async with _client(small_app) as client:
        client.headers["Authorization"] = agent_client.headers["Authorization"]
        declared = await client.post("/api/v1/tickets", json={"title": "Export times out"})

        async def streamed_body() -> AsyncIterator[bytes]:
            yield b'{"title": '
            yield b'"Export still times out"}'

        streamed = await client.post(
            "/api/v1/tickets", content=streamed_body(), headers={"content-type": "application/json"}
        )

    assert declared.status_code == 201, declared.text
    assert streamed.status_code == 201, streamed.text


# --- headers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/tickets", "/api/v1/nothing-here", "/healthz", "/metrics", "/docs", "/openapi.json"]
)
async def test_every_answer_says_nosniff(agent_client: ApiClient, path: str) -> None:
    response = await agent_client.get(path)

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]


async def test_an_answer_sent_twice_does_not_grow_headers(agent_client: ApiClient) -> None:
    first = await agent_client.get("/docs")
    second = await agent_client.get("/docs")

    assert first.headers.get_list("x-content-type-options") == ["nosniff"]
    assert second.headers.get_list("x-content-type-options") == ["nosniff"]


# --- API documentation from the app itself --------------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_documentation_loads_only_the_apps_own_assets(
    anonymous_client: ApiClient, page: str
) -> None:
    html = (await anonymous_client.get(page)).text
    urls = re.findall(r"""(?:src|href|url)\s*[=:(]\s*['"]([^'"]+)['"]""", html)

    assets = [url for url in urls if url != "/openapi.json"]
    assert assets
    assert "http" not in html.replace("http-equiv", "")  # no address outside the app, not even fonts
    assert all(url.startswith(f"{ASSETS_PATH}/") for url in assets), urls
    for url in assets:
        asset = await anonymous_client.get(url)
        assert asset.status_code == 200, url
        expected = {".js": "javascript", ".css": "text/css", ".png": "image/png"}[Path(url).suffix]
        assert expected in asset.headers["content-type"], url


# --- the metrics middleware lives beside the metrics, not in the router ---------------------------------


async def test_the_metrics_middleware_is_its_own_module_and_still_counts(agent_client: ApiClient) -> None:
    from supportdesk.ops import metrics, router

    await agent_client.get("/api/v1/tickets")
    text = (await agent_client.get("/metrics")).text

    assert {"Metrics", "MetricsMiddleware", "route_template"} <= set(vars(metrics))
    assert not {"Metrics", "MetricsMiddleware", "route_template"} & set(vars(router))
    assert 'supportdesk_http_requests_total{method="GET",route="/api/v1/tickets",status="200"} 1.0' in text


async def test_files_get_a_larger_limit_on_the_upload_path_only(
    settings: Settings,
    database: Database,
    clock: FrozenClock,
    agent_client: ApiClient,
    ticket_factory: TicketFactory,
) -> None:
    limits = {"max_request_bytes": 2048, "attachment_max_bytes": 4096, "attachment_max_count": 1}
    app = create_app(settings.model_copy(update=limits), database=database, clock=clock)
    ticket = await ticket_factory()
    upload_limit = 4096 + 1024 * 1024  # the files a comment may carry, and room for the form around them

    async with _client(app) as client:
        client.headers["Authorization"] = agent_client.headers["Authorization"]
        url = f"/api/v1/tickets/{ticket.id}/attachments"
        over_the_api_limit = await client.post(
            url, data={"content": "Log attached"}, files={"files": ("log.txt", b"x" * 3000, "text/plain")}
        )
        over_the_upload_limit = await client.post(url, content=b"x" * (upload_limit + 1))
        elsewhere = await client.post("/api/v1/tickets", content=b"x" * 3000)

    assert over_the_api_limit.status_code == 201, over_the_api_limit.text
    _assert_too_large(over_the_upload_limit)
    _assert_too_large(elsewhere)
