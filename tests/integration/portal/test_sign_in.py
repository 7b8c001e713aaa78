"""Signing in by e-mailed link: the link goes out through the outbox, is stored only as a hash, works
once and for 15 minutes, needs a click on the server's own page, and the answer to a request for one is
the same whether or not the address is a customer's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.portal.models import PortalSession, PortalSignIn
from supportdesk.workspaces.models import Workspace
from tests.factories.people import CustomerFactory
from tests.integration.portal.conftest import PORTAL, PortalBrowser, emails, link_in, token_for


async def _ask_for_link(browser: PortalBrowser, email: str) -> str:
    answer = await browser.fill(f"{PORTAL}/sign-in", f"{PORTAL}/sign-in", {"email": email})
    assert answer.status_code == 200, answer.text
    return answer.text


async def _use(browser: PortalBrowser, link: str) -> int:
    page = await browser.get(link)
    if page.status_code != 200:
        return page.status_code
    return (await browser.post(link, data={"csrf_token": token_for(page.text, link)})).status_code


async def test_a_customer_gets_a_link_by_mail_and_signs_in_with_it(
    visitor: PortalBrowser, database: Database, workspace: Workspace, customer_factory: CustomerFactory
) -> None:
    customer = await customer_factory(email="maria@example.com", name="Maria Lopez")

    await _ask_for_link(visitor, "Maria@Example.com")

    [mail] = await emails(database, "portal_sign_in")
    link = link_in(mail)
    secret = link.rsplit("/", 1)[1]
    assert mail["to"] == "maria@example.com"
    assert "Hello Maria Lopez" in mail["text"]
    assert "15 minutes" in mail["text"]
    assert f'href="http://testserver{link}"' in mail["html"]
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, workspace.id)
        [(customer_id, token_hash)] = (
            await session.execute(select(PortalSignIn.customer_id, PortalSignIn.token_hash))
        ).all()
    assert customer_id == customer.id
    assert secret not in token_hash
    assert len(token_hash) == 64

    # Opening the link only shows a button: a mail scanner that follows it spends nothing.
    shown = await visitor.get(link)
    assert shown.status_code == 200
    assert "Sign in to Acme Support" in shown.text
    assert (await visitor.get(link)).status_code == 200

    signed_in = await visitor.post(link, data={"csrf_token": token_for(shown.text, link)})

    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == f"{PORTAL}/tickets"
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith("supportdesk_portal=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert f"Path={PORTAL}" in cookie
    assert "Secure" not in cookie  # the test settings do not ask for secure cookies
    mine = await visitor.get(f"{PORTAL}/tickets")
    assert mine.status_code == 200
    assert "My requests" in mine.text


async def test_a_link_works_once(
    visitor: PortalBrowser, database: Database, customer_factory: CustomerFactory
) -> None:
    await customer_factory(email="maria@example.com")
    await _ask_for_link(visitor, "maria@example.com")
    link = link_in((await emails(database, "portal_sign_in"))[0])
    assert await _use(visitor, link) == 303

    again = await visitor.get(link)

    assert again.status_code == 410
    assert "used already" in again.text


async def test_signing_in_retires_the_customers_other_links(
    visitor: PortalBrowser, database: Database, customer_factory: CustomerFactory
) -> None:
    await customer_factory(email="maria@example.com")
    await _ask_for_link(visitor, "maria@example.com")
    await _ask_for_link(visitor, "maria@example.com")
    first, second = (link_in(mail) for mail in await emails(database, "portal_sign_in"))

    assert await _use(visitor, second) == 303

    assert (await visitor.get(first)).status_code == 410


@pytest.mark.parametrize(
    ("minutes", "usable"),
    [pytest.param(14, True, id="within-15-minutes"), pytest.param(15, False, id="after-15-minutes")],
)
async def test_a_link_expires_after_15_minutes(
    visitor: PortalBrowser,
    database: Database,
    clock: FrozenClock,
    customer_factory: CustomerFactory,
    minutes: int,
    usable: bool,
) -> None:
    await customer_factory(email="maria@example.com")
    await _ask_for_link(visitor, "maria@example.com")
    link = link_in((await emails(database, "portal_sign_in"))[0])

    clock.advance(timedelta(minutes=minutes))

    assert await _use(visitor, link) == (303 if usable else 410)
    if not usable:
        assert "expired" in (await visitor.get(link)).text


async def test_a_link_that_expires_while_its_page_is_open_is_refused(
    visitor: PortalBrowser, database: Database, clock: FrozenClock, customer_factory: CustomerFactory
) -> None:
    await customer_factory(email="maria@example.com")
    await _ask_for_link(visitor, "maria@example.com")
    link = link_in((await emails(database, "portal_sign_in"))[0])
    page = await visitor.get(link)
    clock.advance(timedelta(minutes=16))

    refused = await visitor.post(link, data={"csrf_token": token_for(page.text, link)})

    assert refused.status_code == 410
    assert "supportdesk_portal=" not in refused.headers.get("set-cookie", "")


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    visitor: PortalBrowser, database: Database, customer_factory: CustomerFactory
) -> None:
    await customer_factory(email="known@example.com")

    known = await _ask_for_link(visitor, "known@example.com")
    unknown = await _ask_for_link(visitor, "unknown@example.com")

    assert known.replace("known@example.com", "ADDRESS") == unknown.replace("unknown@example.com", "ADDRESS")
    assert [mail["to"] for mail in await emails(database)] == ["known@example.com"]


@pytest.mark.parametrize(
    "link",
    [
        pytest.param(f"{PORTAL}/sign-in/{'a' * 43}", id="made-up"),
        pytest.param(f"{PORTAL}/sign-in/short", id="malformed"),
    ],
)
async def test_a_link_nobody_made_signs_nobody_in(visitor: PortalBrowser, link: str) -> None:
    page = await visitor.get(link)

    assert page.status_code == 404
    assert "not valid" in page.text


async def test_five_links_an_hour_per_address_whether_known_or_not(
    visitor: PortalBrowser, database: Database, customer_factory: CustomerFactory
) -> None:
    await customer_factory(email="known@example.com")
    for email in ("known@example.com", "unknown@example.com"):
        for _ in range(5):
            await _ask_for_link(visitor, email)

        refused = await visitor.fill(f"{PORTAL}/sign-in", f"{PORTAL}/sign-in", {"email": email.upper()})

        assert refused.status_code == 429
        assert "Too many sign-in links" in refused.text
        assert int(refused.headers["retry-after"]) > 0
    assert len(await emails(database, "portal_sign_in")) == 5


async def test_a_request_for_a_link_needs_its_token(visitor: PortalBrowser, database: Database) -> None:
    await visitor.get(f"{PORTAL}/sign-in")

    refused = await visitor.post(f"{PORTAL}/sign-in", data={"email": "maria@example.com"})

    assert refused.status_code == 403
    assert await emails(database) == []


async def test_signing_out_ends_the_session(
    visitor: PortalBrowser, database: Database, workspace: Workspace, customer_factory: CustomerFactory
) -> None:
    await customer_factory(email="maria@example.com")
    await _ask_for_link(visitor, "maria@example.com")
    assert await _use(visitor, link_in((await emails(database, "portal_sign_in"))[0])) == 303
    mine = await visitor.get(f"{PORTAL}/tickets")

    out = await visitor.post(
        f"{PORTAL}/sign-out", data={"csrf_token": token_for(mine.text, f"{PORTAL}/sign-out")}
    )

    assert out.status_code == 303
    assert (await visitor.get(f"{PORTAL}/tickets")).status_code == 303
    async with database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, workspace.id)
        assert list((await session.execute(select(PortalSession))).scalars()) == []


async def test_a_session_ends_with_its_lifetime(
    visitor: PortalBrowser, database: Database, clock: FrozenClock, customer_factory: CustomerFactory
) -> None:
    await customer_factory(email="maria@example.com")
    await _ask_for_link(visitor, "maria@example.com")
    assert await _use(visitor, link_in((await emails(database, "portal_sign_in"))[0])) == 303

    clock.advance(timedelta(hours=12))

    gone = await visitor.get(f"{PORTAL}/tickets")
    assert gone.status_code == 303
    assert gone.headers["location"] == f"{PORTAL}/sign-in"
