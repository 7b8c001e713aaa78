"""The customer API: create, read, update, list, look up; permissions, idempotency and tenancy."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from supportdesk.app import create_app
from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.people.models import Tier
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.database import make_settings

CUSTOMERS = "/api/v1/customers"


async def _all_pages(client: httpx.AsyncClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of the customer list, following next_cursor; each page is checked on the way."""
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        response = await client.get(CUSTOMERS, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor never ends"


# --- create --------------------------------------------------------------------------------------


async def test_agent_creates_a_customer_with_etag_and_location(agent_client: ApiClient) -> None:
    response = await agent_client.post(
        CUSTOMERS,
        json={
            "email": "maria.lopez@Example.COM",
            "name": "  Maria Lopez ",
            "company": "Initech",
            "tier": "premium",
            "external_id": "crm-42",
        },
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "maria.lopez@example.com"  # the domain is normalised, the local part kept
    assert body["name"] == "Maria Lopez"
    assert body["company"] == "Initech"
    assert body["tier"] == "premium"
    assert body["external_id"] == "crm-42"
    assert body["version"] == 1
    assert response.headers["etag"] == '"v1"'
    assert response.headers["location"] == f"/api/v1/customers/{body['id']}"
    fetched = await agent_client.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_a_new_customer_defaults_to_the_free_tier(agent_client: ApiClient) -> None:
    response = await agent_client.post(CUSTOMERS, json={"email": "jon@example.com"})

    assert response.status_code == 201, response.text
    assert response.json()["tier"] == "free"
    assert response.json()["name"] is None


async def test_a_customer_email_is_unique_in_the_workspace(
    agent_client: ApiClient, customer_factory: CustomerFactory
) -> None:
    await customer_factory(email="maria@example.com")

    response = await agent_client.post(CUSTOMERS, json={"email": "maria@EXAMPLE.com", "name": "Other"})

    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "customer-exists"
    listed = await agent_client.get(CUSTOMERS)
    assert [item["email"] for item in listed.json()["items"]] == ["maria@example.com"]


async def test_a_customer_external_id_is_unique_in_the_workspace(
    agent_client: ApiClient, customer_factory: CustomerFactory
) -> None:
    await customer_factory(email="maria@example.com", external_id="crm-1")

    response = await agent_client.post(CUSTOMERS, json={"email": "jon@example.com", "external_id": "crm-1"})

    assert response.status_code == 409
    assert response.json()["code"] == "duplicate-external-id"


async def test_the_same_customer_may_exist_in_another_workspace(
    agent_client: ApiClient, customer_factory: CustomerFactory, other_workspace: Workspace
) -> None:
    await customer_factory(workspace=other_workspace, email="maria@example.com", external_id="crm-1")

    response = await agent_client.post(CUSTOMERS, json={"email": "maria@example.com", "external_id": "crm-1"})

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        pytest.param("maria.example.com", "missing-at", id="missing-at"),
        pytest.param("maria@home@example.com", "multiple-at", id="multiple-at"),
        pytest.param("maria lopez@example.com", "whitespace", id="whitespace"),
        pytest.param("@example.com", "no-user", id="no-user"),
        pytest.param("maria@", "no-domain", id="no-domain"),
        pytest.param("", "empty", id="empty"),
    ],
)
async def test_a_bad_email_is_refused_naming_the_field_and_the_reason(
    agent_client: ApiClient, email: str, reason: str
) -> None:
    response = await agent_client.post(CUSTOMERS, json={"email": email})

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation-error"
    assert [(error["field"], error["type"]) for error in body["errors"]] == [("email", reason)]
    assert (await agent_client.get(CUSTOMERS)).json()["items"] == []


@pytest.mark.parametrize(
    ("payload", "field", "error_type"),
    [
        pytest.param(
            {"email": "a@example.com", "nickname": "Al"}, "nickname", "extra_forbidden", id="unknown"
        ),
        pytest.param({"name": "No Address"}, "email", "missing", id="email-missing"),
        pytest.param({"email": "a@example.com", "tier": "gold"}, "tier", "enum", id="unknown-tier"),
        pytest.param({"email": "a@example.com", "name": "   "}, "name", "string_too_short", id="blank-name"),
    ],
)
async def test_a_malformed_body_is_refused_naming_the_field(
    agent_client: ApiClient, payload: dict[str, Any], field: str, error_type: str
) -> None:
    response = await agent_client.post(CUSTOMERS, json=payload)

    assert response.status_code == 422
    assert [(error["field"], error["type"]) for error in response.json()["errors"]] == [(field, error_type)]
    assert (await agent_client.get(CUSTOMERS)).json()["items"] == []


# --- read and update -----------------------------------------------------------------------------


async def test_get_returns_the_customer_with_its_etag(
    viewer_client: ApiClient, customer_factory: CustomerFactory
) -> None:
    customer = await customer_factory(email="maria@example.com", name="Maria", tier=Tier.enterprise)

    response = await viewer_client.get(f"{CUSTOMERS}/{customer.id}")

    assert response.status_code == 200
    assert response.headers["etag"] == '"v1"'
    body = response.json()
    assert (body["id"], body["email"], body["name"], body["tier"]) == (
        customer.id,
        "maria@example.com",
        "Maria",
        "enterprise",
    )


async def test_an_unknown_customer_is_404(viewer_client: ApiClient) -> None:
    response = await viewer_client.get(f"{CUSTOMERS}/987654")

    assert response.status_code == 404
    assert response.json()["code"] == "not-found"


async def test_patch_with_the_current_etag_updates_and_bumps_the_version(
    agent_client: ApiClient, customer_factory: CustomerFactory
) -> None:
    customer = await customer_factory(email="maria@example.com", tier=Tier.basic, company="Initech")

    response = await agent_client.patch(
        f"{CUSTOMERS}/{customer.id}",
        json={"tier": "premium", "name": "Maria Lopez"},
        headers={"If-Match": '"v1"'},
    )

    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"v2"'
    body = response.json()
    assert (body["tier"], body["name"], body["company"], body["version"]) == (
        "premium",
        "Maria Lopez",
        "Initech",
        2,
    )
    fetched = await agent_client.get(f"{CUSTOMERS}/{customer.id}")
    assert fetched.json() == body
    assert fetched.headers["etag"] == '"v2"'


async def test_patch_with_a_stale_etag_is_412_and_changes_nothing(
    agent_client: ApiClient, customer_factory: CustomerFactory
) -> None:
    customer = await customer_factory(email="maria@example.com", tier=Tier.basic)
    first = await agent_client.patch(
        f"{CUSTOMERS}/{customer.id}", json={"name": "Maria"}, headers={"If-Match": '"v1"'}
    )
    assert first.status_code == 200, first.text
    before = (await agent_client.get(f"{CUSTOMERS}/{customer.id}")).json()

    stale = await agent_client.patch(
        f"{CUSTOMERS}/{customer.id}", json={"tier": "enterprise"}, headers={"If-Match": '"v1"'}
    )

    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition-failed"
    assert stale.json()["current_version"] == 2
    after = await agent_client.get(f"{CUSTOMERS}/{customer.id}")
    assert after.json() == before
    assert after.headers["etag"] == '"v2"'


async def test_patch_to_another_customers_email_is_409_and_changes_nothing(
    agent_client: ApiClient, customer_factory: CustomerFactory
) -> None:
    await customer_factory(email="maria@example.com")
    jon = await customer_factory(email="jon@example.com")

    response = await agent_client.patch(f"{CUSTOMERS}/{jon.id}", json={"email": "maria@example.com"})

    assert response.status_code == 409
    assert response.json()["code"] == "customer-exists"
    assert (await agent_client.get(f"{CUSTOMERS}/{jon.id}")).json()["email"] == "jon@example.com"


@pytest.mark.parametrize("field", ["email", "tier"])
async def test_patch_cannot_clear_a_required_field(
    agent_client: ApiClient, customer_factory: CustomerFactory, field: str
) -> None:
    customer = await customer_factory(email="maria@example.com")

    response = await agent_client.patch(f"{CUSTOMERS}/{customer.id}", json={field: None})

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


# --- list and lookup -----------------------------------------------------------------------------


async def test_cursor_pages_cover_every_customer_once_in_email_order(
    agent_client: ApiClient, customer_factory: CustomerFactory, other_workspace: Workspace
) -> None:
    emails = [f"{name}@example.com" for name in ("erin", "bob", "alice", "dave", "carol")]
    for email in emails:
        await customer_factory(email=email)
    await customer_factory(workspace=other_workspace, email="zed@example.com")

    pages = await _all_pages(agent_client, {"limit": 2})

    assert [len(page["items"]) for page in pages] == [2, 2, 1]
    assert all(page["limit"] == 2 for page in pages)
    assert pages[-1]["next_cursor"] is None
    seen = [item["email"] for page in pages for item in page["items"]]
    assert seen == sorted(emails)  # no overlap, no gap, nothing from the other workspace


async def test_the_last_full_page_has_no_next_cursor(
    agent_client: ApiClient, customer_factory: CustomerFactory
) -> None:
    for name in ("alice", "bob"):
        await customer_factory(email=f"{name}@example.com")

    response = await agent_client.get(CUSTOMERS, params={"limit": 2})

    assert len(response.json()["items"]) == 2
    assert response.json()["next_cursor"] is None


async def test_the_page_size_is_bounded_by_the_configured_maximum(
    agent_client: ApiClient,
    customer_factory: CustomerFactory,
    settings: Settings,
    database: Database,
    clock: FrozenClock,
) -> None:
    small = make_settings(settings.database_url, page_size_default=2, page_size_max=3)
    app: FastAPI = create_app(small, database=database, clock=clock)
    for number in range(7):
        await customer_factory(email=f"customer{number}@example.com")

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=agent_client.headers
    ) as client:
        huge = await client.get(CUSTOMERS, params={"limit": 1000})
        default_pages = await _all_pages(client, {})

    assert huge.status_code == 200
    assert huge.json()["limit"] == 3
    assert len(huge.json()["items"]) == 3
    assert [len(page["items"]) for page in default_pages] == [2, 2, 2, 1]
    assert len({item["id"] for page in default_pages for item in page["items"]}) == 7


async def test_the_default_app_caps_limit_at_page_size_max(
    agent_client: ApiClient, settings: Settings
) -> None:
    response = await agent_client.get(CUSTOMERS, params={"limit": settings.page_size_max + 1000})

    assert response.status_code == 200
    assert response.json()["limit"] == settings.page_size_max


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"limit": 0}, "limit", id="zero-limit"),
        pytest.param({"limit": "many"}, "limit", id="text-limit"),
        pytest.param({"cursor": "not-a-cursor"}, "cursor", id="garbage-cursor"),
        pytest.param({"tier": "gold"}, "tier", id="unknown-tier"),
    ],
)
async def test_bad_list_parameters_are_422_naming_the_parameter(
    agent_client: ApiClient, params: dict[str, Any], field: str
) -> None:
    response = await agent_client.get(CUSTOMERS, params=params)

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_list_filters_by_tier_across_pages(
    agent_client: ApiClient, customer_factory: CustomerFactory
) -> None:
    for number in range(3):
        await customer_factory(email=f"vip{number}@example.com", tier=Tier.enterprise)
        await customer_factory(email=f"free{number}@example.com", tier=Tier.free)

    pages = await _all_pages(agent_client, {"tier": "enterprise", "limit": 2})

    items = [item for page in pages for item in page["items"]]
    assert [item["email"] for item in items] == [f"vip{n}@example.com" for n in range(3)]
    assert {item["tier"] for item in items} == {"enterprise"}


async def test_list_filters_by_company(agent_client: ApiClient, customer_factory: CustomerFactory) -> None:
    await customer_factory(email="a@example.com", company="Initech")
    await customer_factory(email="b@example.com", company="Globex")

    response = await agent_client.get(CUSTOMERS, params={"company": "Globex"})

    assert [item["email"] for item in response.json()["items"]] == ["b@example.com"]


async def test_lookup_finds_a_customer_by_email(
    viewer_client: ApiClient, customer_factory: CustomerFactory
) -> None:
    customer = await customer_factory(email="maria@example.com")

    response = await viewer_client.get(f"{CUSTOMERS}/lookup", params={"email": "maria@EXAMPLE.com"})

    assert response.status_code == 200
    assert response.json()["id"] == customer.id


async def test_lookup_of_an_unknown_email_is_404(
    viewer_client: ApiClient, customer_factory: CustomerFactory
) -> None:
    await customer_factory(email="maria@example.com")

    response = await viewer_client.get(f"{CUSTOMERS}/lookup", params={"email": "nobody@example.com"})

    assert response.status_code == 404
    assert response.json()["code"] == "not-found"


async def test_lookup_of_a_malformed_email_is_422(viewer_client: ApiClient) -> None:
    response = await viewer_client.get(f"{CUSTOMERS}/lookup", params={"email": "nobody"})

    assert response.status_code == 422
    assert [(e["field"], e["type"]) for e in response.json()["errors"]] == [("email", "missing-at")]


# --- permissions ---------------------------------------------------------------------------------


async def test_a_viewer_can_read_customers(
    viewer_client: ApiClient, customer_factory: CustomerFactory
) -> None:
    customer = await customer_factory(email="maria@example.com")

    listed = await viewer_client.get(CUSTOMERS)
    fetched = await viewer_client.get(f"{CUSTOMERS}/{customer.id}")
    found = await viewer_client.get(f"{CUSTOMERS}/lookup", params={"email": "maria@example.com"})

    assert (listed.status_code, fetched.status_code, found.status_code) == (200, 200, 200)
    assert [item["id"] for item in listed.json()["items"]] == [customer.id]


@pytest.mark.parametrize("action", ["create", "update"])
async def test_a_viewer_cannot_change_customers(
    viewer_client: ApiClient, customer_factory: CustomerFactory, action: str
) -> None:
    customer = await customer_factory(email="maria@example.com", tier=Tier.basic)

    if action == "create":
        response = await viewer_client.post(CUSTOMERS, json={"email": "jon@example.com"})
    else:
        response = await viewer_client.patch(f"{CUSTOMERS}/{customer.id}", json={"tier": "enterprise"})

    assert response.status_code == 403
    assert response.json()["code"] == "permission-denied"
    listed = (await viewer_client.get(CUSTOMERS)).json()["items"]
    assert [(item["email"], item["tier"], item["version"]) for item in listed] == [
        ("maria@example.com", "basic", 1)
    ]


# --- idempotency ---------------------------------------------------------------------------------


async def test_an_idempotent_retry_replays_the_response_and_creates_nothing_twice(
    agent_client: ApiClient,
) -> None:
    payload = {"email": "maria@example.com", "name": "Maria", "tier": "basic"}
    headers = {"Idempotency-Key": "create-maria-1"}

    first = await agent_client.post(CUSTOMERS, json=payload, headers=headers)
    retry = await agent_client.post(CUSTOMERS, json=payload, headers=headers)

    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert retry.status_code == 201, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["etag"] == first.headers["etag"]
    listed = (await agent_client.get(CUSTOMERS)).json()["items"]
    assert [item["id"] for item in listed] == [first.json()["id"]]


async def test_reusing_an_idempotency_key_with_another_body_is_422(agent_client: ApiClient) -> None:
    headers = {"Idempotency-Key": "create-1"}
    first = await agent_client.post(CUSTOMERS, json={"email": "maria@example.com"}, headers=headers)

    reused = await agent_client.post(CUSTOMERS, json={"email": "jon@example.com"}, headers=headers)

    assert first.status_code == 201
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency-key-reused"
    listed = (await agent_client.get(CUSTOMERS)).json()["items"]
    assert [item["email"] for item in listed] == ["maria@example.com"]


async def test_idempotency_keys_of_another_workspace_are_not_replayed(
    agent_client: ApiClient, other_admin_client: ApiClient
) -> None:
    payload = {"email": "maria@example.com"}
    headers = {"Idempotency-Key": "same-key"}
    ours = await agent_client.post(CUSTOMERS, json=payload, headers=headers)

    theirs = await other_admin_client.post(CUSTOMERS, json=payload, headers=headers)

    assert theirs.status_code == 201, theirs.text
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != ours.json()["id"]


# --- tenancy -------------------------------------------------------------------------------------


async def test_another_workspaces_customer_is_404_everywhere(
    agent_client: ApiClient,
    other_admin_client: ApiClient,
    other_workspace: Workspace,
    customer_factory: CustomerFactory,
) -> None:
    theirs = await customer_factory(workspace=other_workspace, email="secret@globex.example.com")

    fetched = await agent_client.get(f"{CUSTOMERS}/{theirs.id}")
    patched = await agent_client.patch(
        f"{CUSTOMERS}/{theirs.id}", json={"name": "Hijacked"}, headers={"If-Match": '"v1"'}
    )
    looked_up = await agent_client.get(f"{CUSTOMERS}/lookup", params={"email": "secret@globex.example.com"})
    listed = await agent_client.get(CUSTOMERS)

    assert (fetched.status_code, patched.status_code, looked_up.status_code) == (404, 404, 404)
    assert listed.json()["items"] == []
    untouched = await other_admin_client.get(f"{CUSTOMERS}/{theirs.id}")
    assert untouched.json()["name"] == theirs.name
    assert untouched.json()["version"] == 1
