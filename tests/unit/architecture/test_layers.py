"""The import graph keeps the layers of docs/architecture.md, and domain packages never import in a loop.

Every module of ``supportdesk`` sits on one layer:

- entry points (``app``, ``asgi``, ``cli``, ``demo``, ``runtime``) wire everything together;
- the request edge of a domain (``router``, ``flows``, ``views``) parses, authorises and runs use cases
  that span domains;
- a domain's own modules (models, schemas, rules, services, tasks) hold its data and rules;
- the foundation (``core``, ``db``, ``config``) knows no domain.

A module may import from its own layer or below, never above, and the domain layer, read package by
package, has no cycle: a package that needs another's service sits above it, and a use case that needs
both lives in a flow. The graph is read from the source (imports under ``if TYPE_CHECKING:`` only name
types and do not count), so the test needs no import of the package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import supportdesk

PACKAGE = Path(supportdesk.__file__).parent
# ``runtime`` wires a process's background work (senders, the inbound channel's use case, jobs), as the
# app and the CLI wire theirs.
ENTRY_POINTS = frozenset({"app", "asgi", "cli", "demo", "runtime", "__main__"})
FOUNDATION = frozenset({"core", "db", "config", "__init__"})
# ``events`` decides what a use case announces to the outside (webhooks) from the API's view of the
# ticket, so it sits with the flows that call it. ``ticket_page`` renders the workspace's ticket page
# from the views, for the routes whose forms it shows again, so it sits with them.
EDGE_MODULES = frozenset({"router", "flows", "views", "events", "ticket_page"})
LAYER_NAMES = {3: "entry point", 2: "request edge", 1: "domain", 0: "foundation"}

# Imports that point upwards on purpose, to register things whenever a database is used: the model
# registry that completes the mappers, and the session hooks (audit, bare-model defaults, and the SLA
# clocks, which follow every change of a ticket from inside the flush so that tickets need not call SLA).
REGISTRATIONS = frozenset(
    {
        ("supportdesk.db.models", "*"),
        ("supportdesk.db.session", "supportdesk.audit.recorder"),
        ("supportdesk.db.session", "supportdesk.tickets.defaults"),
        ("supportdesk.db.session", "supportdesk.sla.clocks"),
    }
)

# Domain packages that still import each other in a loop, each edge named with its reason. None is left
# (the last, tickets <-> SLA, ended when the SLA clocks moved into the flush), and the list may only
# shrink: an edge that is gone must be taken off it.
KNOWN_LOOP_EDGES: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True, slots=True)
class Module:
    name: str  # supportdesk.tickets.service
    path: Path

    @property
    def package(self) -> str:
        parts = self.name.split(".")
        return parts[1] if len(parts) > 1 else "__init__"

    @property
    def stem(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def layer(self) -> int:
        if self.package in ENTRY_POINTS:
            return 3
        if self.package in FOUNDATION:
            return 0
        return 2 if self.stem in EDGE_MODULES else 1


def _modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        if "migrations" in relative.parts:
            continue
        name = ".".join(relative.parts).removesuffix(".__init__")
        found[name] = Module(name, path)
    return found


MODULES = _modules()


def _runtime_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(name: str) -> Module | None:
    """The module a dotted name refers to (``supportdesk.x.y`` may be module ``y`` or a name in ``x``)."""
    while name:
        if name in MODULES:
            return MODULES[name]
        name = name.rpartition(".")[0]
    return None


def _imports(module: Module) -> set[str]:
    targets: set[str] = set()
    for node in _runtime_imports(ast.parse(module.path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            names = [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            target = _resolve(name) if name.startswith("supportdesk") else None
            if target is not None and target.name != module.name:
                targets.add(target.name)
    return targets


GRAPH = {name: _imports(module) for name, module in MODULES.items()}


def _registration(source: str, target: str) -> bool:
    return (source, "*") in REGISTRATIONS or (source, target) in REGISTRATIONS


def test_the_graph_reads_the_package() -> None:
    # A parse that found nothing would make every other test here pass.
    assert "supportdesk.tickets.service" in MODULES
    assert "supportdesk.sla.service" in GRAPH["supportdesk.tickets.views"]
    assert MODULES["supportdesk.tickets.router"].layer == 2
    assert MODULES["supportdesk.core.clock"].layer == 0


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = [
        f"{source} ({LAYER_NAMES[MODULES[source].layer]}) imports {target} "
        f"({LAYER_NAMES[MODULES[target].layer]})"
        for source, targets in sorted(GRAPH.items())
        for target in sorted(targets)
        if MODULES[target].layer > MODULES[source].layer and not _registration(source, target)
    ]
    assert upward == []


def _package_edges() -> set[tuple[str, str]]:
    """Package -> package imports among the domain layer's modules."""
    return {
        (MODULES[source].package, MODULES[target].package)
        for source, targets in GRAPH.items()
        if MODULES[source].layer == 1
        for target in targets
        if MODULES[target].layer == 1 and MODULES[target].package != MODULES[source].package
    }


def _cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected groups of more than one package (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for following in sorted(graph[node]):
            if following not in index:
                visit(following)
                low[node] = min(low[node], low[following])
            elif following in stack:
                low[node] = min(low[node], index[following])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_domain_packages_import_each_other_in_no_loop_but_the_known_ones() -> None:
    edges = _package_edges()
    assert _cycles(edges - KNOWN_LOOP_EDGES) == []


def test_a_known_loop_edge_that_is_gone_leaves_the_list() -> None:
    gone = sorted(KNOWN_LOOP_EDGES - _package_edges())
    assert gone == [], f"{gone} no longer exist: remove them from KNOWN_LOOP_EDGES"


def test_the_cycle_finder_finds_a_loop() -> None:
    assert _cycles({("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}) == [["a", "b", "c"]]
    assert _cycles({("a", "b"), ("b", "c")}) == []


# The ways around the session's tenancy hook: a statement that names its workspace (checked by the hook
# against the session's) and the scoped workspace's id for statements run on the connection.
TENANCY_ESCAPES = frozenset({"NAMES_ITS_WORKSPACE", "required_workspace_id"})


def _uses_a_tenancy_escape(module: Module) -> bool:
    tree = ast.parse(module.path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "supportdesk.db.tenancy"
        and any(alias.name in TENANCY_ESCAPES for alias in node.names)
        for node in ast.walk(tree)
    )


def test_only_repository_modules_step_around_the_tenancy_hook() -> None:
    users = sorted(name for name, module in MODULES.items() if _uses_a_tenancy_escape(module))

    assert users, "the check found no use at all: it no longer reads what it should"
    assert [name for name in users if MODULES[name].stem != "repository"] == []
