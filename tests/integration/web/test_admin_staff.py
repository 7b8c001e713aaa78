"""The staff admin page: admins see every staff member, add one, change a role and deactivate one
through the people service's rules; nobody else may, and another workspace's staff are not found."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people import service as people_service
from supportdesk.workspaces.models import Workspace
from tests.factories.people import UserFactory
from tests.integration.web.conftest import PageClient, PageClientFactory

pytestmark = pytest.mark.integration


@pytest.fixture
async def admin_browser(page_client_factory: PageClientFactory) -> PageClient:
    """An admin of the test's workspace, signed in."""
    return await page_client_factory(role=Role.admin, name="Ada Admin")


@dataclass(frozen=True)
class Member:
    """A staff member as stored."""

    name: str
    role: Role
    is_active: bool
    password_hash: str | None


async def _member(database: Database, workspace_id: int, email: str) -> Member | None:
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, workspace_id)
        for user in await people_service.list_users(session):
            if user.email == email:
                return Member(user.name, user.role, user.is_active, user.password_hash)
        return None


async def test_an_admin_sees_the_staff_and_adds_a_member(
    admin_browser: PageClient, user_factory: UserFactory, database: Database, workspace: Workspace
) -> None:
    await user_factory(role=Role.agent, name="Sam Agent", email="sam@example.com")

    page = await admin_browser.get("/app/admin/staff")
    added = await admin_browser.submit(
        "/app/admin/staff",
        {
            "email": "lee@example.com",
            "name": "Lee Senior",
            "role": "senior_agent",
            "password": "a-long-secret",
        },
    )

    assert page.status_code == 200
    assert "Sam Agent" in page.text
    assert "sam@example.com" in page.text
    assert 'href="/app/admin/staff" aria-current="page"' in page.text
    assert added.status_code == 303
    assert added.headers["location"] == "/app/admin/staff?saved=added"
    member = await _member(database, workspace.id, "lee@example.com")
    assert member is not None
    assert (member.name, member.role, member.is_active) == ("Lee Senior", Role.senior_agent, True)
    assert member.password_hash is not None
    assert "a-long-secret" not in member.password_hash


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        pytest.param(
            {"email": "not-an-address", "name": "Lee"}, "email", "Enter an e-mail address", id="bad-email"
        ),
        pytest.param({"email": "lee@example.com", "name": ""}, "name", "Enter a name", id="no-name"),
        pytest.param(
            {"email": "lee@example.com", "name": "Lee", "password": "short"},
            "password",
            "at least 10 characters",
            id="short-password",
        ),
        pytest.param(
            {"email": "lee@example.com", "name": "Lee", "role": "owner"}, "role", "Choose one", id="bad-role"
        ),
    ],
)
async def test_a_refused_member_is_explained_beside_the_field_and_what_was_typed_is_kept(
    admin_browser: PageClient,
    database: Database,
    workspace: Workspace,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    response = await admin_browser.submit("/app/admin/staff", {"role": "agent", **fields})

    assert response.status_code == 422
    assert f'id="new-{field}-error"' in response.text
    assert message in response.text
    if field != "email":
        assert 'value="lee@example.com"' in response.text
    assert 'type="password" value=' not in response.text
    assert await _member(database, workspace.id, "lee@example.com") is None


async def test_an_address_already_on_the_staff_is_refused_and_kept(
    admin_browser: PageClient, user_factory: UserFactory
) -> None:
    await user_factory(role=Role.agent, email="sam@example.com")

    response = await admin_browser.submit(
        "/app/admin/staff", {"email": "sam@example.com", "name": "Sam Again", "role": "agent"}
    )

    assert response.status_code == 409
    assert "sam@example.com is already a staff user here" in response.text
    assert 'value="Sam Again"' in response.text


async def test_an_admin_changes_a_role_and_deactivates_a_member(
    admin_browser: PageClient, user_factory: UserFactory, database: Database, workspace: Workspace
) -> None:
    member = await user_factory(role=Role.agent, email="sam@example.com")

    changed = await admin_browser.submit(f"/app/admin/staff/{member.id}/role", {"role": "viewer"})
    deactivated = await admin_browser.submit(f"/app/admin/staff/{member.id}/deactivate", {})

    assert (changed.status_code, deactivated.status_code) == (303, 303)
    stored = await _member(database, workspace.id, "sam@example.com")
    assert stored is not None
    assert (stored.role, stored.is_active) == (Role.viewer, False)
    page = await admin_browser.get(deactivated.headers["location"])
    assert "they can no longer sign in" in page.text


async def test_the_last_active_admin_keeps_their_role(
    admin_browser: PageClient, database: Database, workspace: Workspace
) -> None:
    response = await admin_browser.submit(f"/app/admin/staff/{admin_browser.user.id}/role", {"role": "agent"})

    assert response.status_code == 409
    assert 'id="staff-problem"' in response.text
    stored = await _member(database, workspace.id, admin_browser.user.email)
    assert stored is not None
    assert stored.role == Role.admin


@pytest.mark.parametrize("role", [Role.agent, Role.senior_agent, Role.viewer], ids=lambda role: role.value)
async def test_only_admins_may_use_the_staff_page(
    page_client_factory: PageClientFactory,
    user_factory: UserFactory,
    database: Database,
    workspace: Workspace,
    role: Role,
) -> None:
    browser = await page_client_factory(role=role)
    member = await user_factory(role=Role.agent, email="sam@example.com")

    answers = [
        await browser.get("/app/admin/staff"),
        await browser.submit("/app/admin/staff", {"email": "x@example.com", "name": "X", "role": "admin"}),
        await browser.submit(f"/app/admin/staff/{member.id}/role", {"role": "admin"}),
        await browser.submit(f"/app/admin/staff/{member.id}/deactivate", {}),
    ]
    queue = await browser.get("/app")

    assert [answer.status_code for answer in answers] == [403, 403, 403, 403]
    assert 'href="/app/admin/staff"' not in queue.text
    stored = await _member(database, workspace.id, "sam@example.com")
    assert stored is not None
    assert (stored.role, stored.is_active) == (Role.agent, True)
    assert await _member(database, workspace.id, "x@example.com") is None


async def test_another_workspaces_staff_are_not_found(
    admin_browser: PageClient, user_factory: UserFactory, other_workspace: Workspace, database: Database
) -> None:
    theirs = await user_factory(role=Role.agent, workspace=other_workspace, email="theirs@example.com")

    answers = [
        await admin_browser.submit(f"/app/admin/staff/{theirs.id}/role", {"role": "viewer"}),
        await admin_browser.submit(f"/app/admin/staff/{theirs.id}/deactivate", {}),
        await admin_browser.submit("/app/admin/staff/9007199254740993/deactivate", {}),
    ]
    page = await admin_browser.get("/app/admin/staff")

    assert [answer.status_code for answer in answers] == [404, 404, 404]
    assert "theirs@example.com" not in page.text
    stored = await _member(database, other_workspace.id, "theirs@example.com")
    assert stored is not None
    assert (stored.role, stored.is_active) == (Role.agent, True)


async def test_staff_forms_without_their_token_change_nothing(
    admin_browser: PageClient, user_factory: UserFactory, database: Database, workspace: Workspace
) -> None:
    member = await user_factory(role=Role.agent, email="sam@example.com")

    refused = await admin_browser.post(
        f"/app/admin/staff/{member.id}/deactivate", data={"csrf_token": "forged"}
    )

    assert refused.status_code == 403
    stored = await _member(database, workspace.id, "sam@example.com")
    assert stored is not None
    assert stored.is_active
