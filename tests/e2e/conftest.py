"""A live server for end-to-end tests: the real CLI sets it up and serves it on a loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fixtures.database import TEST_SECRET_KEY


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    token: str

    @property
    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate as the server's admin."""
        return {"Authorization": f"Bearer {self.token}"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # noqa: S603  (our own CLI, fixed arguments)
        [sys.executable, "-m", "supportdesk.cli", *args], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """supportdesk on a fresh SQLite file, with an admin and a handful of demo tickets."""
    directory: Path = tmp_path_factory.mktemp("live")
    env = {
        **os.environ,
        "SUPPORTDESK_ENV": "test",
        "SUPPORTDESK_SECRET_KEY": TEST_SECRET_KEY,
        "SUPPORTDESK_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'live.db'}",
        "SUPPORTDESK_LOG_LEVEL": "warning",
    }
    _cli(env, "db", "upgrade")
    _cli(env, "demo", "--workspace", "live", "--tickets", "25", "--customers", "5")
    _cli(env, "users", "create", "root@live.example.com", "--role", "admin", "--workspace", "live")
    token = _cli(env, "tokens", "create", "root@live.example.com", "--workspace", "live")
    assert token.startswith("sdk_"), token
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "supportdesk.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start (exit code {server.poll()})")
            time.sleep(0.1)
        yield LiveServer(base_url=base_url, token=token)
    finally:
        server.terminate()
        server.wait(timeout=10)
