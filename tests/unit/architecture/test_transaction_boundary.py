"""A change is committed in one place per kind of caller, never inside a flow or a service.

Requests end their unit of work through ``auth.dependencies.commit`` (which also stores an idempotent
response under its key); jobs and commands use ``Database.unit_of_work``. A ``commit()`` anywhere else
would let a use case make half of its change durable, or commit before the idempotency record exists.
The test reads the source, so it also covers modules no test imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import supportdesk

PACKAGE = Path(supportdesk.__file__).parent
BOUNDARIES = frozenset({"auth/dependencies.py", "db/session.py"})


def _commit_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "commit"
        # ``context.commit(...)`` and ``commit(...)`` are the boundary itself; a session's is not.
        and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "context")
    ]


def test_only_the_boundaries_commit() -> None:
    found = {
        f"{path.relative_to(PACKAGE).as_posix()}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).as_posix() not in BOUNDARIES
        for line in _commit_calls(path)
    }
    assert found == set(), "commit outside the unit-of-work boundaries"


def test_the_boundaries_are_where_commits_happen() -> None:
    # The scan above passes vacuously if the boundaries move or are renamed; they must still commit.
    for boundary in sorted(BOUNDARIES):
        assert _commit_calls(PACKAGE / boundary), f"{boundary} no longer commits"


def test_the_scan_sees_a_session_commit(tmp_path: Path) -> None:
    module = tmp_path / "service.py"
    module.write_text(
        "async def close(session, context):\n"
        "    await context.commit(None)\n"
        "    await session.commit()\n"
        "    await context.session.commit()\n"
    )
    assert _commit_calls(module) == [3, 4]
