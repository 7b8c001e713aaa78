"""``supportdesk users create`` and ``supportdesk tokens create``: the first admin, and API tokens."""

from __future__ import annotations

import pytest

from .conftest import Cli, single_error_line

PASSWORD = "a-long-password"


async def test_creating_the_first_admin_creates_the_workspace(cli: Cli) -> None:
    result = await cli.run(
        "users", "create", "ada@Example.com", "--role", "admin", "--workspace", "acme", "--password", PASSWORD
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "created admin ada@example.com (id 1) in workspace acme"
    async with cli.api() as api:
        login = await api.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
        assert login.status_code == 200, login.text
        me = (await api.get("/api/v1/me")).json()
        workspace = (await api.get("/api/v1/workspace")).json()
    assert (me["role"], me["name"], me["workspace_slug"]) == ("admin", "ada", "acme")
    assert workspace["name"] == "Acme"


async def test_a_second_user_joins_the_existing_workspace(cli: Cli) -> None:
    await cli.run("users", "create", "ada@example.com", "--role", "admin", "--workspace", "acme")

    result = await cli.run(
        "users",
        "create",
        "sam@example.com",
        "--name",
        "Sam Senior",
        "--role",
        "senior_agent",
        "--workspace",
        "acme",
    )

    assert result.exit_code == 0, result.output
    assert "in workspace acme" in result.stdout
    token = (await cli.run("tokens", "create", "ada@example.com", "--workspace", "acme")).stdout.strip()
    async with cli.api(token) as api:
        staff = (await api.get("/api/v1/admin/users")).json()
    assert {(user["name"], user["role"]) for user in staff} == {
        ("ada", "admin"),
        ("Sam Senior", "senior_agent"),
    }


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        pytest.param("not-an-email", "missing-at", id="missing-at"),
        pytest.param("ada@home@example.com", "multiple-at", id="multiple-at"),
    ],
)
async def test_an_invalid_email_prints_one_error_line(cli: Cli, email: str, reason: str) -> None:
    result = await cli.run("users", "create", email, "--role", "admin")

    assert result.exit_code != 0
    line = single_error_line(result)
    assert email in line
    assert reason in line
    assert not cli.database_path.exists()  # refused before touching the database


async def test_a_short_password_is_refused(cli: Cli) -> None:
    result = await cli.run("users", "create", "ada@example.com", "--password", "short")

    assert result.exit_code != 0
    assert "10 characters" in single_error_line(result)


async def test_a_duplicate_user_exits_non_zero_with_one_clear_line(cli: Cli) -> None:
    first = await cli.run("users", "create", "ada@example.com", "--role", "admin")

    second = await cli.run("users", "create", "ada@example.com", "--role", "agent")

    assert first.exit_code == 0, first.output
    assert second.exit_code != 0
    line = single_error_line(second)
    assert "ada@example.com" in line
    assert "already" in line
    assert "Traceback" not in second.output


async def test_a_token_from_the_command_authenticates_against_the_api(cli: Cli) -> None:
    await cli.run("users", "create", "ada@example.com", "--role", "admin", "--workspace", "acme")

    result = await cli.run("tokens", "create", "ada@example.com", "--workspace", "acme", "--name", "deploy")

    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("sdk_")
    assert "\n" not in token
    async with cli.api(token) as api:
        me = await api.get("/api/v1/me")
        tokens = await api.get("/api/v1/me/tokens")
    assert me.status_code == 200, me.text
    assert (me.json()["email"], me.json()["workspace_slug"]) == ("ada@example.com", "acme")
    assert [entry["name"] for entry in tokens.json()] == ["deploy"]


async def test_an_expiring_token_from_the_command_has_its_expiry(cli: Cli) -> None:
    await cli.run("users", "create", "ada@example.com", "--workspace", "acme")

    result = await cli.run(
        "tokens", "create", "ada@example.com", "--workspace", "acme", "--expires-in-days", "7"
    )

    assert result.exit_code == 0, result.output
    async with cli.api(result.stdout.strip()) as api:
        listed = (await api.get("/api/v1/me/tokens")).json()
    assert listed[0]["expires_at"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("nobody@example.com", "--workspace", "acme"), "no staff user", id="unknown-user"),
        pytest.param(("ada@example.com", "--workspace", "globex"), "no workspace", id="unknown-workspace"),
        pytest.param(("not-an-email", "--workspace", "acme"), "invalid e-mail", id="invalid-email"),
    ],
)
async def test_a_token_for_nobody_is_refused(cli: Cli, args: tuple[str, ...], message: str) -> None:
    await cli.run("users", "create", "ada@example.com", "--workspace", "acme")

    result = await cli.run("tokens", "create", *args)

    assert result.exit_code != 0
    assert message in result.stderr
    assert result.stdout == ""
