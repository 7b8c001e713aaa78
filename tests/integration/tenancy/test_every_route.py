"""Tenancy: every route in the OpenAPI schema, called with another workspace's ids, answers 404.

The table of sample bodies must cover every route with a path parameter, so a new endpoint cannot be
added without being walked here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI

from supportdesk.auth import service as auth_service
from supportdesk.channels.email import mailboxes
from supportdesk.channels.email.models import InboundMessage, InboundSource, InboundState
from supportdesk.config import Settings
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.notifications import service as notifications
from supportdesk.notifications.models import NotificationKind
from supportdesk.notifications.service import Note
from supportdesk.sla import config_service
from supportdesk.tickets import participants
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Attachment, Comment, Ticket
from supportdesk.workspaces.models import Workspace
from tests.factories.automation import MacroFactory, TriggerFactory
from tests.factories.people import CustomerFactory, UserFactory
from tests.factories.tickets import CommentFactory, TicketFactory
from tests.factories.webhooks import SubscriptionFactory, WebhookMessageFactory
from tests.fixtures.app import ApiClient


@dataclass(frozen=True)
class Form:
    """A multipart form body (fields and files) instead of JSON."""

    data: dict[str, str]
    files: list[tuple[str, tuple[str, bytes, str]]]


# A body that passes validation for each (method, route), so the request reaches the tenancy check.
SAMPLE_BODIES: dict[tuple[str, str], dict[str, Any] | Form | None] = {
    ("GET", "/api/v1/tickets/{ticket_id}"): None,
    ("PATCH", "/api/v1/tickets/{ticket_id}"): {"title": "Taken over"},
    ("DELETE", "/api/v1/tickets/{ticket_id}"): None,
    ("GET", "/api/v1/tickets/{ticket_id}/comments"): None,
    ("POST", "/api/v1/tickets/{ticket_id}/comments"): {"content": "Hello from elsewhere"},
    ("GET", "/api/v1/tickets/{ticket_id}/audit"): None,
    ("GET", "/api/v1/tickets/{ticket_id}/satisfaction"): None,
    ("POST", "/api/v1/tickets/{ticket_id}/attachments"): Form(
        {"content": "Files from elsewhere"}, [("files", ("a.txt", b"hello", "text/plain"))]
    ),
    ("GET", "/api/v1/tickets/{ticket_id}/attachments"): None,
    ("GET", "/api/v1/attachments/{attachment_id}/content"): None,
    ("POST", "/api/v1/tickets/{ticket_id}/macros/{macro_id}"): None,
    ("GET", "/api/v1/triggers/{trigger_id}"): None,
    ("PATCH", "/api/v1/triggers/{trigger_id}"): {"name": "Taken over"},
    ("DELETE", "/api/v1/triggers/{trigger_id}"): None,
    ("GET", "/api/v1/macros/{macro_id}"): None,
    ("PATCH", "/api/v1/macros/{macro_id}"): {"name": "Taken over"},
    ("DELETE", "/api/v1/macros/{macro_id}"): None,
    ("GET", "/api/v1/sla/calendars/{calendar_id}"): None,
    ("PATCH", "/api/v1/sla/calendars/{calendar_id}"): {"name": "Taken over"},
    ("DELETE", "/api/v1/sla/calendars/{calendar_id}"): None,
    ("GET", "/api/v1/sla/policies/{policy_id}"): None,
    ("PATCH", "/api/v1/sla/policies/{policy_id}"): {"name": "Taken over"},
    ("DELETE", "/api/v1/sla/policies/{policy_id}"): None,
    ("GET", "/api/v1/customers/{customer_id}"): None,
    ("PATCH", "/api/v1/customers/{customer_id}"): {"name": "Renamed"},
    ("GET", "/api/v1/customers/{customer_id}/crm"): None,
    ("GET", "/api/v1/admin/users/{user_id}"): None,
    ("PATCH", "/api/v1/admin/users/{user_id}"): {"name": "Renamed"},
    ("POST", "/api/v1/admin/users/{user_id}/deactivate"): None,
    ("DELETE", "/api/v1/me/tokens/{token_id}"): None,
    ("POST", "/api/v1/me/notifications/{notification_id}/read"): None,
    ("GET", "/api/v1/webhooks/{subscription_id}"): None,
    ("PATCH", "/api/v1/webhooks/{subscription_id}"): {"description": "Taken over"},
    ("DELETE", "/api/v1/webhooks/{subscription_id}"): None,
    ("POST", "/api/v1/webhooks/{subscription_id}/rotate-secret"): {"overlap_hours": 0},
    ("GET", "/api/v1/webhooks/{subscription_id}/deliveries"): None,
    ("POST", "/api/v1/webhooks/{subscription_id}/deliveries/{delivery_id}/replay"): None,
    ("GET", "/api/v1/admin/deliveries/{delivery_id}"): None,
    ("POST", "/api/v1/admin/deliveries/{delivery_id}/retry"): None,
    ("GET", "/api/v1/tickets/{ticket_id}/emails"): None,
    ("GET", "/api/v1/tickets/{ticket_id}/participants"): None,
    ("POST", "/api/v1/tickets/{ticket_id}/participants"): {"email": "taken.over@example.com"},
    ("DELETE", "/api/v1/tickets/{ticket_id}/participants/{participant_id}"): None,
    ("GET", "/api/v1/admin/mailboxes/{mailbox_id}"): None,
    ("PATCH", "/api/v1/admin/mailboxes/{mailbox_id}"): {"name": "Taken over"},
    ("DELETE", "/api/v1/admin/mailboxes/{mailbox_id}"): None,
    ("POST", "/api/v1/admin/mailboxes/{mailbox_id}/rotate-hook-token"): None,
    ("GET", "/api/v1/admin/inbound-messages/{message_id}"): None,
    ("GET", "/api/v1/admin/inbound-messages/{message_id}/raw"): None,
    ("POST", "/api/v1/admin/inbound-messages/{message_id}/reprocess"): None,
}


async def send(client: ApiClient, method: str, url: str, body: dict[str, Any] | Form | None) -> Any:
    if isinstance(body, Form):
        return await client.request(method, url, data=body.data, files=body.files)
    return await client.request(method, url, json=body)


_ID_PARAMETER = re.compile(r"\{\w+_id\}")


def routes_with_ids(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) of the OpenAPI schema whose path names an object by id. Paths that name a
    fixed kind of thing (``/email-templates/{kind}``) address the caller's own workspace's and have
    tests of their own that another workspace's stay apart."""
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if _ID_PARAMETER.search(path)
        for method in operations
    }


def test_every_route_with_an_id_is_walked(app: FastAPI) -> None:
    assert routes_with_ids(app) == set(SAMPLE_BODIES)


@pytest.fixture
async def foreign_ids(
    other_workspace: Workspace,
    ticket_factory: TicketFactory,
    customer_factory: CustomerFactory,
    user_factory: UserFactory,
    comment_factory: CommentFactory,
    trigger_factory: TriggerFactory,
    macro_factory: MacroFactory,
    subscription_factory: SubscriptionFactory,
    webhook_message_factory: WebhookMessageFactory,
    database: Database,
    settings: Settings,
    clock: FrozenClock,
) -> dict[str, int]:
    """Objects of another workspace, by path parameter name."""
    stranger = await user_factory(role=Role.agent, workspace=other_workspace)
    customer = await customer_factory(workspace=other_workspace)
    ticket = await ticket_factory(workspace=other_workspace, customer=customer)
    comment = await comment_factory(ticket, author=stranger)
    trigger = await trigger_factory(workspace=other_workspace)
    macro = await macro_factory(workspace=other_workspace)
    subscription = await subscription_factory(workspace=other_workspace)
    delivery = await webhook_message_factory(subscription)
    async with database.unit_of_work() as session:
        token = await auth_service.create_personal_token(
            session, settings, clock, user=stranger, name="theirs"
        )
        scope_to_workspace(session.sync_session, other_workspace.id)
        note = Note(stranger.id, NotificationKind.assignment, "Yours", ticket.id)
        await notifications.record(session, clock, other_workspace.id, [note])
        notification_id = (
            (await notifications.list_for_user(session, stranger.id, unread_only=False, limit=1, cursor=None))
            .items[0]
            .id
        )
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, other_workspace.id)
        calendar = await config_service.create_calendar(
            session,
            clock,
            workspace_id=other_workspace.id,
            name="Theirs",
            timezone="UTC",
            weekly_hours={"monday": [["09:00", "17:00"]]},
        )
        # Counts in the calendar: deleting it from here must still say "not found", not "in use".
        policy = await config_service.create_policy(
            session, clock, workspace_id=other_workspace.id, name="Theirs", calendar_id=calendar.id
        )
    return {
        "ticket_id": ticket.id,
        "calendar_id": calendar.id,
        "policy_id": policy.id,
        "customer_id": customer.id,
        "user_id": stranger.id,
        "token_id": token.record.id,
        "trigger_id": trigger.id,
        "macro_id": macro.id,
        "notification_id": notification_id,
        "subscription_id": subscription.id,
        "delivery_id": delivery.id,
        "attachment_id": await foreign_attachment(database, clock, comment),
        **await foreign_mail(database, clock, other_workspace),
        "participant_id": await foreign_participant(database, clock, ticket),
    }


async def foreign_participant(database: Database, clock: FrozenClock, ticket: Ticket) -> int:
    """Someone copied on another workspace's ticket."""
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, ticket.workspace_id)
        theirs = await ticket_service.get_ticket(session, ticket.id)
        participant = await participants.add_participant(session, clock, theirs, email="theirs@example.com")
        return participant.id


async def foreign_mail(database: Database, clock: FrozenClock, workspace: Workspace) -> dict[str, int]:
    """Another workspace's mailbox and a message that arrived in it, set aside (quarantined), so that
    only the tenancy check can refuse to process it again."""
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        mailbox = await mailboxes.create_mailbox(
            session, clock, workspace_id=workspace.id, address="help@globex.example.com"
        )
        message = InboundMessage(
            workspace_id=workspace.id,
            mailbox_id=mailbox.id,
            source=InboundSource.smtp,
            raw_sha256="0" * 64,
            raw_size=5,
            received_at=clock.now(),
            state=InboundState.quarantined,
        )
        session.add(message)
        await session.flush()
        return {"mailbox_id": mailbox.id, "message_id": message.id}


async def foreign_attachment(database: Database, clock: FrozenClock, comment: Comment) -> int:
    """A file on another workspace's comment (its bytes are never reached: the lookup refuses first)."""
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, comment.workspace_id)
        attachment = Attachment(
            workspace_id=comment.workspace_id,
            ticket_id=comment.ticket_id,
            comment_id=comment.id,
            filename="theirs.txt",
            content_type="text/plain",
            size=5,
            sha256="0" * 64,
            created_at=clock.now(),
        )
        session.add(attachment)
        await session.flush()
        return attachment.id


async def test_another_workspaces_ids_are_not_found(
    admin_client: ApiClient, foreign_ids: dict[str, int]
) -> None:
    # One walk over every route with one set of foreign objects: a test per route built the whole
    # foreign workspace again for each. A failure lists every route that answered otherwise.
    answers: dict[str, tuple[int, object]] = {}
    for (method, route), body in sorted(SAMPLE_BODIES.items()):
        response = await send(admin_client, method, route.format(**foreign_ids), body)
        is_json = response.headers.get("content-type", "").startswith("application/")
        code = response.json().get("code") if is_json and response.content else response.text
        answers[f"{method} {route}"] = (response.status_code, code)
    assert answers == dict.fromkeys(answers, (404, "not-found"))
    assert len(answers) == len(SAMPLE_BODIES)


async def test_the_foreign_objects_are_untouched(
    admin_client: ApiClient, other_admin_client: ApiClient, foreign_ids: dict[str, int]
) -> None:
    for (method, route), body in SAMPLE_BODIES.items():
        await send(admin_client, method, route.format(**foreign_ids), body)
    ticket = await other_admin_client.get(f"/api/v1/tickets/{foreign_ids['ticket_id']}")
    assert ticket.status_code == 200
    assert ticket.json()["title"] != "Taken over"
    comments = await other_admin_client.get(f"/api/v1/tickets/{foreign_ids['ticket_id']}/comments")
    assert len(comments.json()) == 1
    user = await other_admin_client.get(f"/api/v1/admin/users/{foreign_ids['user_id']}")
    assert user.json()["is_active"] is True
    assert user.json()["name"] != "Renamed"
    for kind in ("triggers", "macros"):
        kept = await other_admin_client.get(f"/api/v1/{kind}/{foreign_ids[kind[:-1] + '_id']}")
        assert kept.status_code == 200
        assert kept.json()["name"] != "Taken over"
    for kind, key in (("calendars", "calendar_id"), ("policies", "policy_id")):
        kept = await other_admin_client.get(f"/api/v1/sla/{kind}/{foreign_ids[key]}")
        assert kept.status_code == 200
        assert kept.json()["name"] == "Theirs"
    subscription = await other_admin_client.get(f"/api/v1/webhooks/{foreign_ids['subscription_id']}")
    assert subscription.status_code == 200
    assert subscription.json()["description"] != "Taken over"
    assert subscription.json()["previous_secret_expires_at"] is None, "its secret was not rotated"
    delivery = (await other_admin_client.get(f"/api/v1/admin/deliveries/{foreign_ids['delivery_id']}")).json()
    assert delivery["manual_retries"] == 0
    log = (
        await other_admin_client.get(f"/api/v1/webhooks/{foreign_ids['subscription_id']}/deliveries")
    ).json()
    assert [item["id"] for item in log["items"]] == [foreign_ids["delivery_id"]], "nothing was replayed"


@pytest.mark.parametrize(
    ("url", "id_key"),
    [
        pytest.param("/api/v1/tickets", "ticket_id", id="tickets"),
        pytest.param("/api/v1/customers", "customer_id", id="customers"),
    ],
)
async def test_lists_show_only_the_own_workspace(
    admin_client: ApiClient, foreign_ids: dict[str, int], url: str, id_key: str
) -> None:
    body = (await admin_client.get(url)).json()
    assert foreign_ids[id_key] not in [item["id"] for item in body["items"]]


async def test_staff_lists_show_only_the_own_workspace(
    admin_client: ApiClient, foreign_ids: dict[str, int]
) -> None:
    users = (await admin_client.get("/api/v1/admin/users")).json()
    assert foreign_ids["user_id"] not in [user["id"] for user in users]
    assert admin_client.user is not None
    assert admin_client.user.id in [user["id"] for user in users]


async def test_filters_cannot_reach_into_another_workspace(
    admin_client: ApiClient, foreign_ids: dict[str, int]
) -> None:
    body = (
        await admin_client.get("/api/v1/tickets", params={"customer_id": foreign_ids["customer_id"]})
    ).json()
    assert body["items"] == []


async def test_tickets_cannot_be_assigned_to_another_workspaces_agent(
    admin_client: ApiClient, foreign_ids: dict[str, int], ticket_factory: TicketFactory
) -> None:
    ticket = await ticket_factory()
    response = await admin_client.patch(
        f"/api/v1/tickets/{ticket.id}", json={"assigned_agent_id": foreign_ids["user_id"]}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "assigned_agent_id"
