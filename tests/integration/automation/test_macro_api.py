"""Macros: admins keep them, agents list and apply them. Applying posts the rendered reply and applies
the actions in one transaction: everything or nothing."""

from __future__ import annotations

from typing import Any

import pytest

from supportdesk.automation.models import TriggerEvent
from supportdesk.core.permissions import Role
from supportdesk.notifications.models import NotificationKind
from supportdesk.people.models import User
from supportdesk.tickets.models import Priority, TicketStatus
from tests.factories.automation import MacroFactory, TriggerFactory
from tests.factories.people import CustomerFactory, UserFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient, ClientFactory
from tests.integration.automation.conftest import Reload

THANKS: dict[str, Any] = {
    "name": "Thanks and wait",
    "actions": [{"type": "add_tags", "tags": ["answered"]}, {"type": "set_status", "value": "pending"}],
    "reply": (
        "Hi {{ customer.name }},\n\n"
        "about #{{ ticket.number }} ({{ ticket.title }}): done.\n\n"
        "{{ agent.name }}"
    ),
}


def _errors(response: Any) -> list[tuple[str, str]]:
    return [(error["field"], error["type"]) for error in response.json()["errors"]]


def _apply_url(ticket_id: int, macro_id: int) -> str:
    return f"/api/v1/tickets/{ticket_id}/macros/{macro_id}"


@pytest.fixture
def agent(agent_client: ApiClient) -> User:
    assert agent_client.user is not None
    return agent_client.user


class TestKeeping:
    async def test_an_admin_adds_a_macro_and_reads_it_back(self, admin_client: ApiClient) -> None:
        created = await admin_client.post("/api/v1/macros", json=THANKS)
        assert created.status_code == 201, created.text
        body = created.json()
        assert created.headers["location"] == f"/api/v1/macros/{body['id']}"
        fetched = await admin_client.get(f"/api/v1/macros/{body['id']}")
        assert fetched.headers["etag"] == '"v1"'
        assert fetched.json()["reply"] == THANKS["reply"]
        assert fetched.json()["reply_public"] is True
        assert fetched.json()["actions"] == THANKS["actions"]

    @pytest.mark.parametrize(
        ("reply", "error_type"),
        [
            pytest.param("Hi {{ customer.phone }}", "unknown-placeholder", id="unknown-attribute"),
            pytest.param("Hi {{ firstname }}", "unknown-placeholder", id="unknown-name"),
            pytest.param("Hi {{ customer.name", "template-syntax", id="syntax-error"),
            pytest.param("{% for x in customer %}{% endfor %}", "unsupported-template", id="loop"),
            pytest.param("   ", "string_too_short", id="blank"),
        ],
    )
    async def test_a_bad_reply_is_refused_naming_it(
        self, admin_client: ApiClient, reply: str, error_type: str
    ) -> None:
        response = await admin_client.post("/api/v1/macros", json={**THANKS, "reply": reply})
        assert response.status_code == 422
        assert _errors(response) == [("reply", error_type)]

    async def test_a_macro_needs_actions_or_a_reply(self, admin_client: ApiClient) -> None:
        response = await admin_client.post("/api/v1/macros", json={"name": "Nothing"})
        assert response.status_code == 422
        assert _errors(response) == [("actions", "empty-macro")]
        reply_only = await admin_client.post("/api/v1/macros", json={"name": "Reply", "reply": "Hello!"})
        assert reply_only.status_code == 201

    async def test_an_unknown_category_is_refused(self, admin_client: ApiClient) -> None:
        response = await admin_client.post(
            "/api/v1/macros",
            json={
                "name": "Move",
                "actions": [{"type": "add_note", "content": "x"}, {"type": "set_category", "value": "nope"}],
            },
        )
        assert response.status_code == 422
        assert _errors(response) == [("actions.1.value", "unknown-category")]

    async def test_an_unknown_action_is_refused_naming_it(self, admin_client: ApiClient) -> None:
        response = await admin_client.post(
            "/api/v1/macros", json={"name": "X", "actions": [{"type": "merge"}]}
        )
        assert response.status_code == 422
        assert _errors(response) == [("actions.0.type", "unknown-action")]

    async def test_names_are_unique(self, admin_client: ApiClient, macro_factory: MacroFactory) -> None:
        await macro_factory(name="Close it")
        response = await admin_client.post("/api/v1/macros", json={**THANKS, "name": "Close it"})
        assert response.status_code == 409
        assert response.json()["code"] == "macro-exists"

    async def test_a_patch_with_a_stale_if_match_is_refused(
        self, admin_client: ApiClient, macro_factory: MacroFactory
    ) -> None:
        macro = await macro_factory(reply="Hi")
        changed = await admin_client.patch(
            f"/api/v1/macros/{macro.id}",
            json={"reply": "Hello {{ customer.name }}"},
            headers={"If-Match": '"v1"'},
        )
        assert changed.status_code == 200, changed.text
        assert changed.headers["etag"] == '"v2"'
        stale = await admin_client.patch(
            f"/api/v1/macros/{macro.id}", json={"reply_public": False}, headers={"If-Match": '"v1"'}
        )
        assert stale.status_code == 412
        assert (await admin_client.get(f"/api/v1/macros/{macro.id}")).json()["reply_public"] is True

    async def test_a_patch_checks_the_reply(
        self, admin_client: ApiClient, macro_factory: MacroFactory
    ) -> None:
        macro = await macro_factory()
        response = await admin_client.patch(
            f"/api/v1/macros/{macro.id}", json={"reply": "{{ ticket.secret }}"}
        )
        assert response.status_code == 422
        assert _errors(response) == [("reply", "unknown-placeholder")]

    async def test_removing_the_reply_of_a_reply_only_macro_is_refused(
        self, admin_client: ApiClient, macro_factory: MacroFactory
    ) -> None:
        macro = await macro_factory(actions=[], reply="Hi")
        response = await admin_client.patch(f"/api/v1/macros/{macro.id}", json={"reply": None})
        assert response.status_code == 422
        assert _errors(response) == [("actions", "empty-macro")]

    async def test_a_deleted_macro_is_gone(
        self, admin_client: ApiClient, macro_factory: MacroFactory
    ) -> None:
        macro = await macro_factory()
        assert (await admin_client.delete(f"/api/v1/macros/{macro.id}")).status_code == 204
        assert (await admin_client.get(f"/api/v1/macros/{macro.id}")).status_code == 404


class TestPermissions:
    @pytest.mark.parametrize(
        ("role", "may_read"),
        [
            pytest.param(Role.viewer, False, id="viewer"),
            pytest.param(Role.agent, True, id="agent"),
            pytest.param(Role.senior_agent, True, id="senior-agent"),
        ],
    )
    async def test_only_admins_change_macros_and_those_who_apply_them_read_them(
        self,
        user_factory: UserFactory,
        client_factory: ClientFactory,
        macro_factory: MacroFactory,
        role: Role,
        may_read: bool,
    ) -> None:
        macro = await macro_factory()
        client = await client_factory(await user_factory(role=role))
        url = f"/api/v1/macros/{macro.id}"
        reads = [await client.get("/api/v1/macros"), await client.get(url)]
        writes = [
            await client.post("/api/v1/macros", json=THANKS),
            await client.patch(url, json={"name": "Mine"}),
            await client.delete(url),
        ]
        assert [response.status_code for response in reads] == [200 if may_read else 403] * 2
        assert [response.status_code for response in writes] == [403] * 3
        if may_read:
            assert [item["id"] for item in reads[0].json()] == [macro.id]

    async def test_a_viewer_cannot_apply_a_macro(
        self, viewer_client: ApiClient, macro_factory: MacroFactory, ticket_factory: TicketFactory
    ) -> None:
        ticket = await ticket_factory()
        response = await viewer_client.post(_apply_url(ticket.id, (await macro_factory()).id))
        assert response.status_code == 403
        assert (await viewer_client.get(f"/api/v1/tickets/{ticket.id}")).json()["tags"] == []


class TestApplying:
    async def test_the_actions_apply_and_the_reply_is_posted_by_the_agent(
        self,
        agent_client: ApiClient,
        agent: User,
        macro_factory: MacroFactory,
        ticket_factory: TicketFactory,
        customer_factory: CustomerFactory,
    ) -> None:
        customer = await customer_factory(name="Maria Lopez")
        ticket = await ticket_factory(customer=customer, assignee=agent, title="Cannot export", tags=["web"])
        macro = await macro_factory(**THANKS)

        response = await agent_client.post(_apply_url(ticket.id, macro.id))

        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["tags"]) == ("pending", ["answered", "web"])
        assert response.headers["etag"] == f'"v{body["version"]}"'
        assert body["first_responded_at"] is not None
        assert (await agent_client.get(f"/api/v1/tickets/{ticket.id}")).json() == body
        (reply,) = (await agent_client.get(f"/api/v1/tickets/{ticket.id}/comments")).json()
        assert reply["content"] == (
            f"Hi Maria Lopez,\n\nabout #{ticket.number} (Cannot export): done.\n\n{agent.name}"
        )
        assert (reply["is_public"], reply["author_user_id"]) == (True, agent.id)

    async def test_missing_customer_values_render_as_empty_text(
        self, agent_client: ApiClient, macro_factory: MacroFactory, ticket_factory: TicketFactory
    ) -> None:
        ticket = await ticket_factory()
        macro = await macro_factory(actions=[], reply="Hi {{ customer.name }} <{{ customer.email }}>!")
        assert (await agent_client.post(_apply_url(ticket.id, macro.id))).status_code == 200
        (reply,) = (await agent_client.get(f"/api/v1/tickets/{ticket.id}/comments")).json()
        assert reply["content"] == "Hi  <>!"

    async def test_an_internal_reply_is_a_note(
        self, agent_client: ApiClient, macro_factory: MacroFactory, ticket_factory: TicketFactory
    ) -> None:
        ticket = await ticket_factory()
        macro = await macro_factory(actions=[], reply="Escalated by {{ agent.name }}", reply_public=False)
        body = (await agent_client.post(_apply_url(ticket.id, macro.id))).json()
        assert body["first_responded_at"] is None
        (note,) = (await agent_client.get(f"/api/v1/tickets/{ticket.id}/comments")).json()
        assert note["is_public"] is False

    async def test_actions_apply_in_order(
        self,
        agent_client: ApiClient,
        agent: User,
        macro_factory: MacroFactory,
        ticket_factory: TicketFactory,
        reload: Reload,
    ) -> None:
        ticket = await ticket_factory(priority=Priority.low)
        macro = await macro_factory(
            actions=[
                {"type": "assign", "agent_id": agent.id},
                {"type": "set_status", "value": "in_progress"},
                {"type": "set_priority", "value": "high"},
                {"type": "remove_tags", "tags": ["nothing-to-remove"]},
                {"type": "add_note", "content": "Taking this one"},
                {"type": "notify", "assignee": True, "message": "All yours"},
            ]
        )
        response = await agent_client.post(_apply_url(ticket.id, macro.id))
        assert response.status_code == 200, response.text
        state = await reload(ticket)
        assert (state.ticket.assigned_agent_id, state.ticket.status, state.ticket.priority) == (
            agent.id,
            TicketStatus.in_progress,
            Priority.high,
        )
        assert [(comment.content, comment.is_public) for comment in state.comments] == [
            ("Taking this one", False)
        ]
        assert [(note.user_id, note.kind, note.message) for note in state.notifications] == [
            (agent.id, NotificationKind.trigger, "All yours")
        ]

    async def test_the_reply_and_the_changes_run_the_triggers(
        self,
        agent_client: ApiClient,
        macro_factory: MacroFactory,
        ticket_factory: TicketFactory,
        trigger_factory: TriggerFactory,
    ) -> None:
        await trigger_factory(
            event=TriggerEvent.commented,
            conditions=[{"field": "comment", "operator": "contains", "value": "sorry"}],
            actions=[{"type": "add_tags", "tags": ["apology"]}],
        )
        await trigger_factory(
            event=TriggerEvent.updated,
            conditions=[{"field": "priority", "operator": "is", "value": "critical"}],
            actions=[{"type": "add_tags", "tags": ["escalated"]}],
        )
        ticket = await ticket_factory()
        macro = await macro_factory(
            actions=[{"type": "set_priority", "value": "critical"}], reply="We are sorry for the trouble."
        )
        body = (await agent_client.post(_apply_url(ticket.id, macro.id))).json()
        assert (body["priority"], body["tags"]) == ("critical", ["apology", "escalated"])

    async def test_an_action_the_ticket_refuses_changes_nothing(
        self,
        agent_client: ApiClient,
        macro_factory: MacroFactory,
        ticket_factory: TicketFactory,
        reload: Reload,
    ) -> None:
        ticket = await ticket_factory(priority=Priority.low)
        macro = await macro_factory(
            actions=[
                {"type": "set_priority", "value": "high"},
                {"type": "add_tags", "tags": ["waiting"]},
                {"type": "set_status", "value": "pending"},  # open cannot become pending
            ],
            reply="We are waiting for you.",
        )
        response = await agent_client.post(_apply_url(ticket.id, macro.id))
        assert response.status_code == 409
        assert response.json()["code"] == "invalid-transition"
        state = await reload(ticket)
        assert (state.ticket.priority, state.ticket.tags, state.ticket.version) == (
            Priority.low,
            [],
            ticket.version,
        )
        assert state.comments == []
        assert state.ticket.first_responded_at is None

    async def test_an_action_refused_as_invalid_input_changes_nothing(
        self,
        agent_client: ApiClient,
        macro_factory: MacroFactory,
        ticket_factory: TicketFactory,
        reload: Reload,
    ) -> None:
        ticket = await ticket_factory()
        macro = await macro_factory(
            actions=[
                {"type": "add_tags", "tags": ["working"]},
                {"type": "set_status", "value": "in_progress"},
            ],
        )
        response = await agent_client.post(_apply_url(ticket.id, macro.id))
        assert response.status_code == 422
        assert _errors(response) == [("status", "needs-assignee")]
        assert (await reload(ticket)).ticket.tags == []

    async def test_a_closed_ticket_takes_no_macro(
        self, agent_client: ApiClient, agent: User, macro_factory: MacroFactory, ticket_factory: TicketFactory
    ) -> None:
        ticket = await ticket_factory(assignee=agent, status=TicketStatus.closed)
        response = await agent_client.post(_apply_url(ticket.id, (await macro_factory()).id))
        assert response.status_code == 409
        assert response.json()["code"] == "ticket-closed"

    async def test_a_stale_if_match_is_refused(
        self,
        agent_client: ApiClient,
        macro_factory: MacroFactory,
        ticket_factory: TicketFactory,
        reload: Reload,
    ) -> None:
        ticket = await ticket_factory()
        await agent_client.patch(f"/api/v1/tickets/{ticket.id}", json={"title": "Edited meanwhile"})
        response = await agent_client.post(
            _apply_url(ticket.id, (await macro_factory()).id), headers={"If-Match": f'"v{ticket.version}"'}
        )
        assert response.status_code == 412
        assert (await reload(ticket)).ticket.tags == []

    async def test_the_current_if_match_is_accepted(
        self, agent_client: ApiClient, macro_factory: MacroFactory, ticket_factory: TicketFactory
    ) -> None:
        ticket = await ticket_factory()
        response = await agent_client.post(
            _apply_url(ticket.id, (await macro_factory()).id), headers={"If-Match": f'"v{ticket.version}"'}
        )
        assert response.status_code == 200
        assert response.json()["tags"] == ["macro"]

    @pytest.mark.parametrize("missing", ["ticket", "macro"])
    async def test_an_unknown_ticket_or_macro_is_not_found(
        self,
        agent_client: ApiClient,
        macro_factory: MacroFactory,
        ticket_factory: TicketFactory,
        missing: str,
    ) -> None:
        ticket, macro = await ticket_factory(), await macro_factory()
        url = _apply_url(987_654, macro.id) if missing == "ticket" else _apply_url(ticket.id, 987_654)
        response = await agent_client.post(url)
        assert response.status_code == 404
        assert response.json()["code"] == "not-found"
