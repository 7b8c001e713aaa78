"""deploy/nginx/supportdesk.conf in front of a real server: nginx accepts it, ends TLS, and the server
sees the real client's address and scheme, and believes forwarded headers from nobody else.

nginx runs as the current user with everything (pid file, logs, temporary files, certificate) in the
test's folder, on free loopback ports. Clients connect from other loopback addresses (127.0.0.10 and
up), so that the address the server acts on shows whether it came from the connection or the header.
"""

from __future__ import annotations

import getpass
import os
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fixtures.tls import self_signed_certificate

from .processes import (
    REPOSITORY,
    Server,
    free_ports,
    serving,
    stop,
    supportdesk_environment,
    system_command,
    wait_until_ready,
)

EXAMPLE = REPOSITORY / "deploy" / "nginx" / "supportdesk.conf"
SERVER_NAME = "desk.example.com"
LOGIN = "/api/v1/auth/login"
UNKNOWN_LOGIN = {"email": "nobody@example.com", "password": "not-a-password"}


@dataclass(frozen=True)
class Proxy:
    """nginx running the example configuration in front of ``server``."""

    https_port: int
    http_port: int
    certificate: Path
    server: Server

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def client(self, source: str) -> httpx.Client:
        """An HTTPS client that connects from the loopback address ``source`` and trusts the test's
        certificate."""
        context = ssl.create_default_context(cafile=str(self.certificate))
        transport = httpx.HTTPTransport(local_address=source, verify=context)
        return httpx.Client(base_url=self.base_url, transport=transport, timeout=10, trust_env=False)


def render(example: str, *, app_port: int, https_port: int, http_port: int, folder: Path) -> str:
    """The example with this test's ports and certificate. Every replaced line must be there: a change
    to the example that this misses fails here rather than testing something else."""
    replacements = {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        # IPv6 may be missing on a test machine; the IPv4 lines above are what the test connects to.
        "listen [::]:443 ssl http2;": "",
        "listen [::]:80;": "",
        f"/etc/letsencrypt/live/{SERVER_NAME}/fullchain.pem": str(folder / "certificate.pem"),
        f"/etc/letsencrypt/live/{SERVER_NAME}/privkey.pem": str(folder / "key.pem"),
    }
    for old, new in replacements.items():
        assert old in example, f"{EXAMPLE.name} no longer contains {old!r}"
        example = example.replace(old, new)
    return example


def main_configuration(folder: Path) -> str:
    """What nginx.conf around a site file holds on a server, with every path in ``folder``."""
    # A master process started as root hands requests to workers running as the `user` directive's
    # user; naming the current user keeps them able to read the test's folder. Started as anyone else,
    # nginx ignores the directive with a warning, so it is only written for root.
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    temporary = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\n"
        f"pid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} notice;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"    access_log {folder / 'access.log'};\n"
        f"{temporary}\n"
        f"    include {folder / 'supportdesk.conf'};\n"
        "}\n"
    )


def nginx_command(nginx: str, folder: Path, *arguments: str) -> list[str]:
    # -e: the error log before the configuration is read, which would otherwise be the system's.
    return [
        nginx,
        "-p",
        str(folder),
        "-c",
        str(folder / "nginx.conf"),
        "-e",
        str(folder / "error.log"),
        *arguments,
    ]


# The server and nginx are started once per xdist worker that runs these tests (tests/conftest.py keeps
# this module on one worker; session scope, because a module-scoped fixture is set up again whenever
# tests of other modules run in between). Each test connects from loopback addresses of its own, so
# the login counts of one cannot change another's outcome, whichever tests share a server.


def prepare_site(folder: Path) -> Path:
    """``folder`` with nginx's main configuration, a certificate and room for nginx's files."""
    folder.mkdir()
    # certificate.pem and key.pem, where render() points nginx.
    self_signed_certificate(folder, SERVER_NAME, [SERVER_NAME, "127.0.0.1"])
    (folder / "nginx.conf").write_text(main_configuration(folder), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """supportdesk behind the proxy. Two login attempts per client address an hour, so a third shows
    which address the server counted."""
    folder = tmp_path_factory.mktemp("app")
    environment = supportdesk_environment(folder, login_attempts_per_address="2/hour")
    with serving(environment, folder) as started:
        yield started


@pytest.fixture(scope="session")
def proxy(tmp_path_factory: pytest.TempPathFactory, server: Server) -> Iterator[Proxy]:
    """nginx started with the example configuration in front of ``server``."""
    nginx = system_command("nginx")
    site = prepare_site(tmp_path_factory.mktemp("proxy") / "nginx")
    https_port, http_port = free_ports(2)
    proxy = Proxy(
        https_port=https_port, http_port=http_port, certificate=site / "certificate.pem", server=server
    )
    rendered = render(
        EXAMPLE.read_text(encoding="utf-8"),
        app_port=server.port,
        https_port=proxy.https_port,
        http_port=proxy.http_port,
        folder=site,
    )
    (site / "supportdesk.conf").write_text(rendered, encoding="utf-8")
    process = subprocess.Popen(  # noqa: S603  (a system tool on our own configuration)
        nginx_command(nginx, site, "-g", "daemon off;"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def log() -> str:
        return (site / "error.log").read_text(encoding="utf-8", errors="replace")

    try:
        with proxy.client("127.0.0.1") as probe:
            wait_until_ready(process, f"{proxy.base_url}/healthz", log, client=probe)
        yield proxy
    finally:
        stop(process)


def test_nginx_accepts_the_example_configuration(tmp_path: Path) -> None:
    nginx = system_command("nginx")
    site = prepare_site(tmp_path / "nginx")
    https_port, http_port = free_ports(2)
    rendered = render(
        EXAMPLE.read_text(encoding="utf-8"),
        app_port=8000,
        https_port=https_port,
        http_port=http_port,
        folder=site,
    )
    (site / "supportdesk.conf").write_text(rendered, encoding="utf-8")

    done = subprocess.run(  # noqa: S603  (a system tool on our own configuration)
        nginx_command(nginx, site, "-t"), capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


def test_the_server_counts_logins_by_the_address_of_the_real_client(proxy: Proxy) -> None:
    with proxy.client("127.0.0.10") as first, proxy.client("127.0.0.11") as second:
        answers = [first.post(LOGIN, json=UNKNOWN_LOGIN).status_code for _ in range(3)]
        other = second.post(LOGIN, json=UNKNOWN_LOGIN)

    # Had the server counted nginx's own address, the other client would be refused as well.
    assert answers == [401, 401, 429]
    assert other.status_code == 401, other.text


def test_the_access_log_shows_the_client_not_the_proxy(proxy: Proxy) -> None:
    with proxy.client("127.0.0.40") as client:
        assert client.get("/healthz").status_code == 200

    line = '127.0.0.40:0 - "GET /healthz HTTP/1.1" 200'
    assert line in proxy.server.wait_for_log(line)


def test_a_client_cannot_pose_as_another_through_the_proxy(proxy: Proxy) -> None:
    with proxy.client("127.0.0.20") as client:
        used_up = [client.post(LOGIN, json=UNKNOWN_LOGIN).status_code for _ in range(2)]
    with proxy.client("127.0.0.21") as client:
        # Neither posing as an address with attempts left nor as the one without changes what is
        # counted: the address nginx's connection came from.
        forged = client.post(LOGIN, json=UNKNOWN_LOGIN, headers={"X-Forwarded-For": "198.51.100.7"})
        framed = client.post(LOGIN, json=UNKNOWN_LOGIN, headers={"X-Forwarded-For": "127.0.0.20"})
        refused = client.post(LOGIN, json=UNKNOWN_LOGIN, headers={"X-Forwarded-For": "198.51.100.8"})

    assert used_up == [401, 401]
    assert [forged.status_code, framed.status_code, refused.status_code] == [401, 401, 429]


def test_the_server_ignores_forwarded_headers_from_an_untrusted_peer(proxy: Proxy) -> None:
    """A client that reaches the server directly, not through the trusted proxy, cannot pose as another."""
    transport = httpx.HTTPTransport(local_address="127.0.0.30")
    with httpx.Client(
        base_url=proxy.server.base_url, transport=transport, timeout=10, trust_env=False
    ) as direct:
        answers = [
            direct.post(LOGIN, json=UNKNOWN_LOGIN, headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
            for n in range(3)
        ]
        redirect = direct.get("/api/v1/tickets/", headers={"X-Forwarded-Proto": "https"})

    assert answers == [401, 401, 429]
    assert urlsplit(redirect.headers["location"]).scheme == "http"


def test_the_server_builds_its_links_for_https(proxy: Proxy) -> None:
    with proxy.client("127.0.0.50") as client:
        # The API's paths have no trailing slash; the server redirects to the one without, as an
        # absolute URL built from the scheme and host it believes.
        redirect = client.get("/api/v1/tickets/")

    assert redirect.status_code == 307
    location = urlsplit(redirect.headers["location"])
    # The example passes $host, which carries no port: right for 443, the port the example listens on.
    assert (location.scheme, location.hostname, location.path) == ("https", "127.0.0.1", "/api/v1/tickets")


def test_plain_http_is_sent_on_to_https(proxy: Proxy) -> None:
    with httpx.Client(timeout=10, trust_env=False) as client:
        answer = client.get(f"http://127.0.0.1:{proxy.http_port}/api/v1/tickets?limit=1")

    assert answer.status_code == 301
    assert answer.headers["location"] == "https://127.0.0.1/api/v1/tickets?limit=1"


def test_metrics_are_only_served_to_the_local_host(proxy: Proxy) -> None:
    with proxy.client("127.0.0.1") as local, proxy.client("127.0.0.60") as remote:
        allowed = local.get("/metrics")
        refused = remote.get("/metrics")

    assert allowed.status_code == 200
    assert "supportdesk_http_requests_total" in allowed.text
    assert refused.status_code == 403
