"""The workspace's live parts: the event stream a page listens to, the presence a page reports, and a
reply stopped once when someone else wrote on the ticket while it was being written."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.realtime.pubsub import MemoryPubSub, desk_channel
from supportdesk.realtime.stream import StreamTiming
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Ticket
from supportdesk.workspaces.models import Workspace
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient
from tests.integration.web.conftest import PageClient, PageClientFactory, anonymous_browser

pytestmark = pytest.mark.integration

WAIT = 5.0
_SEEN = re.compile(r'name="seen" value="(\d+)"')


@dataclass(frozen=True)
class Event:
    name: str
    data: dict[str, object]


def parse_events(body: str) -> list[Event]:
    """The events of a ``text/event-stream`` body, without its comments and its ``retry`` line."""
    events = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "data" in fields:
            events.append(Event(fields.get("event", "message"), json.loads(fields["data"])))
    return events


@pytest.fixture
def short_streams(app: FastAPI) -> Iterator[StreamTiming]:
    """Streams that end after a second and a half, so a test reads one whole. (The app's state is put
    back by hand: pytest's monkeypatch loses a ``State`` attribute when it undoes.)"""
    timing = StreamTiming(heartbeat=0.3, lifetime=1.5, retry_ms=500)
    usual = app.state.stream_timing
    app.state.stream_timing = timing
    yield timing
    app.state.stream_timing = usual


async def _listening(app: FastAPI, channel: str) -> None:
    pubsub = app.state.pubsub
    assert isinstance(pubsub, MemoryPubSub)
    # The stream subscribes inside the app, which offers nothing to wait on: ask until it listens.
    async with asyncio.timeout(WAIT):
        while not pubsub.listening(channel):  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_the_stream_carries_the_workspaces_ticket_changes_and_nothing_of_another(
    app: FastAPI,
    short_streams: StreamTiming,
    agent_browser: PageClient,
    admin_client: ApiClient,
    other_admin_client: ApiClient,
    workspace: Workspace,
) -> None:
    stream = asyncio.create_task(agent_browser.get("/app/events"))
    await _listening(app, desk_channel(workspace.id))

    created = await admin_client.post("/api/v1/tickets", json={"title": "Printer on fire"})
    assert created.status_code == 201, created.text
    ticket = created.json()
    commented = await admin_client.post(
        f"/api/v1/tickets/{ticket['id']}/comments", json={"content": "Looking", "is_public": False}
    )
    assert commented.status_code == 201, commented.text
    changed = await admin_client.patch(f"/api/v1/tickets/{ticket['id']}", json={"priority": "high"})
    assert changed.status_code == 200, changed.text
    theirs = await other_admin_client.post("/api/v1/tickets", json={"title": "Not yours"})
    assert theirs.status_code == 201, theirs.text
    response = await stream

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    assert response.text.startswith("retry: 500\n\n")
    assert ": still here" in response.text
    events = parse_events(response.text)
    told = [(event.name, event.data["event"], event.data["ticket_id"]) for event in events]
    assert told == [
        ("ticket", "created", ticket["id"]),
        ("ticket", "commented", ticket["id"]),
        ("ticket", "updated", ticket["id"]),
    ]
    versions = [event.data["version"] for event in events]
    assert versions[-1] == changed.json()["version"]
    assert "Not yours" not in response.text


async def test_a_browser_that_reconnects_is_told_to_read_its_page_again(
    app: FastAPI, agent_browser: PageClient
) -> None:
    usual = app.state.stream_timing
    app.state.stream_timing = StreamTiming(heartbeat=0.1, lifetime=0.2)
    try:
        response = await agent_browser.get("/app/events", headers={"Last-Event-ID": "1a2b3c4d-7"})
    finally:
        app.state.stream_timing = usual

    assert [event.name for event in parse_events(response.text)] == ["resync"]


async def test_a_browser_that_is_not_signed_in_gets_no_stream(app: FastAPI) -> None:
    async with anonymous_browser(app) as browser:
        response = await browser.get("/app/events")

    assert response.status_code == 303
    assert response.headers["location"] == "/app/login?next=%2Fapp%2Fevents"


async def test_presence_reaches_the_workspaces_screens_at_once(
    app: FastAPI, agent_browser: PageClient, ticket_factory: TicketFactory, workspace: Workspace
) -> None:
    ticket = await ticket_factory()

    async with app.state.pubsub.subscribe(desk_channel(workspace.id)) as screen:
        response = await agent_browser.submit(f"/app/tickets/{ticket.id}/presence", {"state": "replying"})
        async with asyncio.timeout(WAIT):
            told = await screen.next()

    assert response.status_code == 204
    assert told == {
        "type": "presence",
        "ticket_id": ticket.id,
        "user_id": agent_browser.user.id,
        "name": agent_browser.user.name,
        "state": "replying",
        "expires_in": 45,
    }


@pytest.mark.parametrize(
    ("role", "fields", "status"),
    [
        pytest.param(Role.agent, {"state": "typing"}, 422, id="unknown-state"),
        pytest.param(Role.agent, {"state": "viewing", "csrf_token": "forged"}, 403, id="forged-form"),
        pytest.param(Role.viewer, {"state": "replying"}, 403, id="viewer-cannot-be-replying"),
    ],
)
async def test_presence_that_cannot_be_true_is_refused_and_not_told(
    app: FastAPI,
    page_client_factory: PageClientFactory,
    ticket_factory: TicketFactory,
    workspace: Workspace,
    role: Role,
    fields: dict[str, str],
    status: int,
) -> None:
    browser = await page_client_factory(role=role)
    ticket = await ticket_factory()

    async with app.state.pubsub.subscribe(desk_channel(workspace.id)) as screen:
        response = await browser.submit(f"/app/tickets/{ticket.id}/presence", fields)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await screen.next()

    assert response.status_code == status


async def test_a_viewer_may_say_they_view_a_ticket(
    page_client_factory: PageClientFactory, ticket_factory: TicketFactory
) -> None:
    viewer = await page_client_factory(role=Role.viewer)
    ticket = await ticket_factory()

    response = await viewer.submit(f"/app/tickets/{ticket.id}/presence", {"state": "viewing"})

    assert response.status_code == 204


async def test_presence_on_another_workspaces_ticket_is_not_found_and_not_told(
    app: FastAPI,
    agent_browser: PageClient,
    ticket_factory: TicketFactory,
    other_workspace: Workspace,
) -> None:
    theirs = await ticket_factory(workspace=other_workspace)

    async with app.state.pubsub.subscribe(desk_channel(other_workspace.id)) as screen:
        response = await agent_browser.submit(f"/app/tickets/{theirs.id}/presence", {"state": "viewing"})
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await screen.next()

    assert response.status_code == 404
    assert "There is nothing here in your workspace." in response.text


def _seen(page: httpx.Response) -> str:
    match = _SEEN.search(page.text)
    assert match is not None, "the composer names no newest comment"
    return match.group(1)


async def _comments(database: Database, ticket: Ticket) -> list[str]:
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, ticket.workspace_id)
        fresh = await ticket_service.get_ticket(session, ticket.id)
        return [comment.content for comment in await ticket_service.list_comments(session, fresh)]


async def test_a_reply_written_while_the_customer_wrote_is_stopped_once_and_kept(
    agent_browser: PageClient, admin_client: ApiClient, ticket_factory: TicketFactory, database: Database
) -> None:
    ticket = await ticket_factory(customer_email="maria@example.com")
    shown = await agent_browser.get(f"/app/tickets/{ticket.id}")
    assert _seen(shown) == "0"
    wrote = await admin_client.post(
        f"/api/v1/tickets/{ticket.id}/comments",
        json={"content": "Never mind, it works now", "author": "customer"},
    )
    assert wrote.status_code == 201, wrote.text

    stopped = await agent_browser.submit(
        f"/app/tickets/{ticket.id}/comments", {"content": "Try restarting it", "seen": _seen(shown)}
    )

    assert stopped.status_code == 409
    assert 'id="reply-warning"' in stopped.text
    assert "The customer wrote on this ticket while you were writing." in stopped.text
    assert "Never mind, it works now" in stopped.text
    assert ">Try restarting it</textarea>" in stopped.text
    assert await _comments(database, ticket) == ["Never mind, it works now"]
    assert _seen(stopped) == str(wrote.json()["id"])

    sent = await agent_browser.submit(
        f"/app/tickets/{ticket.id}/comments", {"content": "Try restarting it", "seen": _seen(stopped)}
    )

    assert sent.status_code == 303
    assert await _comments(database, ticket) == ["Never mind, it works now", "Try restarting it"]


async def test_what_the_agent_wrote_themselves_meanwhile_does_not_stop_their_reply(
    agent_browser: PageClient, ticket_factory: TicketFactory, database: Database
) -> None:
    ticket = await ticket_factory()
    shown = await agent_browser.get(f"/app/tickets/{ticket.id}")
    note = await agent_browser.submit(
        f"/app/tickets/{ticket.id}/comments", {"content": "Checked the logs", "visibility": "note"}
    )
    assert note.status_code == 303

    sent = await agent_browser.submit(
        f"/app/tickets/{ticket.id}/comments", {"content": "Fixed it", "seen": _seen(shown)}
    )

    assert sent.status_code == 303
    assert await _comments(database, ticket) == ["Checked the logs", "Fixed it"]
