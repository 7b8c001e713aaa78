"""The tests that share servers are scheduled together: one start per run, not one per worker; the
end-to-end tests of both databases form one group, so schemathesis builds its strategies once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_SERVER_GROUPS, shared_server_group

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("nodeid", "group"),
    [
        pytest.param(
            "tests/e2e/test_api_contract.py::test_x[GET /a][sqlite]",
            "live-servers",
            id="contract-sqlite",
        ),
        pytest.param(
            "tests/e2e/test_api_workflows.py::test_y[sqlite]", "live-servers", id="workflows-sqlite"
        ),
        pytest.param(
            "tests/e2e/test_api_workflows.py::test_y[postgresql]",
            "live-servers",
            id="workflows-postgresql",
        ),
        pytest.param("tests/e2e/browser/test_agent_workspace.py::test_b", "browser", id="browser-journeys"),
        pytest.param(
            "tests/integration/deploy/test_nginx_proxy.py::test_z", "nginx-proxy", id="behind-nginx"
        ),
        pytest.param("tests/unit/core/test_storage.py::test_w[s3]", "s3-server", id="s3-store"),
        pytest.param("tests/integration/deploy/test_systemd_units.py::test_u", None, id="no-server"),
        pytest.param("tests/integration/tickets/test_ticket_api.py::test_v[sqlite]", None, id="in-process"),
    ],
)
def test_each_test_is_placed_by_its_path(nodeid: str, group: str | None) -> None:
    assert shared_server_group(nodeid) == group


@pytest.mark.parametrize("prefix", sorted(SHARED_SERVER_GROUPS))
def test_every_group_names_tests_that_exist(prefix: str) -> None:
    # A moved folder or file would silently fall back to one server start per worker.
    assert (ROOT / prefix).exists()
