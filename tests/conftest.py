"""Test-wide configuration: settings for tests, and the fixture modules every test can use."""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import os
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from types import CodeType
from typing import Any, ParamSpec, TypeVar

import pytest
from _pytest import python
from _pytest.assertion import rewrite
from _pytest.config import PytestPluginManager
from _pytest.main import Session
from xdist.scheduler import LoadGroupScheduling

P = ParamSpec("P")
R = TypeVar("R")

# In an xdist worker, pytest-cov starts measuring twice: once as the worker starts, taking it for the
# controller (the worker's options still ask for several processes), and again, the measuring whose data
# the worker hands back, when its session starts. The first one's data is never saved, and all it sees
# is the import of this file and of the fixture modules below, which the controller measures and saves
# itself. Stopped here, before those imports, it no longer traces them: 2 s of CPU a worker.
_starting_coverage = sys.modules.get("coverage")
if os.environ.get("PYTEST_XDIST_WORKER") and _starting_coverage is not None:
    _unsaved = _starting_coverage.Coverage.current()
    if _unsaved is not None:
        _unsaved.stop()

pytest_plugins = [
    "tests.fixtures.clock",
    "tests.fixtures.database",
    "tests.factories.workspaces",
    "tests.factories.people",
    "tests.factories.tickets",
    "tests.factories.automation",
    "tests.factories.webhooks",
    "tests.factories.channels",
    "tests.fixtures.app",
    "tests.fixtures.receiver",
    "tests.fixtures.smtp",
    "tests.fixtures.s3",
    "tests.fixtures.security",
    "tests.fixtures.browser",
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


# Tests that share servers started once per xdist worker (session fixtures), by where they live. Each
# group goes to one worker, so its servers start once per run; every other test is scheduled on its own.
SHARED_SERVER_GROUPS = {
    # The browser journeys share one browser and one live server of their own (tests/fixtures/browser.py),
    # apart from the contract tests' servers, so the two groups run side by side on two workers.
    "tests/e2e/browser/": "browser",
    "tests/e2e/": "live-servers",
    "tests/integration/deploy/test_nginx_proxy.py": "nginx-proxy",
    "tests/unit/core/test_storage.py": "s3-server",
}


class SharedServerScheduling(LoadGroupScheduling):  # type: ignore[misc]  # xdist ships no types
    """xdist's ``loadgroup`` scheduling, with the groups read from the test's path.

    The ``xdist_group`` mark does not reach the scheduler with this pytest: xdist appends the group to
    a node id that pytest no longer reads back, so the marked tests were spread over every worker.
    """

    def _split_scope(self, nodeid: str) -> str:
        return shared_server_group(nodeid) or nodeid


def shared_server_group(nodeid: str) -> str | None:
    """The group of tests sharing servers that ``nodeid`` belongs to, if any.

    The end-to-end tests of both databases form one group: one worker starts both live servers side by
    side and runs them all. Split by database over two workers, each worker built schemathesis's
    strategies for every operation again, some 15 s of work done twice in a suite that keeps both
    workers busy.
    """
    return next((group for prefix, group in SHARED_SERVER_GROUPS.items() if nodeid.startswith(prefix)), None)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> SharedServerScheduling:
    return SharedServerScheduling(config, log)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop measuring coverage in xdist's controller once the session starts.

    The controller measures what its own start-up imports (the fixture modules and, through them, much
    of the package), which the workers, whose measuring starts later, would otherwise miss. After that it
    only schedules tests and prints their reports; no code of the package runs in it. Its tracer still
    went through every call of that work, with greenlet bookkeeping on each: the controller took 30.9 s
    of CPU over the whole suite with it, 21.5 s without, and the combined coverage is the same.
    """
    if hasattr(session.config, "workerinput") or not session.config.pluginmanager.hasplugin("dsession"):
        return
    plugin = session.config.pluginmanager.get_plugin("_cov")
    controller = getattr(plugin, "cov_controller", None)
    if controller is not None and controller.cov is not None:
        controller.pause()


# The garbage collector's cost, measured on tests/integration/tickets with coverage: 4.4 s of 45 s of
# CPU with Python's defaults, 1.3 s with the settings below. Each full collection walked every object
# the run keeps for good (modules, the models' metadata, the collected tests, the session's apps and
# servers), a few hundred thousand of them, to free a test's few cycles. Moved into the permanent
# generation once they are known to survive, they are no longer walked; a test's own garbage is still
# freed, by reference counting at once and by the collector's younger generations.
_COLLECT_AND_FREEZE_EVERY = 100
_finished_tests = itertools.count(1)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what collection leaves behind, and collect less often than after every 700 objects."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_logfinish(
    nodeid: str, location: tuple[str, int | None, str]
) -> Generator[None, None, None]:
    """Every hundred tests, free what is garbage and freeze what the run has kept since."""
    with _untraced():
        yield
    if next(_finished_tests) % _COLLECT_AND_FREEZE_EVERY == 0:
        gc.collect()
        gc.freeze()


# Rewriting a test module's assertions (parsing it, walking its tree, compiling it) is pytest's own work on
# the module's source: no code of the measured package runs in it, so coverage records nothing there. Yet
# with coverage on, every one of the millions of calls the tree walk makes goes through the tracer and its
# greenlet bookkeeping, and every process rewrites every test module at collection (nothing is cached:
# the environment forbids writing bytecode). Collecting the suite took 19.2 s of CPU per process with
# coverage, 14.8 s with the tracer paused while a module is rewritten. The module itself, and whatever it
# imports, still runs under the tracer, as before.
_rewrite_with_tracer = rewrite._rewrite_test


def _rewrite_untraced(fn: Path, config: pytest.Config) -> tuple[bytes, CodeType]:
    tracer = sys.gettrace()
    if tracer is None:
        return _rewrite_with_tracer(fn, config)
    sys.settrace(None)
    try:
        return _rewrite_with_tracer(fn, config)
    finally:
        sys.settrace(tracer)


rewrite._rewrite_test = _rewrite_untraced


# Collecting the suite is also mostly pytest's own work (building some 5,500 items, their fixture closures
# and parametrizations), which runs no code of the measured package either. What does run it is importing
# the test modules and the conftest files below this one, and those imports are measured as before: the
# tracer is paused for the collection as a whole and switched back on for each of them. The tracer is
# set and cleared in the same function call each time, which keeps coverage's record of the call stack
# in step, as pytest-cov's own pause does. Collecting took 24.4 s of CPU per worker, 19.7 s paused, and
# what collection measures (`--collect-only --cov`) is the same line for line.
_collection_tracers: list[Any] = []


def _traced_while_collecting(function: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(function)
    def traced(*args: P.args, **kwargs: P.kwargs) -> R:
        if not _collection_tracers or sys.gettrace() is not None:
            return function(*args, **kwargs)
        sys.settrace(_collection_tracers[-1])
        try:
            return function(*args, **kwargs)
        finally:
            sys.settrace(None)

    return traced


_perform_collect_traced = Session.perform_collect


def _perform_collect_untraced(self: Session, args: Any = None, genitems: bool = True) -> Any:
    tracer = sys.gettrace()
    if tracer is None:
        return _perform_collect_traced(self, args, genitems)
    sys.settrace(None)
    _collection_tracers.append(tracer)
    try:
        return _perform_collect_traced(self, args, genitems)
    finally:
        _collection_tracers.pop()
        sys.settrace(tracer)


Session.perform_collect = _perform_collect_untraced  # type: ignore[method-assign]
python.importtestmodule = _traced_while_collecting(python.importtestmodule)
PytestPluginManager._importconftest = _traced_while_collecting(  # type: ignore[method-assign]
    PytestPluginManager._importconftest
)


# A test's reports are pytest's and xdist's work as well: each phase's report is made, then serialized and
# sent to the controller, and the test's start and end are announced, some hundred thousand calls per
# thousand tests that the tracer went through for nothing, some 1.5 ms of CPU per test. Fixtures and the
# test itself run in other hooks (setup, call and teardown), which stay measured.
@contextlib.contextmanager
def _untraced() -> Iterator[None]:
    tracer = sys.gettrace()
    if tracer is None:
        yield
        return
    sys.settrace(None)
    try:
        yield
    finally:
        sys.settrace(tracer)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    with _untraced():
        return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> Generator[None, None, None]:
    with _untraced():
        return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_logstart(
    nodeid: str, location: tuple[str, int | None, str]
) -> Generator[None, None, None]:
    with _untraced():
        return (yield)
