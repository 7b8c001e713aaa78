"""Test-wide configuration: settings for tests, and the fixture modules every test can use."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.clock",
    "tests.fixtures.database",
    "tests.factories.workspaces",
    "tests.factories.people",
    "tests.factories.tickets",
    "tests.factories.automation",
    "tests.fixtures.app",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by their folder, so `-m unit` and `-m integration` select what they say."""
    for item in items:
        path = item.path.as_posix()
        if "/tests/unit/" in path:
            item.add_marker(pytest.mark.unit)
        elif "/tests/integration/" in path:
            item.add_marker(pytest.mark.integration)
        elif "/tests/e2e/" in path:
            item.add_marker(pytest.mark.e2e)
