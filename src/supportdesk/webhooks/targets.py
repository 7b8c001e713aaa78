"""Where webhooks may be sent: public addresses only, unless configuration allows a private one.

A webhook URL is chosen by a workspace administrator, so without a guard it could point the server at
itself, at the internal network or at a cloud metadata service (server-side request forgery). The URL
is checked when it is saved (:func:`check_url`), and the address is checked again when each connection
is made: the host name is resolved there, every address it resolves to must be allowed, and the
connection goes to one of the addresses just checked. A name that resolves to a public address when
saved and to an internal one later (DNS rebinding) is therefore still refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence

import httpx
from aiohttp.abc import AbstractResolver, ResolveResult

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Resolves a host name to its addresses; tests pass their own to play a changing DNS answer.
Resolver = Callable[[str, int], Awaitable[Sequence[Address]]]

ALLOWED_SCHEMES = frozenset({"http", "https"})
CLOUD_METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
NAT64_WELL_KNOWN_PREFIX = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL_PREFIX = ipaddress.ip_network("64:ff9b:1::/48")
IPV4_COMPATIBLE_PREFIX = ipaddress.ip_network("::/96")
LEGACY_IPV4_CHARACTERS = frozenset("0123456789abcdefxABCDEFX.")


class UnsafeTarget(ValueError):
    """A webhook URL or address that must not be used; ``code`` names the rule it broke."""

    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def is_forbidden(address: Address) -> bool:
    """Whether ``address`` is one a webhook must not reach unless configuration allows it.

    Refused: loopback, private, link-local (which holds the cloud metadata services), multicast,
    unspecified, reserved and shared (carrier-grade NAT) addresses, the metadata addresses named
    explicitly, and anything else Python's registry does not call globally reachable. An IPv6 address
    that carries an IPv4 one (IPv4-mapped, 6to4, or the NAT64 prefix that DNS64 answers with on
    IPv6-only hosts) is judged by the IPv4 address it leads to, so a public site behind NAT64 still
    works. The deprecated IPv4-compatible block ``::/96`` and the local NAT64 prefix are refused
    whole: nothing public lives there.
    """
    if address in CLOUD_METADATA_ADDRESSES:
        return True
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_forbidden(embedded)
        if address in IPV4_COMPATIBLE_PREFIX or address in NAT64_LOCAL_PREFIX or address.is_site_local:
            return True
    elif address in SHARED_ADDRESS_SPACE:
        return True
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or not address.is_global
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64_WELL_KNOWN_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class TargetPolicy:
    """The configured exceptions: addresses, networks and host names webhooks may reach even if private.

    A host name entry matches that exact name (not its subdomains), case-insensitively, and allows
    whatever it resolves to: an administrator who lists ``crm.internal`` trusts its DNS.
    """

    def __init__(self, allowed: Sequence[str] = ()) -> None:
        if isinstance(allowed, str):
            # A lone string is a sequence of characters, which would allow nothing the caller meant.
            raise TypeError("TargetPolicy takes a list of entries; use TargetPolicy.from_setting for text")
        networks: list[Network] = []
        host_names: set[str] = set()
        for entry in allowed:
            parsed = _parse_entry(entry)
            if isinstance(parsed, str):
                host_names.add(parsed)
            else:
                networks.append(parsed)
        self.networks = tuple(networks)
        self.host_names = frozenset(host_names)

    @classmethod
    def from_setting(cls, text: str) -> TargetPolicy:
        """The policy of a comma-separated setting, such as ``"10.0.0.0/8, crm.internal"``."""
        return cls([part.strip() for part in text.split(",") if part.strip()])

    def allows_host(self, host: str) -> bool:
        """Whether ``host`` is a host name listed in the policy."""
        return _normalised_host(host) in self.host_names

    def allows_address(self, address: Address) -> bool:
        """Whether ``address`` lies in a listed address or network."""
        candidates: list[Address] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(candidate in network for candidate in candidates for network in self.networks)

    def permits(self, host: str, address: Address) -> bool:
        """Whether a connection to ``address``, reached through ``host``, may be made."""
        return not is_forbidden(address) or self.allows_host(host) or self.allows_address(address)

    def __repr__(self) -> str:
        entries = [str(network) for network in self.networks] + sorted(self.host_names)
        return f"TargetPolicy({entries!r})"


def _parse_entry(entry: str) -> Network | str:
    text = entry.strip()
    if not text:
        raise ValueError("webhook target allow-list: an entry is empty")
    try:
        return ipaddress.ip_network(text)
    except ValueError as error:
        if _meant_as_address(text):
            raise ValueError(
                f"webhook target allow-list: {entry!r} is not a valid address or network ({error})"
            ) from None
    host = _normalised_host(text)
    if not _is_host_name(host):
        raise ValueError(
            f"webhook target allow-list: {entry!r} is not an IP address, a network such as 10.0.0.0/8, "
            "or a host name (write international names in their xn-- form)"
        )
    return host


def _meant_as_address(text: str) -> bool:
    # A slash or colon only appears in networks and IPv6 addresses; a last label of digits means IPv4.
    return "/" in text or ":" in text or text.rstrip(".").rsplit(".", 1)[-1].isdigit()


def _normalised_host(host: str) -> str:
    return host.strip().lower().removesuffix(".")


def _is_host_name(host: str) -> bool:
    labels = host.split(".")
    return len(host) <= 253 and all(_is_label(label) for label in labels)


def _is_label(label: str) -> bool:
    return (
        0 < len(label) <= 63
        and label.isascii()
        # Underscores are not allowed by the host name rules, but some internal DNS names carry them.
        and all(character.isalnum() or character in "-_" for character in label)
        and not label.startswith("-")
        and not label.endswith("-")
    )


def _ip_literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        pass
    # Resolvers also read shorthand IPv4 such as 127.1, 0x7f.1 or 2130706433 as an address.
    if host and all(character in LEGACY_IPV4_CHARACTERS for character in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_url(url: str, policy: TargetPolicy) -> None:
    """Refuse a webhook URL that could never be sent to safely; names are checked again on connect."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise UnsafeTarget(f"not a valid URL: {error}", code="url") from None
    _check_parsed_url(parsed)
    literal = _ip_literal(parsed.host)
    if literal is not None and not policy.permits(parsed.host, literal):
        raise UnsafeTarget(
            f"{literal} is not a public address and is not allowed by configuration", code="address"
        )


def _check_parsed_url(url: httpx.URL) -> None:
    if url.scheme not in ALLOWED_SCHEMES:
        raise UnsafeTarget("only http and https URLs can receive webhooks", code="scheme")
    if url.userinfo:
        raise UnsafeTarget("a webhook URL must not carry a user name or password", code="credentials")
    if not url.host:
        raise UnsafeTarget("a webhook URL needs a host", code="host")
    host = url.raw_host.decode("ascii")
    if _ip_literal(host) is None and not _is_host_name(_normalised_host(host)):
        raise UnsafeTarget(f"{url.host!r} is not a valid host name", code="host")


async def system_resolver(host: str, port: int) -> list[Address]:
    """The addresses the operating system resolves ``host`` to, in its order of preference."""
    loop = asyncio.get_running_loop()
    answers = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[Address] = []
    for family, _kind, _protocol, _canonical_name, socket_address in answers:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(socket_address[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def checked_addresses(policy: TargetPolicy, resolver: Resolver, host: str, port: int) -> list[Address]:
    """The addresses ``host`` resolves to, every one of them allowed by ``policy``.

    Raises :class:`UnsafeTarget` if any address is forbidden and not allowed, and ``OSError`` if the
    name resolves to nothing.
    """
    literal = _ip_literal(host)
    addresses = [literal] if literal is not None else list(await resolver(host, port))
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    for address in addresses:
        if not policy.permits(host, address):
            where = str(address) if literal is not None else f"{host} ({address})"
            raise UnsafeTarget(
                f"{where} is not a public address and is not allowed by configuration", code="address"
            )
    return addresses


class GuardedResolver(AbstractResolver):
    """The resolver of the webhook client's connector: it resolves, checks and answers in one step.

    aiohttp connects to the addresses a resolver returns, so the addresses checked here are the ones
    the socket goes to, and the name is not looked up a second time. TLS is still verified against the
    URL's host name (and sent as SNI), which aiohttp takes from the request, not from these answers.
    An address literal in a URL never reaches a resolver: :class:`supportdesk.webhooks.sending.WebhookClient`
    checks those with :func:`check_url` before each request.
    """

    def __init__(self, policy: TargetPolicy, resolver: Resolver = system_resolver) -> None:
        self._policy = policy
        self._resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await checked_addresses(self._policy, self._resolver, host, port)
        return [
            {
                "hostname": host,
                "host": str(address),
                "port": port,
                "family": socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                "proto": socket.IPPROTO_TCP,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        """Nothing to release: the system resolver holds no connection."""
