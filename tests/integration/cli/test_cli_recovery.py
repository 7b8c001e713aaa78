"""Getting access back without a database shell: ``users list|set-password|deactivate|activate|set-role``,
``tokens list|revoke`` and ``workspaces list``, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from supportdesk.audit.models import ActorType, AuditEvent
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from tests.fixtures.database import make_settings

from .conftest import Cli, single_error_line

PASSWORD = "a-long-password"
NEW_PASSWORD = "another-long-password"


async def _staff(cli: Cli) -> None:
    """An admin and an agent in acme, and an agent in globex who shares the admin's address."""
    for args in (
        ("ada@example.com", "--role", "admin", "--workspace", "acme", "--password", PASSWORD),
        ("sam@example.com", "--name", "Sam", "--workspace", "acme"),
        ("ada@example.com", "--workspace", "globex"),
    ):
        result = await cli.run("users", "create", *args)
        assert result.exit_code == 0, result.output


async def _token(cli: Cli, email: str, workspace: str = "acme", name: str = "cli") -> str:
    result = await cli.run("tokens", "create", email, "--workspace", workspace, "--name", name)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


async def _status(cli: Cli, token: str) -> int:
    async with cli.api(token) as api:
        return (await api.get("/api/v1/me")).status_code


async def _login(cli: Cli, password: str) -> int:
    async with cli.api() as api:
        body = {"email": "ada@example.com", "password": password, "workspace": "acme"}
        return (await api.post("/api/v1/auth/login", json=body)).status_code


async def _events(cli: Cli, object_type: str) -> list[tuple[int, ActorType, str, dict[str, Any]]]:
    """Object id, actor type, action and changes of the audit events about ``object_type``, oldest first."""
    database = Database(create_engine(make_settings(cli.database_url)))
    try:
        async with database.unit_of_work(readonly=True) as session:
            query = (
                select(AuditEvent.object_id, AuditEvent.actor_type, AuditEvent.action, AuditEvent.changes)
                .where(AuditEvent.object_type == object_type)
                .order_by(AuditEvent.id)
            )
            return [(row[0], row[1], str(row[2]), row[3]) for row in await session.execute(query)]
    finally:
        await database.dispose()


async def test_users_list_prints_aligned_columns_and_json(migrated_cli: Cli) -> None:
    await _staff(migrated_cli)

    table = await migrated_cli.run("users", "list")
    as_json = await migrated_cli.run("users", "list", "--workspace", "acme", "--json")

    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines() == [
        "WORKSPACE  ID  EMAIL            NAME  ROLE   ACTIVE",
        "acme       1   ada@example.com  ada   admin  yes",
        "acme       2   sam@example.com  Sam   agent  yes",
        "globex     3   ada@example.com  ada   agent  yes",
    ]
    assert as_json.exit_code == 0, as_json.output
    assert [(user["email"], user["role"], user["active"]) for user in json.loads(as_json.stdout)] == [
        ("ada@example.com", "admin", True),
        ("sam@example.com", "agent", True),
    ]


async def test_users_list_of_an_unknown_workspace_is_one_line(migrated_cli: Cli) -> None:
    result = await migrated_cli.run("users", "list", "--workspace", "nowhere")

    assert result.exit_code == 1
    assert "supportdesk workspaces list" in single_error_line(result)


async def test_an_address_in_several_workspaces_needs_the_workspace(migrated_cli: Cli) -> None:
    await _staff(migrated_cli)

    result = await migrated_cli.run("users", "deactivate", "ada@example.com")

    assert result.exit_code == 1
    line = single_error_line(result)
    assert "several workspaces (acme, globex)" in line
    assert "--workspace" in line


async def test_set_password_asks_twice_and_ends_browser_sessions(migrated_cli: Cli) -> None:
    await _staff(migrated_cli)
    personal = await _token(migrated_cli, "ada@example.com")
    async with migrated_cli.api() as api:
        body = {"email": "ada@example.com", "password": PASSWORD, "workspace": "acme"}
        session_token = (await api.post("/api/v1/auth/login", json=body)).json()["token"]

    result = await migrated_cli.run(
        "users", "set-password", "ada@example.com", "--workspace", "acme", input=f"{NEW_PASSWORD}\n" * 2
    )

    assert result.exit_code == 0, result.output
    assert "set the password of admin ada@example.com (id 1) in workspace acme" in result.stdout
    assert await _login(migrated_cli, NEW_PASSWORD) == 200
    assert await _login(migrated_cli, PASSWORD) == 401
    assert await _status(migrated_cli, session_token) == 401
    assert await _status(migrated_cli, personal) == 200


async def test_set_password_reads_one_line_from_standard_input(migrated_cli: Cli) -> None:
    await _staff(migrated_cli)

    result = await migrated_cli.run(
        "users", "set-password", "sam@example.com", "--password-stdin", input=f"{NEW_PASSWORD}\nignored\n"
    )

    assert result.exit_code == 0, result.output
    async with migrated_cli.api() as api:
        login = await api.post(
            "/api/v1/auth/login", json={"email": "sam@example.com", "password": NEW_PASSWORD}
        )
    assert login.status_code == 200, login.text


async def test_a_password_set_with_spaces_at_its_ends_logs_in_through_the_api(migrated_cli: Cli) -> None:
    # The API once stripped the password of a login while the CLI kept it, locking such a user out.
    await _staff(migrated_cli)
    password = "  spaced-long-password "

    result = await migrated_cli.run(
        "users", "set-password", "sam@example.com", "--password-stdin", input=f"{password}\n"
    )

    assert result.exit_code == 0, result.output
    async with migrated_cli.api() as api:
        login = await api.post("/api/v1/auth/login", json={"email": "sam@example.com", "password": password})
    assert login.status_code == 200, login.text


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        pytest.param("short\n", "at least 10 characters", id="too-short"),
        pytest.param("", "no password on standard input", id="empty"),
    ],
)
async def test_set_password_refuses_a_bad_password(migrated_cli: Cli, stdin: str, message: str) -> None:
    await _staff(migrated_cli)

    result = await migrated_cli.run(
        "users", "set-password", "sam@example.com", "--password-stdin", input=stdin
    )

    assert result.exit_code == 1
    assert message in single_error_line(result)


async def test_deactivate_revokes_every_token_and_activate_lets_the_user_back(migrated_cli: Cli) -> None:
    await _staff(migrated_cli)
    token = await _token(migrated_cli, "sam@example.com")

    deactivated = await migrated_cli.run("users", "deactivate", "sam@example.com")
    refused = await _status(migrated_cli, token)
    again = await migrated_cli.run("users", "deactivate", "sam@example.com")
    no_token = await migrated_cli.run("tokens", "create", "sam@example.com")
    activated = await migrated_cli.run("users", "activate", "sam@example.com")

    assert deactivated.exit_code == 0, deactivated.output
    assert deactivated.stdout.startswith("deactivated")
    assert refused == 401
    assert again.stdout.startswith("already deactivated")
    assert "supportdesk users activate sam@example.com" in single_error_line(no_token)
    assert activated.exit_code == 0, activated.output
    assert await _status(migrated_cli, token) == 401  # revoked tokens stay revoked
    assert await _status(migrated_cli, await _token(migrated_cli, "sam@example.com")) == 200
    assert (await migrated_cli.run("users", "activate", "sam@example.com")).stdout.startswith(
        "already active"
    )


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(("users", "deactivate", "ada@example.com"), id="deactivate"),
        pytest.param(("users", "set-role", "ada@example.com", "agent"), id="set-role"),
    ],
)
async def test_the_last_active_admin_stays(migrated_cli: Cli, command: tuple[str, ...]) -> None:
    await _staff(migrated_cli)

    result = await migrated_cli.run(*command, "--workspace", "acme")

    assert result.exit_code == 1
    line = single_error_line(result)
    assert "at least one active admin" in line
    assert "supportdesk users set-role EMAIL admin" in line


async def test_set_role_changes_the_role_and_is_audited(migrated_cli: Cli) -> None:
    await _staff(migrated_cli)

    promoted = await migrated_cli.run("users", "set-role", "sam@example.com", "admin")
    demoted = await migrated_cli.run("users", "set-role", "ada@example.com", "viewer", "--workspace", "acme")

    assert promoted.exit_code == 0, promoted.output
    assert promoted.stdout.strip() == "now admin sam@example.com (id 2) in workspace acme"
    assert demoted.exit_code == 0, demoted.output
    changes = [
        (object_id, actor, changes["role"])
        for object_id, actor, action, changes in await _events(migrated_cli, "user")
        if "role" in changes and action == "updated"
    ]
    assert changes == [(2, ActorType.system, ["agent", "admin"]), (1, ActorType.system, ["admin", "viewer"])]


async def test_tokens_list_shows_live_tokens_and_revoke_by_id_stops_one(migrated_cli: Cli) -> None:
    await _staff(migrated_cli)
    deploy = await _token(migrated_cli, "sam@example.com", name="deploy")
    backup = await _token(migrated_cli, "sam@example.com", name="backup")

    listed = await migrated_cli.run("tokens", "list", "sam@example.com", "--json")
    rows = json.loads(listed.stdout)
    deploy_id = next(row["id"] for row in rows if row["name"] == "deploy")
    revoked = await migrated_cli.run("tokens", "revoke", str(deploy_id))
    twice = await migrated_cli.run("tokens", "revoke", str(deploy_id))
    table = await migrated_cli.run("tokens", "list", "sam@example.com")

    assert [(row["name"], row["kind"]) for row in rows] == [("backup", "personal"), ("deploy", "personal")]
    assert all(
        row["prefix"] and row["prefix"] in token for row, token in zip(rows, [backup, deploy], strict=True)
    )
    assert revoked.stdout.strip() == f"revoked token {deploy_id} (deploy) of sam@example.com"
    assert "revoked already" in twice.stdout
    assert await _status(migrated_cli, deploy) == 401
    assert await _status(migrated_cli, backup) == 200
    assert table.stdout.splitlines()[0].split() == [
        "ID",
        "KIND",
        "NAME",
        "PREFIX",
        "CREATED_AT",
        "EXPIRES_AT",
    ]
    assert [line.split()[2] for line in table.stdout.splitlines()[1:]] == ["backup"]


async def test_tokens_revoke_all_ends_tokens_and_sessions(migrated_cli: Cli) -> None:
    await _staff(migrated_cli)
    personal = await _token(migrated_cli, "ada@example.com")
    async with migrated_cli.api() as api:
        body = {"email": "ada@example.com", "password": PASSWORD, "workspace": "acme"}
        session_token = (await api.post("/api/v1/auth/login", json=body)).json()["token"]
    other_workspace = await _token(migrated_cli, "ada@example.com", workspace="globex")

    result = await migrated_cli.run("tokens", "revoke", "ada@example.com", "--all", "--workspace", "acme")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "revoked 2 token(s) of ada@example.com"
    assert (await _status(migrated_cli, personal), await _status(migrated_cli, session_token)) == (401, 401)
    assert await _status(migrated_cli, other_workspace) == 200


@pytest.mark.parametrize(
    ("target", "message", "code"),
    [
        pytest.param("ada@example.com", "is not a token id", 2, id="email-without-all"),
        pytest.param("999", "No token with id 999", 1, id="unknown-id"),
    ],
)
async def test_tokens_revoke_refuses_what_is_not_a_token(
    migrated_cli: Cli, target: str, message: str, code: int
) -> None:
    result = await migrated_cli.run("tokens", "revoke", target)

    assert result.exit_code == code
    assert message in single_error_line(result)


async def test_workspaces_list(migrated_cli: Cli) -> None:
    await _staff(migrated_cli)

    table = await migrated_cli.run("workspaces", "list")
    as_json = await migrated_cli.run("workspaces", "list", "--json")

    assert table.exit_code == 0, table.output
    assert [line.split()[:3] for line in table.stdout.splitlines()] == [
        ["ID", "SLUG", "NAME"],
        ["1", "acme", "Acme"],
        ["2", "globex", "Globex"],
    ]
    assert [(ws["slug"], ws["name"]) for ws in json.loads(as_json.stdout)] == [
        ("acme", "Acme"),
        ("globex", "Globex"),
    ]
