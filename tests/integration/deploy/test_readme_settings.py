"""Every setting has its row in the README's configuration table, and the table names no other."""

from __future__ import annotations

import re

from supportdesk.config import Settings

from .processes import REPOSITORY

README = REPOSITORY / "README.md"


def test_the_configuration_table_lists_exactly_the_settings() -> None:
    rows = re.findall(r"^\| `(SUPPORTDESK_[A-Z0-9_]+)` \|", README.read_text(encoding="utf-8"), re.MULTILINE)
    settings = {f"SUPPORTDESK_{name.upper()}" for name in Settings.model_fields}

    assert sorted(rows) == sorted(settings)
