"""The mail-in admin pages: admins add, change and delete mailboxes through the mailbox service's rules
and see the hook's URL once when it is made or replaced; secrets are never shown back; a quarantined
e-mail is processed again. Nobody else may, and another workspace's are not found."""

from __future__ import annotations

import re
from typing import Any

import pytest

from supportdesk.channels.email.models import InboundMessage, InboundSource, InboundState
from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.workspaces.models import Workspace
from tests.fixtures.app import ApiClient
from tests.integration.web.conftest import PageClient, PageClientFactory

pytestmark = pytest.mark.integration

_HOOK = re.compile(r"/api/v1/mail/inbound/[A-Za-z0-9_-]+")


@pytest.fixture
async def admin_browser(page_client_factory: PageClientFactory) -> PageClient:
    """An admin of the test's workspace, signed in."""
    return await page_client_factory(role=Role.admin)


async def _mailboxes(client: ApiClient) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/admin/mailboxes")
    assert response.status_code == 200, response.text
    return list(response.json())


async def _add(client: ApiClient, address: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/admin/mailboxes", json={"address": address, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _form(**fields: str) -> dict[str, str]:
    return {"address": "help@acme.example.com", "name": "Help", "is_active": "on", **fields}


async def _quarantined(database: Database, clock: FrozenClock, workspace: Workspace) -> int:
    """An e-mail that could not be processed, kept in the workspace."""
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        message = InboundMessage(
            workspace_id=workspace.id,
            source=InboundSource.smtp,
            raw_sha256="0" * 64,
            raw_size=5,
            received_at=clock.now(),
            state=InboundState.quarantined,
            subject="Unreadable order",
            last_error="The message could not be parsed",
        )
        session.add(message)
        await session.flush()
        return message.id


async def test_an_admin_adds_a_mailbox_and_sees_its_hook_only_once(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    added = await admin_browser.submit(
        "/app/admin/mailboxes",
        _form(hook_signing_key="mailgun-key-123", imap_host="imap.example.com", imap_password="pw-secret-9"),
    )

    assert added.status_code == 201
    hook = _HOOK.search(added.text)
    [stored] = await _mailboxes(admin_client)
    assert hook is not None
    assert hook.group(0) == stored["hook_path"]
    assert (stored["address"], stored["name"], stored["imap_host"]) == (
        "help@acme.example.com",
        "Help",
        "imap.example.com",
    )
    assert (stored["has_hook_signing_key"], stored["has_imap_password"]) == (True, True)
    listing = await admin_browser.get("/app/admin/mailboxes")
    page = await admin_browser.get(f"/app/admin/mailboxes/{stored['id']}")
    assert "help@acme.example.com" in listing.text
    assert 'href="/app/admin/mailboxes" aria-current="page"' in listing.text
    assert "A signing key is set" in page.text
    assert "A password is set" in page.text
    for shown in (added, listing, page):
        assert "mailgun-key-123" not in shown.text
        assert "pw-secret-9" not in shown.text
    assert _HOOK.search(listing.text) is None
    assert _HOOK.search(page.text) is None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        pytest.param({"address": "not-an-address"}, "address", "Enter an e-mail address", id="bad-address"),
        pytest.param({"imap_port": "99999"}, "imap_port", "Enter a port", id="port-out-of-range"),
        pytest.param({"imap_port": "imaps"}, "imap_port", "Enter a port", id="port-not-a-number"),
        pytest.param({"hook_signing_key": "short"}, "hook_signing_key", "8 to 200", id="short-signing-key"),
        pytest.param({"default_category": "astrology"}, "default_category", "", id="unknown-category"),
    ],
)
async def test_a_refused_mailbox_is_explained_beside_the_field_and_kept_without_secrets(
    admin_browser: PageClient, admin_client: ApiClient, fields: dict[str, str], field: str, message: str
) -> None:
    response = await admin_browser.submit(
        "/app/admin/mailboxes", _form(imap_password="pw-secret-9", **fields)
    )

    assert response.status_code == 422
    assert f'id="mailbox-{field}-error"' in response.text
    assert message in response.text
    assert 'value="Help"' in response.text
    assert "pw-secret-9" not in response.text
    assert await _mailboxes(admin_client) == []


async def test_an_address_taken_on_the_server_is_refused_beside_it(
    admin_browser: PageClient, other_admin_client: ApiClient, admin_client: ApiClient
) -> None:
    await _add(other_admin_client, "help@acme.example.com")

    response = await admin_browser.submit("/app/admin/mailboxes", _form())

    assert response.status_code == 409
    assert 'id="mailbox-address-error"' in response.text
    assert await _mailboxes(admin_client) == []


async def test_an_admin_changes_a_mailbox_and_an_empty_secret_is_kept(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    mailbox = await _add(
        admin_client, "help@acme.example.com", imap_host="imap.example.com", imap_password="pw"
    )

    changed = await admin_browser.submit(
        f"/app/admin/mailboxes/{mailbox['id']}",
        _form(name="Front desk", default_priority="high", imap_host="", imap_password=""),
    )

    assert changed.status_code == 303
    assert changed.headers["location"] == f"/app/admin/mailboxes/{mailbox['id']}?saved=changed"
    [stored] = await _mailboxes(admin_client)
    assert (stored["name"], stored["default_priority"], stored["imap_host"]) == ("Front desk", "high", None)
    assert stored["has_imap_password"] is True


async def test_a_new_hook_url_is_shown_once_and_the_old_one_stops(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    mailbox = await _add(admin_client, "help@acme.example.com")

    rotated = await admin_browser.submit(f"/app/admin/mailboxes/{mailbox['id']}/rotate-hook-token", {})
    later = await admin_browser.get(f"/app/admin/mailboxes/{mailbox['id']}")

    [stored] = await _mailboxes(admin_client)
    assert rotated.status_code == 200
    assert stored["hook_path"] != mailbox["hook_path"]
    assert stored["hook_path"] in rotated.text
    assert mailbox["hook_path"] not in rotated.text
    assert stored["hook_path"] not in later.text


async def test_an_admin_deletes_a_mailbox(admin_browser: PageClient, admin_client: ApiClient) -> None:
    mailbox = await _add(admin_client, "help@acme.example.com")

    deleted = await admin_browser.submit(f"/app/admin/mailboxes/{mailbox['id']}/delete", {})

    assert deleted.headers["location"] == "/app/admin/mailboxes?saved=deleted"
    assert await _mailboxes(admin_client) == []


async def test_a_quarantined_email_is_listed_and_processed_again_once(
    admin_browser: PageClient,
    admin_client: ApiClient,
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
) -> None:
    message_id = await _quarantined(database, clock, workspace)

    listing = await admin_browser.get("/app/admin/inbound")
    again = await admin_browser.submit(f"/app/admin/inbound/{message_id}/reprocess", {})
    twice = await admin_browser.submit(f"/app/admin/inbound/{message_id}/reprocess", {})

    assert "Unreadable order" in listing.text
    assert "The message could not be parsed" in listing.text
    assert again.headers["location"] == "/app/admin/inbound?saved=reprocessed"
    assert twice.status_code == 409
    assert 'id="inbound-problem"' in twice.text
    stored = (await admin_client.get("/api/v1/admin/inbound-messages?state=received")).json()
    assert [item["id"] for item in stored] == [message_id]


@pytest.mark.parametrize("role", [Role.agent, Role.senior_agent, Role.viewer], ids=lambda role: role.value)
async def test_only_admins_may_use_the_mail_in_pages(
    page_client_factory: PageClientFactory,
    admin_client: ApiClient,
    database: Database,
    clock: FrozenClock,
    workspace: Workspace,
    role: Role,
) -> None:
    browser = await page_client_factory(role=role)
    mailbox = await _add(admin_client, "help@acme.example.com")
    message_id = await _quarantined(database, clock, workspace)
    path = f"/app/admin/mailboxes/{mailbox['id']}"

    answers = [
        await browser.get("/app/admin/mailboxes"),
        await browser.get(path),
        await browser.submit("/app/admin/mailboxes", _form(address="other@acme.example.com")),
        await browser.submit(path, _form(name="Taken over")),
        await browser.submit(f"{path}/rotate-hook-token", {}),
        await browser.submit(f"{path}/delete", {}),
        await browser.get("/app/admin/inbound"),
        await browser.submit(f"/app/admin/inbound/{message_id}/reprocess", {}),
    ]

    assert [answer.status_code for answer in answers] == [403] * 8
    assert mailbox["hook_path"] not in "".join(answer.text for answer in answers)
    assert await _mailboxes(admin_client) == [mailbox]


async def test_another_workspaces_mailboxes_and_emails_are_not_found(
    admin_browser: PageClient,
    other_admin_client: ApiClient,
    database: Database,
    clock: FrozenClock,
    other_workspace: Workspace,
) -> None:
    theirs = await _add(other_admin_client, "help@globex.example.com")
    their_message = await _quarantined(database, clock, other_workspace)
    path = f"/app/admin/mailboxes/{theirs['id']}"

    answers = [
        await admin_browser.get(path),
        await admin_browser.submit(path, _form(address="help@globex.example.com")),
        await admin_browser.submit(f"{path}/rotate-hook-token", {}),
        await admin_browser.submit(f"{path}/delete", {}),
        await admin_browser.submit(f"/app/admin/inbound/{their_message}/reprocess", {}),
        await admin_browser.get("/app/admin/mailboxes/9007199254740993"),
    ]
    listing = await admin_browser.get("/app/admin/mailboxes")
    inbound = await admin_browser.get("/app/admin/inbound")

    assert [answer.status_code for answer in answers] == [404] * 6
    assert "help@globex.example.com" not in listing.text
    assert "Unreadable order" not in inbound.text
    assert await _mailboxes(other_admin_client) == [theirs]


async def test_mailbox_forms_without_their_token_change_nothing(
    admin_browser: PageClient, admin_client: ApiClient
) -> None:
    mailbox = await _add(admin_client, "help@acme.example.com")

    answers = [
        await admin_browser.post("/app/admin/mailboxes", data={"csrf_token": "forged", **_form()}),
        await admin_browser.post(f"/app/admin/mailboxes/{mailbox['id']}/rotate-hook-token", data={}),
        await admin_browser.post(f"/app/admin/mailboxes/{mailbox['id']}/delete", data={"csrf_token": "x"}),
    ]

    assert [answer.status_code for answer in answers] == [403, 403, 403]
    assert await _mailboxes(admin_client) == [mailbox]
