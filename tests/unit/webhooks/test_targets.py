"""Webhook targets: internal addresses are refused when a URL is saved and again when a connection is made."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supportdesk.webhooks.targets import (
    Address,
    GuardedResolver,
    TargetPolicy,
    UnsafeTarget,
    check_url,
    is_forbidden,
)

NO_EXCEPTIONS = TargetPolicy([])
# Public addresses as far as the rules go; nothing below really connects to them.
PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"

FORBIDDEN = [
    pytest.param("127.0.0.1", id="loopback"),
    pytest.param("127.255.255.254", id="loopback-end-of-block"),
    pytest.param("::1", id="loopback-v6"),
    pytest.param("10.1.2.3", id="private-10"),
    pytest.param("172.16.0.1", id="private-172.16"),
    pytest.param("172.31.255.255", id="private-172.31"),
    pytest.param("192.168.1.10", id="private-192.168"),
    pytest.param("fd12:3456::1", id="unique-local-v6"),
    pytest.param("169.254.169.254", id="cloud-metadata"),
    pytest.param("fd00:ec2::254", id="cloud-metadata-v6"),
    pytest.param("169.254.1.1", id="link-local"),
    pytest.param("fe80::1", id="link-local-v6"),
    pytest.param("fe80::1%1", id="link-local-v6-with-zone"),
    pytest.param("100.64.0.1", id="shared-carrier-nat"),
    pytest.param("100.100.100.200", id="shared-alibaba-metadata"),
    pytest.param("224.0.0.1", id="multicast"),
    pytest.param("ff02::1", id="multicast-v6"),
    pytest.param("0.0.0.0", id="unspecified"),  # noqa: S104
    pytest.param("::", id="unspecified-v6"),
    pytest.param("0.1.2.3", id="this-network"),
    pytest.param("240.0.0.1", id="reserved"),
    pytest.param("255.255.255.255", id="broadcast"),
    pytest.param("192.0.2.1", id="documentation"),
    pytest.param("198.18.0.1", id="benchmarking"),
    pytest.param("fec0::1", id="site-local-v6"),
    pytest.param("::ffff:127.0.0.1", id="v4-mapped-loopback"),
    pytest.param("::ffff:169.254.169.254", id="v4-mapped-metadata"),
    pytest.param("::ffff:10.0.0.1", id="v4-mapped-private"),
    pytest.param("::127.0.0.1", id="v4-compatible-loopback"),
    pytest.param("::8.8.8.8", id="v4-compatible-is-deprecated-even-if-public"),
    pytest.param("2002:7f00:1::", id="6to4-of-loopback"),
    pytest.param("2002:a9fe:a9fe::", id="6to4-of-metadata"),
    pytest.param("64:ff9b::7f00:1", id="nat64-of-loopback"),
    pytest.param("64:ff9b::a00:1", id="nat64-of-private"),
    pytest.param("64:ff9b:1::1", id="nat64-local-use-prefix"),
    pytest.param("2001:db8::1", id="documentation-v6"),
    pytest.param("2001:0:4136:e378:8000:63bf:3fff:fdd2", id="teredo"),
]

PUBLIC = [
    pytest.param(PUBLIC_V4, id="public-v4"),
    pytest.param("8.8.8.8", id="public-dns"),
    pytest.param(PUBLIC_V6, id="public-v6"),
    pytest.param("::ffff:8.8.8.8", id="v4-mapped-public"),
    pytest.param("64:ff9b::808:808", id="nat64-of-public"),
    pytest.param("2002:808:808::1", id="6to4-of-public"),
    pytest.param("100.128.0.1", id="just-past-shared-space"),
    pytest.param("172.32.0.1", id="just-past-private-172"),
]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_internal_addresses_are_forbidden(address: str) -> None:
    assert is_forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_not(address: str) -> None:
    assert not is_forbidden(ipaddress.ip_address(address))


# Written out from the IANA special-purpose registries rather than taken from the code under test.
FORBIDDEN_NETWORKS = [
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
]


def _addresses_in(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> st.SearchStrategy[Address]:
    return st.integers(0, network.num_addresses - 1).map(lambda offset: network[offset])


@settings(max_examples=50)
@given(st.sampled_from(FORBIDDEN_NETWORKS).flatmap(_addresses_in))
def test_every_address_of_the_forbidden_networks_is_refused(address: Address) -> None:
    assert is_forbidden(address)
    if isinstance(address, ipaddress.IPv4Address):
        assert is_forbidden(ipaddress.IPv6Address(f"::ffff:{address}"))


@pytest.mark.parametrize(
    ("setting", "networks", "host_names"),
    [
        pytest.param("", [], [], id="empty"),
        pytest.param("10.0.0.0/8", ["10.0.0.0/8"], [], id="network"),
        pytest.param("192.168.1.5", ["192.168.1.5/32"], [], id="single-address"),
        pytest.param("fd00::/8, ::1", ["fd00::/8", "::1/128"], [], id="ipv6"),
        pytest.param("CRM.Internal.", [], ["crm.internal"], id="host-name-is-normalised"),
        pytest.param(" 10.0.0.0/8 ,, hooks.local ,", ["10.0.0.0/8"], ["hooks.local"], id="blanks-ignored"),
    ],
)
def test_the_allow_list_setting_is_read(setting: str, networks: list[str], host_names: list[str]) -> None:
    policy = TargetPolicy.from_setting(setting)
    assert [str(network) for network in policy.networks] == networks
    assert sorted(policy.host_names) == host_names


@pytest.mark.parametrize(
    "bad_entry",
    [
        pytest.param("10.0.0.0/33", id="prefix-too-long"),
        pytest.param("10.0.0.1/8", id="host-bits-set"),
        pytest.param("10.0.0.300", id="octet-out-of-range"),
        pytest.param("fd00::/129", id="v6-prefix-too-long"),
        pytest.param("http://crm.internal", id="url-not-host"),
        pytest.param("crm internal", id="space-in-name"),
        pytest.param("*.internal", id="wildcard"),
        pytest.param("-crm.internal", id="label-starts-with-hyphen"),
    ],
)
def test_a_bad_allow_list_entry_is_named_in_the_error(bad_entry: str) -> None:
    with pytest.raises(ValueError, match="allow-list") as raised:
        TargetPolicy.from_setting(f"10.0.0.0/8, {bad_entry}")
    assert repr(bad_entry) in str(raised.value)


def test_the_policy_wants_a_list_not_the_raw_setting() -> None:
    with pytest.raises(TypeError, match="from_setting"):
        TargetPolicy("10.0.0.0/8")


def test_the_policy_allows_listed_networks_and_names_only() -> None:
    policy = TargetPolicy.from_setting("10.20.0.0/16, crm.internal")
    assert policy.permits("anything.example", ipaddress.ip_address("10.20.3.4"))
    assert policy.permits("anything.example", ipaddress.ip_address("::ffff:10.20.3.4"))
    assert not policy.permits("anything.example", ipaddress.ip_address("10.21.0.1"))
    assert policy.permits("CRM.internal.", ipaddress.ip_address("192.168.7.7"))
    assert not policy.permits("api.crm.internal", ipaddress.ip_address("192.168.7.7"))
    assert policy.permits("anything.example", ipaddress.ip_address(PUBLIC_V4))


@pytest.mark.parametrize(
    ("url", "code"),
    [
        pytest.param("ftp://hooks.example/in", "scheme", id="ftp"),
        pytest.param("file:///etc/passwd", "scheme", id="file"),
        pytest.param("hooks.example/in", "scheme", id="no-scheme"),
        pytest.param("https://user:pw@hooks.example/in", "credentials", id="password"),
        pytest.param("https://user@hooks.example/in", "credentials", id="user-name"),
        pytest.param("http://127.0.0.1:8000/", "address", id="loopback"),
        pytest.param("http://[::1]/", "address", id="loopback-v6"),
        pytest.param("http://[::ffff:127.0.0.1]/", "address", id="v4-mapped-loopback"),
        pytest.param("http://169.254.169.254/latest/meta-data/", "address", id="cloud-metadata"),
        pytest.param("http://2130706433/", "address", id="loopback-as-one-number"),
        pytest.param("http://0x7f.1/", "address", id="loopback-in-hex-shorthand"),
        pytest.param("http://10.0.0.5/", "address", id="private"),
        pytest.param("http://exa mple.com/", "host", id="space-in-host"),
        pytest.param("http://a..b/", "host", id="empty-label"),
        pytest.param("http://[::1/", "url", id="not-a-url"),
    ],
)
def test_saving_an_unsafe_url_is_refused_with_a_stable_code(url: str, code: str) -> None:
    with pytest.raises(UnsafeTarget) as refused:
        check_url(url, NO_EXCEPTIONS)
    assert refused.value.code == code


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://hooks.example.com/in?token=1", id="host-name"),
        pytest.param(f"http://{PUBLIC_V4}:8080/in", id="public-address"),
        pytest.param(f"https://[{PUBLIC_V6}]/in", id="public-v6"),
        # A name is only resolved when connecting, where its addresses are checked.
        pytest.param("http://localhost/in", id="name-checked-later"),
    ],
)
def test_saving_an_ordinary_url_is_accepted(url: str) -> None:
    check_url(url, NO_EXCEPTIONS)


def test_an_allowed_private_address_may_be_saved() -> None:
    check_url("http://10.0.0.5:9000/hooks", TargetPolicy(["10.0.0.0/24"]))


class ScriptedResolver:
    """A DNS that gives each lookup the next answer of its script."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = [[ipaddress.ip_address(address) for address in answer] for answer in answers]
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[Address]:
        self.lookups.append(host)
        return self.answers[len(self.lookups) - 1]


async def addresses_given(resolver: GuardedResolver, host: str) -> list[tuple[str, str, int]]:
    """What the connector is told to connect to: (host name for TLS, address, family)."""
    return [
        (answer["hostname"], answer["host"], answer["family"]) for answer in await resolver.resolve(host, 443)
    ]


async def test_the_connector_gets_the_addresses_that_were_checked_from_one_lookup() -> None:
    dns = ScriptedResolver([PUBLIC_V4], ["127.0.0.1"])
    guarded = GuardedResolver(NO_EXCEPTIONS, dns)

    given_addresses = await addresses_given(guarded, "hooks.example.com")

    assert given_addresses == [("hooks.example.com", PUBLIC_V4, socket.AF_INET)]
    assert dns.lookups == ["hooks.example.com"]


async def test_a_name_with_any_internal_address_is_refused_before_connecting() -> None:
    guarded = GuardedResolver(NO_EXCEPTIONS, ScriptedResolver([PUBLIC_V4, "10.0.0.7"]))

    with pytest.raises(UnsafeTarget, match=r"hooks\.example\.com \(10\.0\.0\.7\)") as refused:
        await guarded.resolve("hooks.example.com", 443)

    assert refused.value.code == "address"


async def test_every_checked_address_is_given_in_the_order_the_name_lists_them() -> None:
    # The connector tries them in turn, so one that cannot be reached is not the end.
    guarded = GuardedResolver(NO_EXCEPTIONS, ScriptedResolver([PUBLIC_V6, PUBLIC_V4]))

    given_addresses = await addresses_given(guarded, "hooks.example.com")

    assert given_addresses == [
        ("hooks.example.com", PUBLIC_V6, socket.AF_INET6),
        ("hooks.example.com", PUBLIC_V4, socket.AF_INET),
    ]


async def test_an_address_literal_is_checked_without_a_lookup() -> None:
    dns = ScriptedResolver()
    guarded = GuardedResolver(NO_EXCEPTIONS, dns)

    with pytest.raises(UnsafeTarget):
        await guarded.resolve("::ffff:169.254.169.254", 80)
    assert [answer["host"] for answer in await guarded.resolve(PUBLIC_V4, 80)] == [PUBLIC_V4]

    assert dns.lookups == []


async def test_a_name_the_policy_lists_may_resolve_to_a_private_address() -> None:
    guarded = GuardedResolver(TargetPolicy(["crm.internal"]), ScriptedResolver(["10.0.0.7"]))

    assert await addresses_given(guarded, "crm.internal") == [("crm.internal", "10.0.0.7", socket.AF_INET)]


async def test_a_name_that_resolves_to_nothing_is_a_connection_error_not_a_refusal() -> None:
    guarded = GuardedResolver(NO_EXCEPTIONS, ScriptedResolver([]))

    # aiohttp reports an OSError from a resolver as a failed connection, which is retried later.
    with pytest.raises(OSError, match="resolves to no address"):
        await guarded.resolve("hooks.example.com", 443)
