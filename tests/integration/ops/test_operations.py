"""Operational endpoints and the error format of the whole API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from supportdesk.app import create_app
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from tests.fixtures.app import ApiClient
from tests.fixtures.database import EngineRegistry, make_settings


async def test_healthz_answers_without_credentials(anonymous_client: ApiClient) -> None:
    response = await anonymous_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_a_migrated_database(anonymous_client: ApiClient) -> None:
    response = await anonymous_client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.fixture
async def unmigrated_client(
    engine_registry: EngineRegistry, db_backend: str
) -> AsyncIterator[httpx.AsyncClient]:
    url = await engine_registry.url_for(db_backend, purpose="unmigrated")
    database = Database(create_engine(make_settings(url), url=url))
    app = create_app(make_settings(url), database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client
    await database.dispose()


async def test_readyz_refuses_an_unmigrated_database(unmigrated_client: httpx.AsyncClient) -> None:
    response = await unmigrated_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "not migrated"


async def test_readyz_refuses_an_unreachable_database() -> None:
    url = "postgresql+asyncpg://nobody@127.0.0.1:1/nothing"
    settings = make_settings(url)
    database = Database(create_engine(settings, url=url))
    app = create_app(settings, database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/readyz")
    await database.dispose()
    assert response.status_code == 503
    assert response.json()["database"].startswith("unreachable")


async def test_metrics_count_requests_by_route(agent_client: ApiClient) -> None:
    await agent_client.get("/api/v1/tickets")
    await agent_client.get("/api/v1/tickets/12345")
    text = (await agent_client.get("/metrics")).text
    assert 'supportdesk_http_requests_total{method="GET",route="/api/v1/tickets",status="200"} 1.0' in text
    assert 'route="/api/v1/tickets/{ticket_id}",status="404"' in text
    assert "supportdesk_http_request_duration_seconds_bucket" in text


async def test_unknown_routes_are_problems(agent_client: ApiClient) -> None:
    response = await agent_client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not-found"


async def test_wrong_methods_are_problems(agent_client: ApiClient) -> None:
    response = await agent_client.put("/api/v1/tickets")
    assert response.status_code == 405
    assert response.json()["code"] == "method-not-allowed"


async def test_malformed_json_is_a_validation_problem(agent_client: ApiClient) -> None:
    response = await agent_client.post(
        "/api/v1/tickets", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation-error"


async def test_the_openapi_schema_and_docs_are_served(anonymous_client: ApiClient) -> None:
    schema = (await anonymous_client.get("/openapi.json")).json()
    assert "/api/v1/tickets" in schema["paths"]
    assert (await anonymous_client.get("/docs")).status_code == 200


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        pytest.param("PUT", "/api/v1/workspace", "GET, HEAD, PATCH", id="workspace"),
        pytest.param("POST", "/api/v1/tickets/5", "DELETE, GET, HEAD, PATCH", id="one-ticket"),
        pytest.param("PATCH", "/api/v1/customers/lookup", "GET, HEAD", id="lookup-is-not-a-customer-id"),
    ],
)
async def test_a_wrong_method_lists_every_allowed_one(
    agent_client: ApiClient, method: str, url: str, allowed: str
) -> None:
    response = await agent_client.request(method, url)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed


@pytest.mark.parametrize("ticket_id", ["abc", "0x10", "-1"], ids=["letters", "hex", "negative"])
async def test_an_id_that_is_not_a_number_names_no_object(agent_client: ApiClient, ticket_id: str) -> None:
    response = await agent_client.get(f"/api/v1/tickets/{ticket_id}")
    assert response.status_code == 404


async def test_an_id_beyond_the_id_range_is_refused(agent_client: ApiClient) -> None:
    response = await agent_client.get(f"/api/v1/tickets/{2**63}")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "ticket_id"


async def test_the_schema_documents_problem_responses_and_non_null_patches(
    anonymous_client: ApiClient,
) -> None:
    schema = (await anonymous_client.get("/openapi.json")).json()
    responses = schema["paths"]["/api/v1/tickets/{ticket_id}"]["patch"]["responses"]
    assert set(responses) >= {"200", "401", "403", "404", "409", "412", "422"}
    assert list(responses["404"]["content"]) == ["application/problem+json"]
    patch = schema["components"]["schemas"]["TicketUpdate"]["properties"]
    assert patch["priority"] == {"$ref": "#/components/schemas/Priority"}
    assert {"type": "null"} in patch["assigned_agent_id"]["anyOf"]
