"""Signing in and out of the workspace: the API's session cookie, CSRF tokens on both forms, the
login throttle, and the headers every page carries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from supportdesk.auth.dependencies import SESSION_COOKIE
from supportdesk.core.permissions import Role
from tests.factories.people import UserFactory
from tests.factories.workspaces import WorkspaceFactory
from tests.integration.web.conftest import PASSWORD, PageClient, anonymous_browser, csrf_token_in

LOGIN = "/app/login"


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A browser nobody has signed in with yet."""
    client = anonymous_browser(app)
    yield client
    await client.aclose()


async def _login_form(browser: httpx.AsyncClient) -> str:
    page = await browser.get(LOGIN)
    assert page.status_code == 200
    return csrf_token_in(page.text)


async def _sign_in(browser: httpx.AsyncClient, **fields: str) -> httpx.Response:
    token = await _login_form(browser)
    return await browser.post(LOGIN, data={"csrf_token": token, "next": "/app", **fields})


def _cookie_attributes(header: str) -> dict[str, str]:
    return {part.strip().split("=")[0].lower(): part.strip() for part in header.split(";")}


async def test_the_front_page_leads_to_the_workspace_and_on_to_sign_in(browser: httpx.AsyncClient) -> None:
    front = await browser.get("/")
    assert (front.status_code, front.headers["location"]) == (307, "/app")
    workspace = await browser.get("/app")
    assert (workspace.status_code, workspace.headers["location"]) == (303, LOGIN)
    ticket = await browser.get("/app/tickets/12?saved=reply")
    assert ticket.status_code == 303
    assert ticket.headers["location"] == f"{LOGIN}?next=%2Fapp%2Ftickets%2F12%3Fsaved%3Dreply"


async def test_pages_carry_a_strict_content_security_policy_and_the_api_does_not(
    browser: httpx.AsyncClient,
) -> None:
    page = await browser.get(LOGIN)
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    style = await browser.get("/app/static/app.css")
    assert style.status_code == 200
    assert "frame-ancestors 'none'" in style.headers["content-security-policy"]
    api = await browser.get("/api/v1/me")
    assert "content-security-policy" not in api.headers
    assert api.headers["x-content-type-options"] == "nosniff"


async def test_static_files_are_addressed_by_their_content(browser: httpx.AsyncClient) -> None:
    page = await browser.get(LOGIN)
    assert 'href="/app/static/app.css?v=' in page.text
    assert 'src="/app/static/app.js?v=' in page.text
    assert "<script>" not in page.text
    assert "style=" not in page.text


async def test_an_agent_signs_in_with_the_apis_session_cookie(
    browser: httpx.AsyncClient, user_factory: UserFactory
) -> None:
    user = await user_factory(role=Role.agent, password=PASSWORD)

    response = await _sign_in(browser, email=user.email, password=PASSWORD)

    assert (response.status_code, response.headers["location"]) == (303, "/app")
    session_cookie = next(
        header
        for header in response.headers.get_list("set-cookie")
        if header.startswith(f"{SESSION_COOKIE}=")
    )
    attributes = _cookie_attributes(session_cookie)
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=strict"
    assert attributes["path"] == "Path=/"
    assert attributes["max-age"] == f"Max-Age={12 * 3600}"
    assert "secure" not in attributes  # plain HTTP outside production
    me = await browser.get("/api/v1/me")
    assert me.json()["id"] == user.id
    workspace = await browser.get("/app")
    assert workspace.status_code == 200
    assert user.name in workspace.text
    again = await browser.get(f"{LOGIN}?next=/app/tickets/1")
    assert (again.status_code, again.headers["location"]) == (303, "/app/tickets/1")


async def test_an_ended_session_shows_the_sign_in_form(browser: httpx.AsyncClient) -> None:
    browser.cookies.set(SESSION_COOKIE, "sdk_not-a-session-any-more")

    page = await browser.get(LOGIN)

    assert page.status_code == 200
    assert "Sign in to supportdesk" in page.text


async def test_a_wrong_password_is_said_plainly_and_the_address_is_kept(
    browser: httpx.AsyncClient, user_factory: UserFactory
) -> None:
    user = await user_factory(role=Role.agent, password=PASSWORD)

    response = await _sign_in(browser, email=user.email, password="not-the-password")

    assert response.status_code == 401
    assert "The e-mail address or password is wrong." in response.text
    assert f'value="{user.email}"' in response.text
    assert "not-the-password" not in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


async def test_a_malformed_address_is_marked_beside_its_field_and_kept(browser: httpx.AsyncClient) -> None:
    response = await _sign_in(browser, email="ada@", password="")

    assert response.status_code == 422
    assert 'id="email-error"' in response.text
    assert 'id="password-error"' in response.text
    assert 'value="ada@"' in response.text


async def test_a_login_form_without_its_token_is_refused(
    browser: httpx.AsyncClient, user_factory: UserFactory
) -> None:
    user = await user_factory(role=Role.agent, password=PASSWORD)
    await _login_form(browser)

    forged = await browser.post(
        LOGIN, data={"email": user.email, "password": PASSWORD, "csrf_token": "x" * 43}
    )
    missing = await browser.post(LOGIN, data={"email": user.email, "password": PASSWORD})

    for response in (forged, missing):
        assert response.status_code == 403
        assert "sign-in form had expired" in response.text
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


async def test_sign_in_is_throttled_as_the_api_is(
    browser: httpx.AsyncClient, user_factory: UserFactory
) -> None:
    user = await user_factory(role=Role.agent, password=PASSWORD)
    for _ in range(5):
        refused = await _sign_in(browser, email=user.email, password="not-the-password")
        assert refused.status_code == 401

    blocked = await _sign_in(browser, email=user.email, password=PASSWORD)

    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert "Too many sign-in attempts" in blocked.text
    assert f'value="{user.email}"' in blocked.text


async def test_an_address_in_two_workspaces_is_asked_for_its_workspace(
    browser: httpx.AsyncClient, user_factory: UserFactory, workspace_factory: WorkspaceFactory
) -> None:
    elsewhere = await workspace_factory(slug="initech")
    user = await user_factory(role=Role.agent, password=PASSWORD, email="pat@example.com")
    await user_factory(role=Role.agent, password=PASSWORD, email="pat@example.com", workspace=elsewhere)

    asked = await _sign_in(browser, email=user.email, password=PASSWORD)
    assert asked.status_code == 422
    assert 'id="workspace"' in asked.text

    signed_in = await _sign_in(browser, email=user.email, password=PASSWORD, workspace="initech")
    assert signed_in.status_code == 303
    assert (await browser.get("/api/v1/me")).json()["workspace_id"] == elsewhere.id


# Where a sign-in form may be told to lead, and where it does lead.
NEXT_PAGES = {
    "https://elsewhere.example.com/app": "/app",  # another site
    "//elsewhere.example.com/app": "/app",  # another site, without a scheme
    "/app\\@elsewhere.example.com": "/app",  # a backslash some browsers read as a slash
    "/api/v1/me": "/app",  # not a page
    "/application": "/app",  # a look-alike path
    "/app/tickets/7?saved=reply": "/app/tickets/7?saved=reply",  # a page of the workspace
}


async def test_sign_in_never_leads_off_the_workspace(
    browser: httpx.AsyncClient, user_factory: UserFactory
) -> None:
    user = await user_factory(role=Role.agent, password=PASSWORD)
    led = {}
    for target in NEXT_PAGES:
        token = await _login_form(browser)
        response = await browser.post(
            LOGIN, data={"csrf_token": token, "email": user.email, "password": PASSWORD, "next": target}
        )
        assert response.status_code == 303
        led[target] = response.headers["location"]
        browser.cookies.clear()

    assert led == NEXT_PAGES


async def test_signing_out_ends_the_session_and_needs_the_forms_token(
    agent_browser: PageClient, app: FastAPI
) -> None:
    page = await agent_browser.get("/app")
    assert csrf_token_in(page.text) == agent_browser.csrf_token

    refused = await agent_browser.post("/app/logout", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert (await agent_browser.get("/api/v1/me")).status_code == 200

    response = await agent_browser.submit("/app/logout", {})
    assert (response.status_code, response.headers["location"]) == (303, f"{LOGIN}?signed_out=1")
    assert response.headers["set-cookie"].startswith(f'{SESSION_COOKIE}="";')
    assert (await agent_browser.get("/api/v1/me")).status_code == 401
    assert (await agent_browser.get("/app")).headers["location"] == LOGIN
    async with anonymous_browser(app) as browser:
        signed_out = await browser.get(f"{LOGIN}?signed_out=1")
    assert "You are signed out." in signed_out.text
