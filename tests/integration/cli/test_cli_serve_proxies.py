"""``supportdesk serve`` hands uvicorn the proxies it may believe, from SUPPORTDESK_FORWARDED_ALLOW_IPS."""

from __future__ import annotations

import pytest
import uvicorn

from .conftest import Cli


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """The keyword arguments of every ``uvicorn.run`` call, instead of a running server."""
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *_args, **kwargs: calls.append(kwargs))
    # serve turns migration off for the processes it starts; set here so the test restores it.
    monkeypatch.setenv("SUPPORTDESK_AUTO_MIGRATE", "true")
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    return calls


async def test_the_local_host_is_the_trusted_proxy_by_default(
    cli: Cli, started: list[dict[str, object]]
) -> None:
    result = await cli.run("serve")

    assert result.exit_code == 0, result.output
    assert [(kwargs["proxy_headers"], kwargs["forwarded_allow_ips"]) for kwargs in started] == [
        (True, "127.0.0.1,::1")
    ]
    assert result.stderr == ""


async def test_the_setting_names_the_trusted_proxies(
    cli: Cli, started: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORTDESK_FORWARDED_ALLOW_IPS", "10.0.0.5, 10.0.1.0/24")

    result = await cli.run("serve")

    assert result.exit_code == 0, result.output
    assert [kwargs["forwarded_allow_ips"] for kwargs in started] == ["10.0.0.5,10.0.1.0/24"]


async def test_uvicorns_own_variable_is_ignored_with_a_note(
    cli: Cli, started: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.5")

    result = await cli.run("serve")

    assert result.exit_code == 0, result.output
    assert [kwargs["forwarded_allow_ips"] for kwargs in started] == ["127.0.0.1,::1"]
    assert (
        result.stderr == "note: FORWARDED_ALLOW_IPS is ignored; set SUPPORTDESK_FORWARDED_ALLOW_IPS instead\n"
    )


async def test_no_note_once_the_setting_is_given(
    cli: Cli, started: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.5")
    monkeypatch.setenv("SUPPORTDESK_FORWARDED_ALLOW_IPS", "10.0.0.5")

    result = await cli.run("serve")

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
