"""The SLA policies admin page: admins see what each policy promises per priority, add a policy through
the SLA configuration service's rules and delete one; nobody else may, and another workspace's
policies are not found."""

from __future__ import annotations

from typing import Any

import pytest

from supportdesk.core.permissions import Role
from tests.fixtures.app import ApiClient
from tests.integration.web.conftest import PageClient, PageClientFactory

pytestmark = pytest.mark.integration


@pytest.fixture
async def admin_browser(page_client_factory: PageClientFactory) -> PageClient:
    """An admin of the test's workspace, signed in."""
    return await page_client_factory(role=Role.admin)


async def _policies(client: ApiClient) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/sla/policies")
    assert response.status_code == 200, response.text
    return list(response.json())


def _form(**fields: str) -> dict[str, str]:
    return {"name": "Premium billing", "tier": "premium", "category": "", "calendar": "", **fields}


async def test_an_admin_sees_what_each_policy_promises(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    created = await admin_client.post(
        "/api/v1/sla/policies",
        json={"name": "Enterprise rush", "tier": "enterprise", "first_response_minutes": {"critical": 15}},
    )
    assert created.status_code == 201, created.text

    page = await admin_browser.get("/app/admin/sla")

    assert page.status_code == 200
    assert "Enterprise rush" in page.text
    assert "Enterprise tier, every category" in page.text
    assert "Around the clock" in page.text
    # Its own critical first-response target, and the built-in ones it did not change, set apart.
    assert "<dd>15 min</dd>" in page.text
    assert '<dd><span class="muted">4 h 0 min</span></dd>' in page.text


async def test_an_admin_adds_a_policy_and_its_targets_are_stored(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    response = await admin_browser.submit(
        "/app/admin/sla", _form(**{"first_response.critical": "30", "resolution.low": "2880"})
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/app/admin/sla?saved=added"
    [policy] = await _policies(admin_client)
    assert (policy["name"], policy["tier"], policy["category"]) == ("Premium billing", "premium", None)
    assert policy["first_response_minutes"]["critical"] == 30
    assert policy["resolution_minutes"]["low"] == 2880
    page = await admin_browser.get(response.headers["location"])
    assert "The policy was added" in page.text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        pytest.param({"name": ""}, "policy-name", "Enter a name", id="no-name"),
        pytest.param({"first_response.high": "0"}, "first_response-high", "whole minutes", id="zero-minutes"),
        pytest.param({"resolution.low": "soon"}, "resolution-low", "whole minutes", id="not-a-number"),
        pytest.param({"tier": "gold"}, "policy-tier", "Choose one of the values", id="unknown-tier"),
        pytest.param({"category": "astrology"}, "policy-category", "", id="unknown-category"),
        pytest.param({"calendar": "999999"}, "policy-calendar", "", id="unknown-calendar"),
    ],
)
async def test_a_refused_policy_is_explained_beside_the_field_and_kept(
    admin_browser: PageClient, admin_client: ApiClient, fields: dict[str, str], field: str, message: str
) -> None:
    response = await admin_browser.submit("/app/admin/sla", _form(**{"first_response.low": "600", **fields}))

    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert message in response.text
    assert (
        'name="first_response.low" type="number" min="1" step="1" inputmode="numeric" value="600"'
        in response.text
    )
    assert await _policies(admin_client) == []


async def test_a_second_policy_for_the_same_customers_is_refused(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    first = await admin_browser.submit("/app/admin/sla", _form())
    again = await admin_browser.submit("/app/admin/sla", _form(name="Premium again"))

    assert first.status_code == 303
    assert again.status_code in {409, 422}
    assert 'id="policy-name-error"' in again.text
    assert [policy["name"] for policy in await _policies(admin_client)] == ["Premium billing"]


async def test_an_admin_deletes_a_policy(admin_browser: PageClient, admin_client: ApiClient) -> None:
    created = (await admin_client.post("/api/v1/sla/policies", json={"name": "Old promise"})).json()

    response = await admin_browser.submit(f"/app/admin/sla/{created['id']}/delete", {})

    assert response.headers["location"] == "/app/admin/sla?saved=deleted"
    assert await _policies(admin_client) == []


@pytest.mark.parametrize("role", [Role.agent, Role.senior_agent, Role.viewer], ids=lambda role: role.value)
async def test_only_admins_may_change_the_policies(
    page_client_factory: PageClientFactory, admin_client: ApiClient, role: Role
) -> None:
    browser = await page_client_factory(role=role)
    created = (await admin_client.post("/api/v1/sla/policies", json={"name": "Keep me"})).json()

    answers = [
        await browser.get("/app/admin/sla"),
        await browser.submit("/app/admin/sla", _form()),
        await browser.submit(f"/app/admin/sla/{created['id']}/delete", {}),
    ]

    assert [answer.status_code for answer in answers] == [403, 403, 403]
    assert [policy["name"] for policy in await _policies(admin_client)] == ["Keep me"]


async def test_another_workspaces_policy_is_not_found(
    admin_browser: PageClient, other_admin_client: ApiClient
) -> None:
    theirs = (await other_admin_client.post("/api/v1/sla/policies", json={"name": "Theirs"})).json()

    answers = [
        await admin_browser.submit(f"/app/admin/sla/{theirs['id']}/delete", {}),
        await admin_browser.submit("/app/admin/sla/9007199254740993/delete", {}),
    ]
    page = await admin_browser.get("/app/admin/sla")

    assert [answer.status_code for answer in answers] == [404, 404]
    assert "Theirs" not in page.text
    assert [policy["name"] for policy in await _policies(other_admin_client)] == ["Theirs"]


async def test_policy_forms_without_their_token_change_nothing(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    refused = await admin_browser.post("/app/admin/sla", data={"csrf_token": "forged", **_form()})

    assert refused.status_code == 403
    assert await _policies(admin_client) == []


async def test_an_admin_changes_a_policy_and_an_empty_target_goes_back_to_the_built_in_one(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    created = (
        await admin_client.post(
            "/api/v1/sla/policies",
            json={"name": "Rush", "tier": "premium", "first_response_minutes": {"critical": 15}},
        )
    ).json()

    page = await admin_browser.get(f"/app/admin/sla/{created['id']}")
    response = await admin_browser.submit(
        f"/app/admin/sla/{created['id']}",
        _form(
            name="Rush hour", tier="enterprise", version=str(created["version"]), **{"resolution.low": "600"}
        ),
    )

    assert page.status_code == 200
    assert (
        'name="first_response.critical" type="number" min="1" step="1" inputmode="numeric" value="15"'
        in page.text
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/app/admin/sla?saved=changed"
    [policy] = await _policies(admin_client)
    assert (policy["name"], policy["tier"]) == ("Rush hour", "enterprise")
    assert policy["first_response_minutes"] == {}
    assert policy["resolution_minutes"] == {"low": 600}


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        pytest.param({"name": ""}, 'id="policy-name-error"', id="no-name"),
        pytest.param({"resolution.low": "soon"}, 'id="resolution-low-error"', id="not-a-number"),
        pytest.param({"calendar": "999999"}, 'id="policy-calendar-error"', id="unknown-calendar"),
        pytest.param({"version": "1", "stale": "yes"}, 'id="policy-problem"', id="stale-version"),
        pytest.param({"version": ""}, 'id="policy-problem"', id="no-version"),
    ],
)
async def test_a_refused_change_is_explained_and_what_was_typed_is_kept(
    admin_browser: PageClient, admin_client: ApiClient, fields: dict[str, str], shown: str
) -> None:
    created = (await admin_client.post("/api/v1/sla/policies", json={"name": "Keep me"})).json()
    stale = "stale" in fields
    fields = {key: value for key, value in fields.items() if key != "stale"}
    if stale:
        changed = await admin_client.patch(f"/api/v1/sla/policies/{created['id']}", json={"name": "Changed"})
        assert changed.status_code == 200, changed.text
    form = _form(
        **{"name": "Renamed", "version": str(created["version"]), "first_response.low": "600", **fields}
    )

    response = await admin_browser.submit(f"/app/admin/sla/{created['id']}", form)

    assert response.status_code in {412, 422}
    assert shown in response.text
    assert (
        'name="first_response.low" type="number" min="1" step="1" inputmode="numeric" value="600"'
        in response.text
    )
    [policy] = await _policies(admin_client)
    assert policy["first_response_minutes"] == {}


async def test_only_admins_may_change_a_policy(
    page_client_factory: PageClientFactory, admin_client: ApiClient
) -> None:
    browser = await page_client_factory(role=Role.agent)
    created = (await admin_client.post("/api/v1/sla/policies", json={"name": "Keep me"})).json()

    answers = [
        await browser.get(f"/app/admin/sla/{created['id']}"),
        await browser.submit(f"/app/admin/sla/{created['id']}", _form(name="Mine", version="1")),
    ]

    assert [answer.status_code for answer in answers] == [403, 403]
    assert [policy["name"] for policy in await _policies(admin_client)] == ["Keep me"]


async def test_another_workspaces_policy_cannot_be_opened_or_changed(
    admin_browser: PageClient, other_admin_client: ApiClient
) -> None:
    theirs = (await other_admin_client.post("/api/v1/sla/policies", json={"name": "Theirs"})).json()

    answers = [
        await admin_browser.get(f"/app/admin/sla/{theirs['id']}"),
        await admin_browser.submit(f"/app/admin/sla/{theirs['id']}", _form(name="Mine", version="1")),
        await admin_browser.get("/app/admin/sla/9007199254740993"),
    ]

    assert [answer.status_code for answer in answers] == [404, 404, 404]
    assert [policy["name"] for policy in await _policies(other_admin_client)] == ["Theirs"]


async def test_a_policy_change_without_its_token_changes_nothing(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    created = (await admin_client.post("/api/v1/sla/policies", json={"name": "Keep me"})).json()

    refused = await admin_browser.post(
        f"/app/admin/sla/{created['id']}", data={"csrf_token": "forged", **_form(name="Mine", version="1")}
    )

    assert refused.status_code == 403
    assert [policy["name"] for policy in await _policies(admin_client)] == ["Keep me"]
