"""Text as long as the schema allows is stored, and one character more is refused with 422, on both
databases (PostgreSQL enforces VARCHAR lengths; a longer schema than column was a server error there)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.app import ApiClient


@pytest.mark.parametrize(
    ("path", "body", "field", "longest"),
    [
        pytest.param("/api/v1/me/tokens", {}, "name", 100, id="token-name"),
        pytest.param("/api/v1/customers", {"email": "lena@example.com"}, "name", 200, id="customer-name"),
        pytest.param(
            "/api/v1/customers", {"email": "lena@example.com"}, "company", 200, id="customer-company"
        ),
        pytest.param(
            "/api/v1/customers", {"email": "lena@example.com"}, "external_id", 200, id="customer-external-id"
        ),
        pytest.param("/api/v1/admin/users", {"email": "new@example.com"}, "name", 200, id="user-name"),
    ],
)
async def test_text_up_to_its_column_length_is_stored_and_longer_text_is_refused(
    admin_client: ApiClient, path: str, body: dict[str, Any], field: str, longest: int
) -> None:
    too_long = await admin_client.post(path, json={**body, field: "x" * (longest + 1)})
    assert too_long.status_code == 422, too_long.text
    assert [(error["field"], error["type"]) for error in too_long.json()["errors"]] == [
        (field, "string_too_long")
    ]

    stored = await admin_client.post(path, json={**body, field: "x" * longest})
    assert stored.status_code == 201, stored.text
    assert stored.json()[field] == "x" * longest
