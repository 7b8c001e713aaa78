"""Real processes for the deployment tests: ``supportdesk`` run as an operator runs it, and the system
commands (nginx, openssl, systemd-analyze) the deployment files are checked with."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fixtures.database import TEST_SECRET_KEY

REPOSITORY = Path(__file__).resolve().parents[3]
# The console script that installing the project puts next to the interpreter, as in a production
# virtual environment (docs/deployment.md).
SUPPORTDESK = Path(sys.executable).with_name("supportdesk")
BASH = shutil.which("bash") or "/bin/bash"


def free_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` different loopback ports nothing listens on; all are held until all are chosen, so the
    system cannot hand out the same one twice."""
    with ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def system_command(name: str) -> str:
    """The path of a system command a test needs. Without it the test is skipped, except in CI, where
    .ci/run installs it and a skip would hide that the deployment files went unchecked."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        message = f"{name} is not installed (.ci/run installs it from Debian's packages)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def supportdesk_environment(folder: Path, **settings: str) -> dict[str, str]:
    """The environment of a ``supportdesk`` process on an SQLite file in ``folder``: this shell's
    variables without any SUPPORTDESK_* (so a developer's settings cannot change the outcome), then
    test settings, then ``settings`` (``login_attempts_per_address="2/hour"`` and the like)."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SUPPORTDESK_") and name != "FORWARDED_ALLOW_IPS"
    }
    environment.update(
        SUPPORTDESK_ENV="test",
        SUPPORTDESK_SECRET_KEY=TEST_SECRET_KEY,
        SUPPORTDESK_DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'supportdesk.db'}",
        # Scheduled jobs would only add log lines and database writes that no test here looks at.
        SUPPORTDESK_BACKGROUND="off",
    )
    environment.update({f"SUPPORTDESK_{name.upper()}": value for name, value in settings.items()})
    return environment


def run_supportdesk(environment: dict[str, str], folder: Path, *arguments: str) -> str:
    """``supportdesk ARGUMENTS`` in ``folder``; its standard output, once it has succeeded."""
    done = subprocess.run(  # noqa: S603  (our own command, fixed arguments)
        [str(SUPPORTDESK), *arguments],
        env=environment,
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, f"supportdesk {' '.join(arguments)}: {done.stderr}"
    return done.stdout


@dataclass(frozen=True)
class Server:
    """A running ``supportdesk serve``."""

    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        """What the server has logged so far, access log included."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str) -> str:
        """The log once it contains ``text`` (the access log line of a request may land just after its
        answer), or as it is after a few seconds."""
        deadline = time.monotonic() + 5
        while text not in (logged := self.log_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return logged


@contextmanager
def serving(environment: dict[str, str], folder: Path) -> Iterator[Server]:
    """``supportdesk serve`` on a free loopback port, ready to answer, and stopped afterwards."""
    port = free_port()
    log = folder / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603  (our own command, fixed arguments)
            [str(SUPPORTDESK), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            cwd=folder,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Server(port=port, log=log)
    try:
        wait_until_ready(process, f"{server.base_url}/readyz", server.log_text)
        yield server
    finally:
        stop(process)


def wait_until_ready(
    process: subprocess.Popen[bytes], url: str, log: Callable[[], str], client: httpx.Client | None = None
) -> None:
    """Wait until ``url`` answers 200, failing with the process's log if it ends or takes too long."""
    probe = client or httpx.Client(timeout=1, trust_env=False)
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                if probe.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{url} did not come up (exit status {process.poll()}):\n{log()}")
            time.sleep(0.05)
    finally:
        if client is None:
            probe.close()


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a process the test started, and wait for it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
