"""The ticket API: create, read, update with optimistic locking, delete; validation and permissions."""

from __future__ import annotations

from typing import Any

import pytest

from supportdesk.core.permissions import Role
from supportdesk.tickets.models import Priority, TicketStatus
from tests.factories.people import UserFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient, ClientFactory


async def test_agent_creates_a_ticket_and_reads_it_back(agent_client: ApiClient) -> None:
    created = await agent_client.post(
        "/api/v1/tickets",
        json={"title": "Cannot export", "priority": "high", "customer_email": "maria@example.com"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "open"
    assert body["number"] == 1
    assert body["is_urgent"] is True
    assert created.headers["location"] == f"/api/v1/tickets/{body['id']}"
    fetched = await agent_client.get(f"/api/v1/tickets/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["customer_email"] == "maria@example.com"
    assert fetched.headers["etag"] == '"v1"'


async def test_defaults_of_a_new_ticket(agent_client: ApiClient) -> None:
    body = (await agent_client.post("/api/v1/tickets", json={"title": "Hello"})).json()
    assert body["priority"] == "medium"
    assert body["category"] == "general"
    assert body["channel"] == "api"
    assert body["escalated"] is False
    assert body["customer_id"] is None
    assert body["tags"] == []
    assert body["created_at"].endswith("Z")


async def test_ticket_numbers_count_up_per_workspace(
    agent_client: ApiClient, other_admin_client: ApiClient
) -> None:
    numbers = [
        (await agent_client.post("/api/v1/tickets", json={"title": f"T{i}"})).json()["number"]
        for i in range(3)
    ]
    other = (await other_admin_client.post("/api/v1/tickets", json={"title": "Elsewhere"})).json()
    assert numbers == [1, 2, 3]
    assert other["number"] == 1


async def test_the_customer_is_found_or_created_by_email(agent_client: ApiClient) -> None:
    first = (
        await agent_client.post(
            "/api/v1/tickets", json={"title": "One", "customer_email": "Lena@Example.COM"}
        )
    ).json()
    second = (
        await agent_client.post(
            "/api/v1/tickets", json={"title": "Two", "customer_email": "Lena@example.com"}
        )
    ).json()
    assert first["customer_id"] is not None
    assert first["customer_id"] == second["customer_id"]
    assert first["customer_email"] == "Lena@example.com"


async def test_tags_are_normalised_and_deduplicated(agent_client: ApiClient) -> None:
    body = (
        await agent_client.post("/api/v1/tickets", json={"title": "Tags", "tags": ["VIP", "vip", "mobile"]})
    ).json()
    assert body["tags"] == ["mobile", "vip"]


@pytest.mark.parametrize(
    ("payload", "field", "error_type"),
    [
        pytest.param({"title": "x", "priority": "urgent"}, "priority", "enum", id="unknown-priority"),
        pytest.param(
            {"title": "x", "customer_email": "bob"}, "customer_email", "missing-at", id="email-without-at"
        ),
        pytest.param(
            {"title": "x", "customer_email": "bob@"}, "customer_email", "no-domain", id="email-without-domain"
        ),
        pytest.param(
            {"title": "x", "customer_email": "a b@c.com"},
            "customer_email",
            "whitespace",
            id="email-with-space",
        ),
        pytest.param({"title": ""}, "title", "string_too_short", id="empty-title"),
        pytest.param({"title": "   "}, "title", "string_too_short", id="blank-title"),
        pytest.param({}, "title", "missing", id="missing-title"),
        pytest.param({"title": "x", "colour": "red"}, "colour", "extra_forbidden", id="unknown-field"),
        pytest.param({"title": "x", "tags": ["ok"] * 21}, "tags", "too_long", id="too-many-tags"),
        pytest.param(
            {"title": "x", "tags": ["bad tag"]}, "tags.0", "string_pattern_mismatch", id="tag-with-space"
        ),
        pytest.param({"title": "x", "channel": "fax"}, "channel", "enum", id="unknown-channel"),
        pytest.param({"title": "x" * 301}, "title", "string_too_long", id="title-too-long"),
    ],
)
async def test_invalid_tickets_are_refused_naming_the_field(
    agent_client: ApiClient, payload: dict[str, Any], field: str, error_type: str
) -> None:
    response = await agent_client.post("/api/v1/tickets", json=payload)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation-error"
    assert {"field": field, "type": error_type} in [
        {"field": error["field"], "type": error["type"]} for error in problem["errors"]
    ]
    listing = await agent_client.get("/api/v1/tickets")
    assert listing.json()["items"] == []


async def test_unknown_category_is_refused(agent_client: ApiClient) -> None:
    response = await agent_client.post("/api/v1/tickets", json={"title": "x", "category": "hardware"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "category"


async def test_a_duplicate_external_id_is_a_conflict(agent_client: ApiClient) -> None:
    first = await agent_client.post("/api/v1/tickets", json={"title": "x", "external_id": "JIRA-1"})
    second = await agent_client.post("/api/v1/tickets", json={"title": "y", "external_id": "JIRA-1"})
    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["code"] == "duplicate-external-id"


async def test_the_same_external_id_may_exist_in_another_workspace(
    agent_client: ApiClient, other_admin_client: ApiClient
) -> None:
    mine = await agent_client.post("/api/v1/tickets", json={"title": "x", "external_id": "EXT-9"})
    theirs = await other_admin_client.post("/api/v1/tickets", json={"title": "x", "external_id": "EXT-9"})
    assert (mine.status_code, theirs.status_code) == (201, 201)


async def test_creating_with_an_assignee_makes_the_ticket_assigned(
    agent_client: ApiClient, user_factory: UserFactory
) -> None:
    colleague = await user_factory(role=Role.agent)
    body = (
        await agent_client.post("/api/v1/tickets", json={"title": "x", "assigned_agent_id": colleague.id})
    ).json()
    assert body["status"] == "assigned"
    assert body["assigned_agent_id"] == colleague.id


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        pytest.param(Role.viewer, 422, id="viewer-cannot-be-assigned"),
        pytest.param(Role.agent, 200, id="agent-can-be-assigned"),
        pytest.param(Role.senior_agent, 200, id="senior-agent-can-be-assigned"),
        pytest.param(Role.admin, 200, id="admin-can-be-assigned"),
    ],
)
async def test_who_can_be_assigned(
    agent_client: ApiClient,
    user_factory: UserFactory,
    ticket_factory: TicketFactory,
    role: Role,
    expected: int,
) -> None:
    ticket = await ticket_factory()
    assignee = await user_factory(role=role)
    response = await agent_client.patch(
        f"/api/v1/tickets/{ticket.id}", json={"assigned_agent_id": assignee.id}
    )
    assert response.status_code == expected
    if expected == 200:
        assert response.json()["status"] == "assigned"
    else:
        assert response.json()["errors"][0]["field"] == "assigned_agent_id"


async def test_an_inactive_or_unknown_agent_cannot_be_assigned(
    agent_client: ApiClient, user_factory: UserFactory, ticket_factory: TicketFactory
) -> None:
    ticket = await ticket_factory()
    gone = await user_factory(role=Role.agent, is_active=False)
    for agent_id in (gone.id, 999_999):
        response = await agent_client.patch(
            f"/api/v1/tickets/{ticket.id}", json={"assigned_agent_id": agent_id}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["type"] == "unknown-agent"


async def test_unassigning_puts_the_ticket_back_to_open(
    agent_client: ApiClient, user_factory: UserFactory, ticket_factory: TicketFactory
) -> None:
    agent = await user_factory(role=Role.agent)
    ticket = await ticket_factory(assignee=agent)
    response = await agent_client.patch(f"/api/v1/tickets/{ticket.id}", json={"assigned_agent_id": None})
    assert response.status_code == 200
    assert response.json()["status"] == "open"
    assert response.json()["assigned_agent_id"] is None


class TestOptimisticLocking:
    async def test_a_matching_if_match_updates_and_bumps_the_etag(
        self, agent_client: ApiClient, ticket_factory: TicketFactory
    ) -> None:
        ticket = await ticket_factory()
        etag = (await agent_client.get(f"/api/v1/tickets/{ticket.id}")).headers["etag"]
        response = await agent_client.patch(
            f"/api/v1/tickets/{ticket.id}", json={"priority": "high"}, headers={"If-Match": etag}
        )
        assert response.status_code == 200
        assert response.json()["priority"] == "high"
        assert response.headers["etag"] == '"v2"'

    async def test_a_stale_if_match_is_refused_and_changes_nothing(
        self, agent_client: ApiClient, ticket_factory: TicketFactory
    ) -> None:
        ticket = await ticket_factory()
        stale = (await agent_client.get(f"/api/v1/tickets/{ticket.id}")).headers["etag"]
        await agent_client.patch(f"/api/v1/tickets/{ticket.id}", json={"title": "First edit"})
        response = await agent_client.patch(
            f"/api/v1/tickets/{ticket.id}", json={"title": "Second edit"}, headers={"If-Match": stale}
        )
        assert response.status_code == 412
        assert response.json()["code"] == "precondition-failed"
        current = (await agent_client.get(f"/api/v1/tickets/{ticket.id}")).json()
        assert current["title"] == "First edit"
        assert current["version"] == 2

    @pytest.mark.parametrize("header", ['"v1"', 'W/"v1"', "*"], ids=["strong", "weak", "any"])
    async def test_accepted_if_match_forms(
        self, agent_client: ApiClient, ticket_factory: TicketFactory, header: str
    ) -> None:
        ticket = await ticket_factory()
        response = await agent_client.patch(
            f"/api/v1/tickets/{ticket.id}", json={"title": "ok"}, headers={"If-Match": header}
        )
        assert response.status_code == 200

    async def test_a_malformed_if_match_is_a_clear_error(
        self, agent_client: ApiClient, ticket_factory: TicketFactory
    ) -> None:
        ticket = await ticket_factory()
        response = await agent_client.patch(
            f"/api/v1/tickets/{ticket.id}", json={"title": "ok"}, headers={"If-Match": "yesterday"}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "If-Match"


class TestLifecycleThroughTheApi:
    async def test_a_ticket_walks_the_whole_lifecycle(
        self, agent_client: ApiClient, ticket_factory: TicketFactory, clock: Any
    ) -> None:
        assert agent_client.user is not None
        ticket = await ticket_factory()
        url = f"/api/v1/tickets/{ticket.id}"
        steps: list[dict[str, Any]] = [
            {"assigned_agent_id": agent_client.user.id},
            {"status": "in_progress"},
            {"status": "pending"},
            {"status": "in_progress"},
            {"status": "resolved"},
            {"status": "closed"},
        ]
        seen = []
        for change in steps:
            response = await agent_client.patch(url, json=change)
            assert response.status_code == 200, response.text
            seen.append(response.json()["status"])
        assert seen == ["assigned", "in_progress", "pending", "in_progress", "resolved", "closed"]
        final = (await agent_client.get(url)).json()
        assert final["resolved_at"] is not None
        assert final["closed_at"] is not None

    @pytest.mark.parametrize(
        ("start", "target"),
        [
            pytest.param(TicketStatus.open, "pending", id="open-to-pending"),
            pytest.param(TicketStatus.open, "closed", id="open-to-closed"),
            pytest.param(TicketStatus.pending, "closed", id="pending-to-closed"),
            pytest.param(TicketStatus.resolved, "in_progress", id="resolved-to-in-progress"),
        ],
    )
    async def test_forbidden_transitions_are_conflicts(
        self,
        agent_client: ApiClient,
        ticket_factory: TicketFactory,
        user_factory: UserFactory,
        start: TicketStatus,
        target: str,
    ) -> None:
        agent = await user_factory(role=Role.agent)
        ticket = await ticket_factory(
            status=start, assignee=agent if start is not TicketStatus.open else None
        )
        response = await agent_client.patch(f"/api/v1/tickets/{ticket.id}", json={"status": target})
        assert response.status_code == 409
        problem = response.json()
        assert problem["code"] == "invalid-transition"
        assert problem["current_status"] == start.value
        unchanged = (await agent_client.get(f"/api/v1/tickets/{ticket.id}")).json()
        assert unchanged["status"] == start.value

    async def test_a_closed_ticket_is_final(
        self, agent_client: ApiClient, ticket_factory: TicketFactory
    ) -> None:
        ticket = await ticket_factory(status=TicketStatus.closed)
        for change in ({"status": "open"}, {"title": "new"}, {"priority": "low"}):
            response = await agent_client.patch(f"/api/v1/tickets/{ticket.id}", json=change)
            assert response.status_code == 409
            assert response.json()["code"] == "ticket-closed"

    async def test_work_statuses_need_an_assignee(
        self, agent_client: ApiClient, ticket_factory: TicketFactory
    ) -> None:
        ticket = await ticket_factory()
        response = await agent_client.patch(f"/api/v1/tickets/{ticket.id}", json={"status": "in_progress"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["type"] == "needs-assignee"

    async def test_reopening_a_resolved_ticket_clears_resolved_at(
        self, agent_client: ApiClient, ticket_factory: TicketFactory
    ) -> None:
        ticket = await ticket_factory(status=TicketStatus.resolved)
        response = await agent_client.patch(f"/api/v1/tickets/{ticket.id}", json={"status": "open"})
        assert response.status_code == 200
        assert response.json()["resolved_at"] is None

    @pytest.mark.parametrize("field", ["title", "priority", "status", "category", "description"])
    async def test_required_fields_cannot_be_nulled(
        self, agent_client: ApiClient, ticket_factory: TicketFactory, field: str
    ) -> None:
        ticket = await ticket_factory()
        response = await agent_client.patch(f"/api/v1/tickets/{ticket.id}", json={field: None})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == field


async def test_updated_at_follows_the_clock(
    agent_client: ApiClient, ticket_factory: TicketFactory, clock: Any
) -> None:
    from datetime import timedelta

    ticket = await ticket_factory()
    clock.advance(timedelta(hours=2))
    body = (await agent_client.patch(f"/api/v1/tickets/{ticket.id}", json={"tags": ["later"]})).json()
    assert body["updated_at"] == clock.now().isoformat().replace("+00:00", "Z")
    assert body["created_at"] != body["updated_at"]


class TestPermissions:
    @pytest.mark.parametrize(
        ("role", "expected"),
        [
            pytest.param(Role.viewer, 403, id="viewer-cannot-create"),
            pytest.param(Role.agent, 201, id="agent-creates"),
            pytest.param(Role.senior_agent, 201, id="senior-agent-creates"),
            pytest.param(Role.admin, 201, id="admin-creates"),
        ],
    )
    async def test_who_may_create(
        self, user_factory: UserFactory, client_factory: ClientFactory, role: Role, expected: int
    ) -> None:
        client = await client_factory(await user_factory(role=role))
        response = await client.post("/api/v1/tickets", json={"title": "x"})
        assert response.status_code == expected
        if expected == 403:
            assert response.json()["code"] == "permission-denied"

    @pytest.mark.parametrize(
        ("role", "expected"),
        [
            pytest.param(Role.viewer, 403, id="viewer-cannot-delete"),
            pytest.param(Role.agent, 403, id="agent-cannot-delete"),
            pytest.param(Role.senior_agent, 403, id="senior-agent-cannot-delete"),
            pytest.param(Role.admin, 204, id="admin-deletes"),
        ],
    )
    async def test_only_admins_delete(
        self,
        user_factory: UserFactory,
        client_factory: ClientFactory,
        ticket_factory: TicketFactory,
        role: Role,
        expected: int,
    ) -> None:
        ticket = await ticket_factory()
        client = await client_factory(await user_factory(role=role))
        response = await client.delete(f"/api/v1/tickets/{ticket.id}")
        assert response.status_code == expected
        after = await client.get(f"/api/v1/tickets/{ticket.id}")
        assert after.status_code == (404 if expected == 204 else 200)

    async def test_a_deleted_ticket_is_gone_with_its_comments(
        self, admin_client: ApiClient, ticket_factory: TicketFactory
    ) -> None:
        ticket = await ticket_factory()
        await admin_client.post(f"/api/v1/tickets/{ticket.id}/comments", json={"content": "hi"})
        assert (await admin_client.delete(f"/api/v1/tickets/{ticket.id}")).status_code == 204
        assert (await admin_client.delete(f"/api/v1/tickets/{ticket.id}")).status_code == 404
        assert (await admin_client.get(f"/api/v1/tickets/{ticket.id}/comments")).status_code == 404

    async def test_viewers_read_but_do_not_change(
        self, viewer_client: ApiClient, ticket_factory: TicketFactory
    ) -> None:
        ticket = await ticket_factory()
        assert (await viewer_client.get(f"/api/v1/tickets/{ticket.id}")).status_code == 200
        assert (await viewer_client.get("/api/v1/tickets")).status_code == 200
        assert (
            await viewer_client.patch(f"/api/v1/tickets/{ticket.id}", json={"title": "x"})
        ).status_code == 403
        comment = await viewer_client.post(f"/api/v1/tickets/{ticket.id}/comments", json={"content": "x"})
        assert comment.status_code == 403

    async def test_anonymous_requests_are_unauthenticated(self, anonymous_client: ApiClient) -> None:
        response = await anonymous_client.get("/api/v1/tickets")
        assert response.status_code == 401
        assert response.json()["code"] == "not-authenticated"
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_senior_agents_reassign(
        self, senior_client: ApiClient, user_factory: UserFactory, ticket_factory: TicketFactory
    ) -> None:
        first = await user_factory(role=Role.agent)
        second = await user_factory(role=Role.agent)
        ticket = await ticket_factory(assignee=first, priority=Priority.high)
        response = await senior_client.patch(
            f"/api/v1/tickets/{ticket.id}", json={"assigned_agent_id": second.id}
        )
        assert response.status_code == 200
        assert response.json()["assigned_agent_id"] == second.id


async def test_the_audit_trail_records_who_changed_what(
    admin_client: ApiClient, ticket_factory: TicketFactory
) -> None:
    assert admin_client.user is not None
    ticket = await ticket_factory(priority=Priority.low)
    await admin_client.patch(f"/api/v1/tickets/{ticket.id}", json={"priority": "critical", "title": "Fire"})
    events = (await admin_client.get(f"/api/v1/tickets/{ticket.id}/audit")).json()
    assert [event["action"] for event in events] == ["created", "updated"]
    update = events[1]
    assert update["actor_type"] == "user"
    assert update["actor_id"] == admin_client.user.id
    assert update["changes"]["priority"] == ["low", "critical"]
    assert update["changes"]["title"] == [ticket.title, "Fire"]
    assert "version" not in update["changes"]


async def test_agents_cannot_read_the_audit_trail(
    agent_client: ApiClient, ticket_factory: TicketFactory
) -> None:
    ticket = await ticket_factory()
    assert (await agent_client.get(f"/api/v1/tickets/{ticket.id}/audit")).status_code == 403


@pytest.mark.parametrize(
    "status", [TicketStatus.in_progress, TicketStatus.pending], ids=lambda s: f"{s.value}"
)
async def test_a_ticket_being_worked_cannot_lose_its_agent(
    agent_client: ApiClient, user_factory: UserFactory, ticket_factory: TicketFactory, status: TicketStatus
) -> None:
    agent = await user_factory(role=Role.agent)
    ticket = await ticket_factory(assignee=agent, status=status)
    response = await agent_client.patch(f"/api/v1/tickets/{ticket.id}", json={"assigned_agent_id": None})
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "assigned_agent_id",
        "message": f"A ticket that is {status.value} needs an assignee; change its status first.",
        "type": "needs-assignee",
    }
    assert (await agent_client.get(f"/api/v1/tickets/{ticket.id}")).json()["assigned_agent_id"] == agent.id


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param(
            {"title": "x", "assigned_agent_id": True}, "assigned_agent_id", id="boolean-is-not-an-id"
        ),
        pytest.param({"title": "x", "assigned_agent_id": "7"}, "assigned_agent_id", id="string-is-not-an-id"),
        pytest.param({"title": 5}, "title", id="number-is-not-a-title"),
    ],
)
async def test_json_types_are_not_coerced(
    agent_client: ApiClient, payload: dict[str, Any], field: str
) -> None:
    response = await agent_client.post("/api/v1/tickets", json=payload)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


async def test_a_comment_visibility_must_be_a_boolean(
    agent_client: ApiClient, ticket_factory: TicketFactory
) -> None:
    ticket = await ticket_factory()
    response = await agent_client.post(
        f"/api/v1/tickets/{ticket.id}/comments", json={"content": "x", "is_public": "yes"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "is_public"


@pytest.mark.parametrize(
    ("status", "priority", "assigned", "urgent"),
    [
        pytest.param(
            TicketStatus.open, Priority.critical, False, True, id="open-unassigned-critical-is-urgent"
        ),
        pytest.param(TicketStatus.open, Priority.medium, False, False, id="open-unassigned-medium-is-not"),
        pytest.param(TicketStatus.assigned, Priority.critical, True, False, id="assigned-critical-is-not"),
    ],
)
async def test_the_ticket_model_and_the_api_agree_on_urgency(
    agent_client: ApiClient,
    ticket_factory: TicketFactory,
    user_factory: UserFactory,
    status: TicketStatus,
    priority: Priority,
    assigned: bool,
    urgent: bool,
) -> None:
    agent = await user_factory(role=Role.agent) if assigned else None
    ticket = await ticket_factory(status=status, priority=priority, assignee=agent)
    assert ticket.is_urgent() is urgent
    assert (await agent_client.get(f"/api/v1/tickets/{ticket.id}")).json()["is_urgent"] is urgent
