"""Live servers for end-to-end tests: the real CLI sets each one up and serves it on a loopback port.

There is one server per database backend, SQLite and PostgreSQL, started the first time a test asks
for it and stopped when the run ends. Each is seeded through its own API with a few objects of every
kind, so that generated requests can name objects that exist.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import coverage
import httpx
import pytest

from tests.fixtures.database import (
    BACKENDS,
    TEST_SECRET_KEY,
    create_postgres_database,
    drop_postgres_databases,
)

WORKSPACE = "live"
ADMIN_EMAIL = "root@live.example.com"


@dataclass
class LiveServer:
    """A running supportdesk and what the tests know about its data."""

    backend: str
    base_url: str
    token: str
    admin_id: int
    # Ids of objects the server has, by the name of the path parameter that takes them.
    ids: dict[str, list[int]] = field(default_factory=dict)
    # Agents that tickets may be assigned to. No generated request targets them (they are not in
    # ``ids``), so they stay active agents for the whole run.
    assignees: list[int] = field(default_factory=list)
    calendars: list[int] = field(default_factory=list)

    @property
    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate as the server's admin."""
        return {"Authorization": f"Bearer {self.token}"}

    # One client for the whole run, made on first use: each new client loads the system's certificate
    # authorities for an SSL context it never uses here, some tens of milliseconds per request made.
    _client: httpx.Client | None = field(default=None, repr=False)

    def client(self) -> httpx.Client:
        """The run's HTTP client for the server, authenticated as its admin; it stays open until the
        server stops, so use it without closing it."""
        if self._client is None:
            self._client = httpx.Client(base_url=self.base_url, headers=self.auth_headers, timeout=30)
        return self._client

    def close(self) -> None:
        """Close the client, if one was made."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def forget(self, parameter: str, value: Any) -> None:
        """Stop offering an id whose object was deleted."""
        known = self.ids.get(parameter, [])
        if value in known and len(known) > 1:
            known.remove(value)
        # Bodies name calendars from their own list (a policy's calendar_id): a deleted one is refused.
        if parameter == "calendar_id" and value in self.calendars and len(self.calendars) > 1:
            self.calendars.remove(value)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _created(response: httpx.Response) -> int:
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _listed(client: httpx.Client, path: str, **params: Any) -> list[int]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    items = body["items"] if isinstance(body, dict) else body
    return [int(item["id"]) for item in items]


WEEKDAYS = {"monday": [{"start": "09:00", "end": "17:00"}], "friday": [{"start": "09:00", "end": "15:00"}]}


def _seed(server: LiveServer) -> None:
    """Give the server a few objects of every kind, made through the API as a client would."""
    client = server.client()
    categories = client.get("/api/v1/workspace").json()["categories"]
    assignees = [
        _created(
            client.post(
                "/api/v1/admin/users",
                json={"email": f"agent{n}@live.example.com", "name": f"Agent {n}", "role": "agent"},
            )
        )
        for n in range(2)
    ]
    spare_users = [
        _created(
            client.post(
                "/api/v1/admin/users",
                json={"email": f"spare{n}@live.example.com", "name": f"Spare {n}", "role": "agent"},
            )
        )
        for n in range(3)
    ]
    for n in range(3):
        _created(client.post("/api/v1/customers", json={"email": f"client{n}@example.com", "name": f"C{n}"}))
    calendars = [
        _created(
            client.post(
                "/api/v1/sla/calendars",
                json={"name": f"Office {n}", "timezone": "Europe/Berlin", "weekly_hours": WEEKDAYS},
            )
        )
        for n in range(3)
    ]
    # The demo's policies cover tiers across all categories; these cover one category each.
    for category in categories[:3]:
        policy = {
            "name": f"Policy {category}",
            "tier": "free",
            "category": category,
            "calendar_id": calendars[0],
        }
        _created(client.post("/api/v1/sla/policies", json=policy))
    for n in range(3):
        trigger = {
            "name": f"Trigger {n}",
            "event": "created",
            "conditions": [{"field": "title", "operator": "contains", "value": "refund"}],
            "actions": [
                {"type": "add_tags", "tags": ["refund"]},
                {"type": "set_category", "value": categories[0]},
            ],
        }
        _created(client.post("/api/v1/triggers", json=trigger))
    for n in range(3):
        macro = {
            "name": f"Macro {n}",
            "actions": [{"type": "add_tags", "tags": ["answered"]}],
            "reply": "Thanks",
        }
        _created(client.post("/api/v1/macros", json=macro))
    # Tickets assigned to the admin leave notifications in the admin's inbox.
    for n in range(3):
        ticket = _created(
            client.post(
                "/api/v1/tickets",
                json={
                    "title": f"Seeded {n}",
                    "category": categories[0],
                    "assigned_agent_id": assignees[0],
                },
            )
        )
        _created(client.post(f"/api/v1/tickets/{ticket}/comments", json={"content": f"Note {n}"}))
        moved = client.patch(f"/api/v1/tickets/{ticket}", json={"assigned_agent_id": server.admin_id})
        assert moved.status_code == 200, moved.text
    server.assignees = [server.admin_id, *assignees]
    server.calendars = calendars
    server.ids = {
        "ticket_id": _listed(client, "/api/v1/tickets", limit=100),
        "customer_id": _listed(client, "/api/v1/customers", limit=100),
        "user_id": spare_users,
        "calendar_id": calendars[1:],
        "policy_id": _listed(client, "/api/v1/sla/policies"),
        "trigger_id": _listed(client, "/api/v1/triggers"),
        "macro_id": _listed(client, "/api/v1/macros"),
        "notification_id": _listed(client, "/api/v1/me/notifications", limit=100),
    }


@dataclass
class LiveServers:
    """The run's live servers, started on first use and stopped at the end."""

    directory: Path
    run_id: str
    # The backends that the selected tests use; they are started together, on first use.
    backends: set[str]
    # Whether each server gets the objects of every kind the contract tests name (_seed); the browser
    # journeys (tests/fixtures/browser.py) make their own and start sooner without them.
    seed: bool = True
    # More settings for every server of the run (``SUPPORTDESK_<NAME>`` variables).
    environment: dict[str, str] = field(default_factory=dict)
    servers: dict[str, LiveServer] = field(default_factory=dict)
    failures: dict[str, BaseException] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    # Each started backend's server environment, for more processes on the same database.
    environments: dict[str, dict[str, str]] = field(default_factory=dict)

    async def get(self, backend: str) -> LiveServer:
        """The server on ``backend``, started if it is not running yet."""
        if backend in self.failures:
            # A server that could not start is not tried again for every test that needs it.
            raise self.failures[backend]
        if backend not in self.servers:
            await self._start_all({backend, *self.backends})
            if backend in self.failures:
                raise self.failures[backend]
        return self.servers[backend]

    async def _start_all(self, backends: set[str]) -> None:
        """Start the servers side by side: most of the time goes into the CLI's processes."""
        urls: dict[str, str] = {}
        for backend in sorted(backends):
            try:
                urls[backend] = await self._database_url(backend)
            except (pytest.skip.Exception, pytest.fail.Exception) as error:
                self.failures[backend] = error
        started = await asyncio.gather(
            *(asyncio.to_thread(self._start, backend, url) for backend, url in urls.items()),
            return_exceptions=True,
        )
        for backend, outcome in zip(urls, started, strict=True):
            if isinstance(outcome, LiveServer):
                self.servers[backend] = outcome
            else:
                self.failures[backend] = outcome

    async def _database_url(self, backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.directory / 'live.db'}"
        name = f"supportdesk_e2e_{self.run_id}"
        # Skips or fails (in CI) the PostgreSQL leg when no server is reachable.
        url = await create_postgres_database(name)
        self.databases.append(name)
        return url

    def _start(self, backend: str, database_url: str) -> LiveServer:
        env = {
            **os.environ,
            "SUPPORTDESK_ENV": "test",
            "SUPPORTDESK_SECRET_KEY": TEST_SECRET_KEY,
            "SUPPORTDESK_DATABASE_URL": database_url,
            "SUPPORTDESK_LOG_LEVEL": "warning",
            # The server's e-mail (no providers configured) is kept here, not in the working directory.
            "SUPPORTDESK_MAIL_DIR": str(self.directory / f"{backend}-mail"),
            "SUPPORTDESK_ATTACHMENT_DIR": str(self.directory / f"{backend}-attachments"),
            **self.environment,
        }
        # One process runs the set-up commands; the server starts once the schema exists, while the data
        # is loaded: it needs only the schema to start, and starting takes as long as loading.
        setup_log = self.directory / f"{backend}-setup.log"
        with setup_log.open("wb") as errors_out:
            setup = subprocess.Popen(  # noqa: S603  (our own commands, fixed arguments)
                [
                    sys.executable,
                    "-m",
                    "tests.e2e.commands",
                    "db upgrade",
                    f"demo --workspace {WORKSPACE} --tickets 25 --customers 5",
                    f"users create {ADMIN_EMAIL} --role admin --workspace {WORKSPACE}",
                    f"tokens create {ADMIN_EMAIL} --workspace {WORKSPACE}",
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=errors_out,
                text=True,
            )
        assert setup.stdout is not None
        done = [json.loads(setup.stdout.readline() or "null")]
        if done[0] is None:
            setup.wait()
            raise RuntimeError(f"the {backend} schema was not set up: {setup_log.read_text()}")
        port = _free_port()
        server = self._serve(env, port, self.directory / f"{backend}-server.log")
        rest, _ = setup.communicate()
        if setup.returncode != 0:
            raise RuntimeError(f"the {backend} server's data was not set up: {setup_log.read_text()}")
        done += [json.loads(line) for line in rest.splitlines()]
        token = done[-1]["output"].strip()
        assert token.startswith("sdk_"), token
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_ready(server, base_url)
        self.environments[backend] = env
        me = httpx.get(f"{base_url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert me.status_code == 200, me.text
        live = LiveServer(backend=backend, base_url=base_url, token=token, admin_id=int(me.json()["id"]))
        if self.seed:
            _seed(live)
        return live

    def _serve(self, env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
        log = log_path.open("wb")
        server = subprocess.Popen(  # noqa: S603  (our own command, fixed arguments)
            [sys.executable, "-m", "supportdesk.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.processes.append(server)
        return server

    async def another(self, backend: str) -> str:
        """One more server process on the database of ``backend``'s server (started first if need be),
        as a deployment runs several: the new process's address."""
        await self.get(backend)
        port = _free_port()
        log_path = self.directory / f"{backend}-server-{len(self.processes)}.log"
        server = self._serve(self.environments[backend], port, log_path)
        base_url = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(_wait_until_ready, server, base_url)
        return base_url

    async def close(self) -> None:
        """Stop every server and drop the PostgreSQL databases."""
        for server in self.servers.values():
            server.close()
        for process in self.processes:
            process.terminate()
            process.wait(timeout=10)
        await drop_postgres_databases(self.databases)


def _wait_until_ready(server: subprocess.Popen[bytes], base_url: str) -> None:
    """Wait until the server at ``base_url`` answers that it is ready; fail if it stopped or never did."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server at {base_url} did not start (exit code {server.poll()})")
        time.sleep(0.1)


def _backends_in_use(items: list[pytest.Item]) -> set[str]:
    """The backends the selected tests run on (a run with ``-m "not postgres"`` needs no PostgreSQL)."""
    backends = set()
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "live_server" in callspec.params:
            backends.add(str(callspec.params["live_server"]))
    return backends


@pytest.fixture(scope="session")
async def live_servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> AsyncIterator[LiveServers]:
    """The run's live servers."""
    # Unique per run and worker, so two test runs on one PostgreSQL server never share a database.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", uuid.uuid4().hex)[:8]
    # Under xdist every worker collects every test, but all of them are scheduled on one worker
    # (tests/conftest.py, shared_server_group), which starts the servers of every backend the selected
    # tests use side by side on first use; the other workers never ask for a server.
    servers = LiveServers(
        directory=tmp_path_factory.mktemp("live"),
        run_id=f"{run}_{worker_id}",
        backends=_backends_in_use(request.session.items),
    )
    yield servers
    await servers.close()


@pytest.fixture(params=BACKENDS)
async def live_server(request: pytest.FixtureRequest, live_servers: LiveServers) -> LiveServer:
    """supportdesk on a fresh database of this test's backend, with an admin, demo data and a few
    objects of every kind."""
    return await live_servers.get(str(request.param))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Runs an end-to-end test with coverage's tracer off in this thread.

    The application under test runs in the servers' own processes, which coverage does not measure. In
    this process the test generates, sends and checks requests (schemathesis, Hypothesis, httpx); of the
    measured package it only calls the e-mail check that the schema's e-mail strategy filters with, which
    the unit tests cover line for line and branch for branch, so the totals are the same file by file.
    Tracing the rest records nothing, yet every call goes through the tracer and its greenlet
    bookkeeping, which made these tests a quarter to two thirds slower under coverage. The tracer is put
    back as it was, so the tests that follow in this process are measured as before.
    """
    tracer = sys.gettrace()
    if tracer is None or coverage.Coverage.current() is None:
        return (yield)
    sys.settrace(None)
    try:
        return (yield)
    finally:
        sys.settrace(tracer)
