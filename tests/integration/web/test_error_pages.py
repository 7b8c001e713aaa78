"""A person who follows a wrong link gets a page, not the API's problem document: an address under
/app or /portal that names nothing, or whose part cannot be read (an unknown kind of e-mail, an id that
is not a number), is the same "not found" page a missing ticket is. The API keeps answering JSON."""

from __future__ import annotations

import pytest

from supportdesk.core.permissions import Role
from tests.integration.web.conftest import PageClientFactory

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/app/nowhere", id="no-such-page"),
        pytest.param("/app/tickets/not-a-number", id="id-not-a-number"),
        pytest.param("/app/admin/sla/not-a-number", id="policy-id-not-a-number"),
    ],
)
async def test_a_wrong_link_in_the_workspace_shows_the_not_found_page(
    page_client_factory: PageClientFactory, path: str
) -> None:
    admin = await page_client_factory(role=Role.admin)

    page = await admin.get(path)

    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "There is nothing here in your workspace." in page.text
    # The page keeps the workspace's navigation, so the person can go on from it.
    assert 'href="/app"' in page.text


async def test_the_api_still_answers_a_wrong_address_with_a_problem_document(
    page_client_factory: PageClientFactory,
) -> None:
    admin = await page_client_factory(role=Role.admin)

    for path in ("/api/v1/nowhere", "/api/v1/email-templates/no_such_kind"):
        answer = await admin.get(path)
        assert answer.status_code in (404, 422), path
        assert answer.headers["content-type"] == "application/problem+json", path
