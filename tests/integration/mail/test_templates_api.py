"""/api/v1/email-templates: admins read every kind of e-mail, give one the workspace's own wording
(checked before it is saved), preview it, and go back to the default; other workspaces are untouched."""

from __future__ import annotations

import pytest

from supportdesk.core.permissions import Role
from supportdesk.notifications.mail import templates
from supportdesk.notifications.mail.models import EmailKind
from tests.factories.people import UserFactory
from tests.fixtures.app import ApiClient, ClientFactory

pytestmark = pytest.mark.integration

OWN = {
    "subject": "Got it: {{ ticket.title }}",
    "text_body": "Hi {{ customer.name }}, we are on it.",
    "html_body": "<p>Hi {{ customer.name }}, we are <em>on it</em>.</p>",
}
PATH = "/api/v1/email-templates"


async def test_every_kind_is_listed_with_its_default_wording(admin_client: ApiClient) -> None:
    response = await admin_client.get(PATH)
    assert response.status_code == 200
    listed = {item["kind"]: item for item in response.json()}
    assert set(listed) == {kind.value for kind in EmailKind}
    receipt = listed["ticket_received"]
    assert (receipt["audience"], receipt["customized"], receipt["updated_at"]) == ("customer", False, None)
    assert receipt["subject"] == templates.DEFAULTS[EmailKind.ticket_received].subject
    assert "comment.content" in listed["agent_reply"]["placeholders"]
    assert listed["ticket_assigned"]["audience"] == "staff"


async def test_an_admin_gives_a_kind_the_workspaces_wording_and_takes_it_back(
    admin_client: ApiClient,
) -> None:
    saved = await admin_client.put(f"{PATH}/ticket_received", json=OWN)
    assert saved.status_code == 200, saved.text
    assert (saved.json()["customized"], saved.json()["subject"]) == (True, OWN["subject"])
    assert (await admin_client.get(f"{PATH}/ticket_received")).json()["html_body"] == OWN["html_body"]

    changed = await admin_client.put(f"{PATH}/ticket_received", json={**OWN, "subject": "Received"})
    assert changed.json()["subject"] == "Received"

    assert (await admin_client.delete(f"{PATH}/ticket_received")).status_code == 204
    back = (await admin_client.get(f"{PATH}/ticket_received")).json()
    assert (back["customized"], back["subject"]) == (
        False,
        templates.DEFAULTS[EmailKind.ticket_received].subject,
    )
    again = await admin_client.delete(f"{PATH}/ticket_received")
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("field", "source", "reason"),
    [
        pytest.param(
            "subject", "{{ comment.content }}", "unknown-placeholder", id="subject-unknown-placeholder"
        ),
        pytest.param("text_body", "Hi {{ customer.name ", "template-syntax", id="text-does-not-parse"),
        pytest.param(
            "html_body", "{% for x in ticket %}{% endfor %}", "unsupported-template", id="html-loop"
        ),
    ],
)
async def test_a_wording_the_kind_does_not_allow_is_refused_and_not_saved(
    admin_client: ApiClient, field: str, source: str, reason: str
) -> None:
    response = await admin_client.put(f"{PATH}/ticket_received", json={**OWN, field: source})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert (error["field"], error["type"]) == (field, reason)
    assert (await admin_client.get(f"{PATH}/ticket_received")).json()["customized"] is False


async def test_a_preview_renders_sample_values_escaped_in_the_layout(admin_client: ApiClient) -> None:
    wording = {**OWN, "html_body": "<p>{{ ticket.title }}</p>"}
    response = await admin_client.post(f"{PATH}/ticket_received/preview", json=wording)
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["subject"] == "Got it: Cannot export my invoices"
    assert preview["text"] == "Hi Maria Lopez, we are on it."
    assert "<p>Cannot export my invoices</p>" in preview["html"]
    assert preview["html"].startswith("<!DOCTYPE html>")

    in_use = (await admin_client.post(f"{PATH}/agent_reply/preview")).json()
    assert "The export works again." in in_use["text"]


async def test_an_unknown_kind_is_not_found(admin_client: ApiClient) -> None:
    assert (await admin_client.get(f"{PATH}/newsletter")).status_code == 422


@pytest.mark.parametrize("role", [Role.senior_agent, Role.agent, Role.viewer], ids=str)
async def test_only_admins_read_or_change_the_wording(
    role: Role, user_factory: UserFactory, client_factory: ClientFactory
) -> None:
    client = await client_factory(await user_factory(role=role))
    assert (await client.put(f"{PATH}/ticket_received", json=OWN)).status_code == 403
    assert (await client.get(PATH)).status_code == 403


async def test_another_workspaces_wording_is_its_own(
    admin_client: ApiClient, other_admin_client: ApiClient
) -> None:
    assert (await other_admin_client.put(f"{PATH}/ticket_received", json=OWN)).status_code == 200

    ours = (await admin_client.get(f"{PATH}/ticket_received")).json()
    assert ours["customized"] is False
    assert (await admin_client.delete(f"{PATH}/ticket_received")).status_code == 404
    assert (await other_admin_client.get(f"{PATH}/ticket_received")).json()["customized"] is True
