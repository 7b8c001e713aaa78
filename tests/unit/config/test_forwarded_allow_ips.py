"""SUPPORTDESK_FORWARDED_ALLOW_IPS: which proxies' X-Forwarded-* headers the server believes."""

from __future__ import annotations

import pytest

from supportdesk.config import load_settings
from supportdesk.config.errors import SettingsError


def test_only_the_local_host_is_trusted_by_default() -> None:
    assert load_settings().forwarded_allow_ips == "127.0.0.1,::1"


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        pytest.param("10.0.0.5", "10.0.0.5", id="one-address"),
        pytest.param(" 10.0.0.5 , 10.0.1.0/24 ", "10.0.0.5,10.0.1.0/24", id="addresses-and-networks"),
        pytest.param("fd00::/8,::1", "fd00::/8,::1", id="ipv6"),
        pytest.param("*", "*", id="everyone"),
    ],
)
def test_addresses_and_networks_are_accepted(
    monkeypatch: pytest.MonkeyPatch, value: str, stored: str
) -> None:
    monkeypatch.setenv("SUPPORTDESK_FORWARDED_ALLOW_IPS", value)
    assert load_settings().forwarded_allow_ips == stored


@pytest.mark.parametrize(
    ("value", "named"),
    [
        pytest.param("proxy.internal", "'proxy.internal'", id="a-host-name"),
        pytest.param("10.0.0.1/8", "'10.0.0.1/8'", id="host-bits-in-a-network"),
        pytest.param("10.0.0.5,,10.0.0.6", "''", id="an-empty-entry"),
        pytest.param("10.0.0.5,*", "'*'", id="star-beside-addresses"),
    ],
)
def test_anything_else_stops_the_start_naming_the_entry(
    monkeypatch: pytest.MonkeyPatch, value: str, named: str
) -> None:
    monkeypatch.setenv("SUPPORTDESK_FORWARDED_ALLOW_IPS", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(f"SUPPORTDESK_FORWARDED_ALLOW_IPS: {named} is not an IP address")
