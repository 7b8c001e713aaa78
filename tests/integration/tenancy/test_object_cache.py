"""An object the cache keeps for one workspace is never served to another (decision 0045): the key
carries the workspace of the session that read it, so another workspace's id still answers 404."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from supportdesk.core.errors import NotFound
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people import service as people_service
from supportdesk.tickets import service as ticket_service
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory, UserFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.objects import cache_counts


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        pytest.param("ticket", "/api/v1/tickets/{}", id="ticket"),
        pytest.param("customer", "/api/v1/customers/{}", id="customer"),
        pytest.param("user", "/api/v1/admin/users/{}", id="staff-member"),
    ],
)
async def test_an_object_cached_for_its_workspace_is_not_found_from_another(
    app: FastAPI,
    admin_client: ApiClient,
    other_admin_client: ApiClient,
    ticket_factory: TicketFactory,
    customer_factory: CustomerFactory,
    user_factory: UserFactory,
    kind: str,
    path: str,
) -> None:
    ids = {
        "ticket": (await ticket_factory()).id,
        "customer": (await customer_factory()).id,
        "user": (await user_factory(role=Role.agent)).id,
    }
    url = path.format(ids[kind])
    mine = [await admin_client.get(url) for _ in range(2)]

    theirs = await other_admin_client.get(url)

    assert [response.status_code for response in mine] == [200, 200]
    assert cache_counts(app, kind)["hits"] >= 1  # it is in the cache
    assert theirs.status_code == 404
    assert theirs.json()["code"] == "not-found"


async def test_a_session_of_another_workspace_reads_past_what_is_cached(
    admin_client: ApiClient,
    ticket_factory: TicketFactory,
    database: Database,
    workspace: Workspace,
    other_workspace: Workspace,
) -> None:
    ticket = await ticket_factory()
    admin = admin_client.user
    assert admin is not None
    assert (await admin_client.get(f"/api/v1/tickets/{ticket.id}")).status_code == 200
    assert (await admin_client.get("/api/v1/me")).status_code == 200

    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, workspace.id)
        own = await ticket_service.read_ticket(session, ticket.id)
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, other_workspace.id)
        with pytest.raises(NotFound):
            await ticket_service.read_ticket(session, ticket.id)
        assert await people_service.staff_member(session, admin.id) is None

    assert own.id == ticket.id
