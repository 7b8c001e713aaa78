"""Comments: adding and listing, first response, customer replies reopening tickets."""

from __future__ import annotations

from datetime import timedelta

from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.tickets.models import TicketStatus
from tests.factories.people import CustomerFactory, UserFactory
from tests.factories.tickets import CommentFactory, TicketFactory
from tests.fixtures.app import ApiClient


async def test_comments_are_listed_oldest_first(
    agent_client: ApiClient, ticket_factory: TicketFactory, clock: FrozenClock
) -> None:
    ticket = await ticket_factory()
    for text in ("first", "second", "third"):
        response = await agent_client.post(f"/api/v1/tickets/{ticket.id}/comments", json={"content": text})
        assert response.status_code == 201
        clock.advance(timedelta(minutes=1))
    listed = (await agent_client.get(f"/api/v1/tickets/{ticket.id}/comments")).json()
    assert [comment["content"] for comment in listed] == ["first", "second", "third"]


async def test_an_agents_first_public_reply_is_the_first_response(
    agent_client: ApiClient, ticket_factory: TicketFactory, clock: FrozenClock
) -> None:
    ticket = await ticket_factory()
    clock.advance(timedelta(minutes=5))
    internal = await agent_client.post(
        f"/api/v1/tickets/{ticket.id}/comments", json={"content": "note to self", "is_public": False}
    )
    assert internal.json()["is_public"] is False
    assert (await agent_client.get(f"/api/v1/tickets/{ticket.id}")).json()["first_responded_at"] is None
    clock.advance(timedelta(minutes=5))
    reply_time = clock.now()
    await agent_client.post(f"/api/v1/tickets/{ticket.id}/comments", json={"content": "We are on it"})
    clock.advance(timedelta(minutes=5))
    await agent_client.post(f"/api/v1/tickets/{ticket.id}/comments", json={"content": "Update"})
    body = (await agent_client.get(f"/api/v1/tickets/{ticket.id}")).json()
    assert body["first_responded_at"] == reply_time.isoformat().replace("+00:00", "Z")


async def test_the_author_is_recorded(agent_client: ApiClient, ticket_factory: TicketFactory) -> None:
    assert agent_client.user is not None
    ticket = await ticket_factory()
    body = (await agent_client.post(f"/api/v1/tickets/{ticket.id}/comments", json={"content": "hi"})).json()
    assert body["author_user_id"] == agent_client.user.id
    assert body["author_email"] == agent_client.user.email
    assert body["author_customer_id"] is None


async def test_a_customer_reply_reopens_a_resolved_ticket(
    agent_client: ApiClient,
    ticket_factory: TicketFactory,
    customer_factory: CustomerFactory,
    user_factory: UserFactory,
) -> None:
    agent = await user_factory(role=Role.agent)
    customer = await customer_factory()
    ticket = await ticket_factory(customer=customer, assignee=agent, status=TicketStatus.resolved)
    response = await agent_client.post(
        f"/api/v1/tickets/{ticket.id}/comments", json={"content": "Still broken", "author": "customer"}
    )
    assert response.status_code == 201
    assert response.json()["author_customer_id"] == customer.id
    reopened = (await agent_client.get(f"/api/v1/tickets/{ticket.id}")).json()
    assert reopened["status"] == "assigned"
    assert reopened["resolved_at"] is None


async def test_a_customer_reply_needs_a_customer(
    agent_client: ApiClient, ticket_factory: TicketFactory
) -> None:
    ticket = await ticket_factory()
    response = await agent_client.post(
        f"/api/v1/tickets/{ticket.id}/comments", json={"content": "hi", "author": "customer"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "author"


async def test_closed_tickets_take_no_comments(
    agent_client: ApiClient,
    ticket_factory: TicketFactory,
    comment_factory: CommentFactory,
    user_factory: UserFactory,
) -> None:
    agent = await user_factory(role=Role.agent)
    ticket = await ticket_factory(assignee=agent)
    await comment_factory(ticket, author=agent, content="done")
    await agent_client.patch(f"/api/v1/tickets/{ticket.id}", json={"status": "resolved"})
    await agent_client.patch(f"/api/v1/tickets/{ticket.id}", json={"status": "closed"})
    response = await agent_client.post(f"/api/v1/tickets/{ticket.id}/comments", json={"content": "late"})
    assert response.status_code == 409
    assert response.json()["code"] == "ticket-closed"
    assert len((await agent_client.get(f"/api/v1/tickets/{ticket.id}/comments")).json()) == 1


async def test_empty_comments_are_refused(agent_client: ApiClient, ticket_factory: TicketFactory) -> None:
    ticket = await ticket_factory()
    response = await agent_client.post(f"/api/v1/tickets/{ticket.id}/comments", json={"content": "  "})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "content"


class TestIdempotency:
    async def test_a_replayed_create_returns_the_first_response_once(self, agent_client: ApiClient) -> None:
        headers = {"Idempotency-Key": "create-42"}
        first = await agent_client.post("/api/v1/tickets", json={"title": "Once"}, headers=headers)
        again = await agent_client.post("/api/v1/tickets", json={"title": "Once"}, headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["etag"] == first.headers["etag"]
        listing = (await agent_client.get("/api/v1/tickets")).json()
        assert len(listing["items"]) == 1

    async def test_reusing_a_key_with_another_body_is_refused(self, agent_client: ApiClient) -> None:
        headers = {"Idempotency-Key": "k-1"}
        await agent_client.post("/api/v1/tickets", json={"title": "One"}, headers=headers)
        response = await agent_client.post("/api/v1/tickets", json={"title": "Two"}, headers=headers)
        assert response.status_code == 422
        assert response.json()["code"] == "idempotency-key-reused"
        assert len((await agent_client.get("/api/v1/tickets")).json()["items"]) == 1

    async def test_keys_belong_to_their_user(self, agent_client: ApiClient, senior_client: ApiClient) -> None:
        headers = {"Idempotency-Key": "shared-key"}
        mine = await agent_client.post("/api/v1/tickets", json={"title": "Mine"}, headers=headers)
        theirs = await senior_client.post("/api/v1/tickets", json={"title": "Theirs"}, headers=headers)
        assert mine.json()["id"] != theirs.json()["id"]

    async def test_keys_expire(self, agent_client: ApiClient, clock: FrozenClock) -> None:
        headers = {"Idempotency-Key": "old-key"}
        await agent_client.post("/api/v1/tickets", json={"title": "Old"}, headers=headers)
        clock.advance(timedelta(hours=25))
        response = await agent_client.post("/api/v1/tickets", json={"title": "New"}, headers=headers)
        assert response.status_code == 201
        assert "idempotent-replayed" not in response.headers

    async def test_a_replayed_comment_is_added_once(
        self, agent_client: ApiClient, ticket_factory: TicketFactory
    ) -> None:
        ticket = await ticket_factory()
        url = f"/api/v1/tickets/{ticket.id}/comments"
        for _ in range(3):
            response = await agent_client.post(
                url, json={"content": "once"}, headers={"Idempotency-Key": "c1"}
            )
            assert response.status_code == 201
        assert len((await agent_client.get(url)).json()) == 1

    async def test_a_failed_request_does_not_consume_the_key(self, agent_client: ApiClient) -> None:
        headers = {"Idempotency-Key": "retry-me"}
        failed = await agent_client.post(
            "/api/v1/tickets", json={"title": "x", "category": "nope"}, headers=headers
        )
        assert failed.status_code == 422
        ok = await agent_client.post(
            "/api/v1/tickets", json={"title": "x", "category": "nope"}, headers=headers
        )
        assert ok.status_code == 422
        fixed = await agent_client.post("/api/v1/tickets", json={"title": "x"}, headers=headers)
        assert fixed.status_code == 201

    async def test_a_blank_key_is_refused(self, agent_client: ApiClient) -> None:
        response = await agent_client.post(
            "/api/v1/tickets", json={"title": "x"}, headers={"Idempotency-Key": " "}
        )
        assert response.status_code == 422
