"""Where webhooks may be sent: public addresses only, unless configuration allows a private one.

A webhook URL is chosen by a workspace administrator, so without a guard it could point the server at
itself, at the internal network or at a cloud metadata service (server-side request forgery). The URL
is checked when it is saved (:func:`check_url`), and the address is checked again when each connection
is made: the host name is resolved there, every address it resolves to must be allowed, and the
connection goes to one of the addresses just checked. A name that resolves to a public address when
saved and to an internal one later (DNS rebinding) is therefore still refused.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import anyio
import httpcore
import httpx

from supportdesk.jobs.outcalls import certificate_authorities

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
    answers = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[Address] = []
    for family, _kind, _protocol, _canonical_name, socket_address in answers:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(socket_address[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that resolves, checks and connects in one step.

    httpcore hands the host name of the URL to ``connect_tcp``. This backend resolves it itself,
    refuses the connection if any resolved address is forbidden and not allowed by the policy, and
    then connects the wrapped backend to a checked address, so the name is never looked up a second
    time. TLS is layered on afterwards by httpcore with the URL's host name, so the certificate is
    still verified against that name (and sent as SNI).
    """

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore passes it by this name)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        deadline = None if timeout is None else anyio.current_time() + timeout
        addresses = await self._checked_addresses(host, port, timeout)
        errors: list[httpcore.ConnectError] = []
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=_remaining(deadline, host),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as error:
                # Like an ordinary client, try the next address the name has before giving up.
                errors.append(error)
        # _checked_addresses never returns an empty list, so at least one attempt failed here.
        raise errors[-1]

    async def _checked_addresses(self, host: str, port: int, time_limit: float | None) -> list[Address]:
        literal = _ip_literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                with anyio.fail_after(time_limit):
                    addresses = list(await self._resolver(host, port))
            except TimeoutError:
                raise httpcore.ConnectTimeout(f"timed out resolving {host}") from None
            except OSError as error:
                raise httpcore.ConnectError(f"could not resolve {host}: {error}") from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            if not self._policy.permits(host, address):
                where = str(address) if literal is not None else f"{host} ({address})"
                raise UnsafeTarget(
                    f"{where} is not a public address and is not allowed by configuration", code="address"
                )
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore passes it by this name)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeTarget("webhooks are not sent over local sockets", code="address")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _remaining(deadline: float | None, host: str) -> float | None:
    if deadline is None:
        return None
    left = deadline - anyio.current_time()
    if left <= 0:
        raise httpcore.ConnectTimeout(f"timed out connecting to {host}")
    return left


# httpcore's errors and the httpx errors callers catch, the most specific first.
_ERROR_TYPES: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProxyError, httpx.ProxyError),
)


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as error:
        for core_type, httpx_type in _ERROR_TYPES:
            if isinstance(error, core_type):
                raise httpx_type(str(error)) from error
        raise


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._response.aiter_stream():
                yield chunk

    async def aclose(self) -> None:
        with _as_httpx_errors():
            await self._response.aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool that connects through :class:`GuardedBackend`.

    httpx 0.28 gives its own transport no way to choose the network backend, so this one drives a
    public ``httpcore.AsyncConnectionPool`` directly and turns httpcore's errors into httpx's.
    """

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 20,
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context if ssl_context is not None else certificate_authorities(trust_env=False),
            max_connections=max_connections,
            # httpcore keeps idle connections forever unless told; httpx's own default is five seconds.
            keepalive_expiry=5.0,
            http1=True,
            http2=False,
            network_backend=GuardedBackend(policy, resolver=resolver),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # The URL was checked when saved; checking again here also covers URLs that never were.
        _check_parsed_url(request.url)
        if not isinstance(request.stream, httpx.AsyncByteStream):
            raise TypeError("GuardedTransport sends asynchronous request bodies only")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            # An sni_hostname extension would let a caller verify TLS against another name than the URL's.
            extensions={key: value for key, value in request.extensions.items() if key != "sni_hostname"},
        )
        with _as_httpx_errors():
            core_response = await self._pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_ResponseStream(core_response),
            extensions=core_response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def safe_client(
    policy: TargetPolicy, *, timeout: float, resolver: Resolver = system_resolver
) -> httpx.AsyncClient:
    """An HTTP client for webhooks: guarded connections, no redirects, no proxies from the environment."""
    return httpx.AsyncClient(
        transport=GuardedTransport(policy, resolver=resolver),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
