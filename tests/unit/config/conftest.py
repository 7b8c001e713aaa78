"""What every settings test starts from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SUPPORTDESK_* variables, in an empty folder with no ``.env`` file, so neither the
    developer's shell nor a stray ``.env`` can change the outcome."""
    for name in list(os.environ):
        if name.startswith("SUPPORTDESK_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path
