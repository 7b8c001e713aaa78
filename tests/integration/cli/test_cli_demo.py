"""``supportdesk demo``: a lived-in workspace to try the product with, never in production."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.database import TEST_SECRET_KEY

from .conftest import Cli, single_error_line

_LOGIN_LINE = re.compile(r"^log in as (\S+) with password (\S+)$", re.MULTILINE)
_TOKEN_LINE = re.compile(r"^admin API token: (sdk_\S+)$", re.MULTILINE)


async def _counts(cli: Cli, token: str) -> tuple[int, int]:
    """How many tickets and customers the demo workspace has, as its admin sees them."""
    async with cli.api(token) as api:
        tickets = (await api.get("/api/v1/tickets", params={"limit": 100})).json()
        customers = (await api.get("/api/v1/customers", params={"limit": 100})).json()
    assert tickets["next_cursor"] is None
    assert customers["next_cursor"] is None
    return len(tickets["items"]), len(customers["items"])


@pytest.mark.slow
async def test_demo_creates_data_and_prints_working_credentials(cli: Cli) -> None:
    result = await cli.run("demo", "--tickets", "30", "--customers", "5")

    assert result.exit_code == 0, result.output
    assert "demo workspace: demo" in result.stdout
    login_line = _LOGIN_LINE.search(result.stdout)
    token_line = _TOKEN_LINE.search(result.stdout)
    assert login_line is not None, result.stdout
    assert token_line is not None, result.stdout
    email, password = login_line.groups()
    token = token_line.group(1)
    assert await _counts(cli, token) == (30, 5)
    async with cli.api() as api:
        login = await api.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        me = (await api.get("/api/v1/me")).json()
        staff = (await api.get("/api/v1/admin/users")).json()
        policies = (await api.get("/api/v1/sla/policies")).json()
        triggers = (await api.get("/api/v1/triggers")).json()
        refund = (await api.post("/api/v1/tickets", json={"title": "Refund please"})).json()
    assert (me["role"], me["workspace_slug"]) == ("admin", "demo")
    assert {user["role"] for user in staff} == {"admin", "senior_agent", "agent", "viewer"}
    assert {policy["name"] for policy in policies} == {"Enterprise", "Premium, office hours"}
    assert [trigger["name"] for trigger in triggers] == ["Refunds go to billing"]
    # A new ticket meets the demo's workflows: the trigger files it, a billing agent takes it.
    assert (refund["category"], refund["tags"], refund["status"]) == ("billing", ["refund"], "assigned")
    assert refund["sla"]["first_response"]["state"] in {"ok", "at_risk"}

    again = await cli.run("demo", "--if-missing", "--tickets", "30", "--customers", "5")

    assert again.exit_code == 0, again.output
    assert "exists" in again.stdout
    assert "left as it is" in again.stdout
    assert _TOKEN_LINE.search(again.stdout) is None
    assert await _counts(cli, token) == (31, 5)  # the demo's 30 and the refund request above


async def test_demo_is_refused_in_production(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTDESK_ENV", "production")
    monkeypatch.setenv("SUPPORTDESK_SECRET_KEY", TEST_SECRET_KEY)

    result = await cli.run("demo", "--tickets", "1", "--customers", "1")

    assert result.exit_code != 0
    assert "SUPPORTDESK_ENV=production" in single_error_line(result)
    assert result.stdout == ""
    assert not cli.database_path.exists()
