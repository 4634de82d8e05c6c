"""Shared fixtures. `local_stack` brings Kafka, the MongoDB stand-in and the LLM server up once
per session (reusing whatever already runs) and yields their `Endpoints`. A failed flink or
integration test prints a "diagnostics" section (failure_report.py): what its fixtures
registered with `diagnostics` / `module_diagnostics`, and the tails of the logs that changed."""

from __future__ import annotations

import os
import signal
import time

import pytest
from failure_report import Diagnostics, default_log_dirs
from timing_report import TimingReport

from flink_rag.local.session import shared_stack

_DIAGNOSED_TIERS = ("flink", "integration", "live")
_STARTED = pytest.StashKey[float]()
_TEST_DIAGNOSTICS = pytest.StashKey[Diagnostics]()
_module_diagnostics: dict[str, Diagnostics] = {}
_modules_reported: set[str] = set()
_timing = TimingReport()


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    # The answer cache is on by default; tests count provider calls, and answers cached by
    # an earlier test or run would hide them. Tests of the cache name their own directory.
    os.environ.setdefault("FLINK_RAG_CACHE_DIR", "off")
    # A CI cancel or `timeout` sends SIGTERM; as KeyboardInterrupt it still runs session
    # teardown, so the stack processes the tests started are stopped, not leaked.
    signal.signal(signal.SIGTERM, _interrupt)


@pytest.fixture(scope="session")
def local_stack():
    with shared_stack() as endpoints:
        yield endpoints


@pytest.fixture(scope="module")
def module_diagnostics(request):
    """Sources a module-scoped fixture wants printed if any test of the module fails."""
    diagnostics = Diagnostics()
    _module_diagnostics[request.node.nodeid] = diagnostics
    return diagnostics


@pytest.fixture
def diagnostics(request):
    """Sources this test wants printed if it fails."""
    found = Diagnostics()
    request.node.stash[_TEST_DIAGNOSTICS] = found
    return found


def pytest_runtest_setup(item):
    item.stash[_STARTED] = time.time()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and any(item.get_closest_marker(t) for t in _DIAGNOSED_TIERS):
        module_id = item.module.__name__ if item.module else ""
        parts = []
        module = _module_diagnostics.get(item.parent.nodeid if item.parent else "")
        if module is not None and module_id not in _modules_reported:
            _modules_reported.add(module_id)
            parts.append(module.render(default_log_dirs()))
        elif module is not None:
            parts.append("(module diagnostics: printed with this module's first failure)")
        own = item.stash.get(_TEST_DIAGNOSTICS, None) or Diagnostics()
        own.since = min(own.since, item.stash.get(_STARTED, own.since))
        if module is None or item.stash.get(_TEST_DIAGNOSTICS, None) is not None:
            parts.append(own.render(default_log_dirs() if module is None else ()))
        report.sections.append(("diagnostics", "\n".join(parts)))
    return report


def pytest_runtest_logreport(report):
    _timing.add(report)


def pytest_terminal_summary(terminalreporter):
    if _timing.by_test:
        terminalreporter.section("time per tier")
        for line in _timing.lines():
            terminalreporter.write_line(line)
