"""``supportdesk --version``, ``db upgrade``, ``db current`` and the handling of bad settings."""

from __future__ import annotations

import pytest

from supportdesk import __version__
from supportdesk.db import migrate
from tests.fixtures.database import TEST_SECRET_KEY

from .conftest import Cli, single_error_line


async def test_version(cli: Cli) -> None:
    result = await cli.run("--version")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"supportdesk {__version__}"
    assert not cli.database_path.exists()  # asking for the version touches no database


async def test_upgrade_then_current_says_up_to_date(cli: Cli) -> None:
    head = migrate.head_revision()
    assert head is not None

    upgraded = await cli.run("db", "upgrade")
    current = await cli.run("db", "current")

    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.stdout.strip() == f"database at revision {head}"
    assert current.exit_code == 0, current.output
    assert current.stdout.strip() == f"{head} (up to date)"


async def test_upgrading_twice_is_harmless(cli: Cli) -> None:
    await cli.run("db", "upgrade")

    again = await cli.run("db", "upgrade")

    assert again.exit_code == 0, again.output
    assert (await cli.run("db", "current")).exit_code == 0


@pytest.mark.parametrize("exists", [True, False], ids=["empty-file", "no-file"])
async def test_current_on_an_unmigrated_database_exits_1(cli: Cli, exists: bool) -> None:
    if exists:
        cli.database_path.touch()

    result = await cli.run("db", "current")

    assert result.exit_code == 1
    assert result.stdout.startswith("not migrated")
    assert f"newest is {migrate.head_revision()}" in result.stdout


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(("db", "current"), id="db-current"),
        pytest.param(("db", "upgrade"), id="db-upgrade"),
        pytest.param(("users", "create", "ada@example.com"), id="users-create"),
        pytest.param(("demo", "--tickets", "1", "--customers", "1"), id="demo"),
    ],
)
async def test_a_bad_setting_exits_2_with_one_line_naming_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.setenv("SUPPORTDESK_PORT", "abc")

    result = await cli.run(*command)

    assert result.exit_code == 2
    assert "SUPPORTDESK_PORT" in single_error_line(result)
    assert result.stdout == ""
    assert not cli.database_path.exists()


async def test_a_weak_secret_in_production_is_named(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTDESK_ENV", "production")
    monkeypatch.setenv("SUPPORTDESK_SECRET_KEY", "short")

    result = await cli.run("db", "current")

    assert result.exit_code == 2
    assert "SUPPORTDESK_SECRET_KEY" in result.stderr


async def test_production_settings_with_a_long_secret_are_accepted(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORTDESK_ENV", "production")
    monkeypatch.setenv("SUPPORTDESK_SECRET_KEY", TEST_SECRET_KEY)

    result = await cli.run("db", "upgrade")

    assert result.exit_code == 0, result.output
