"""Shared fixtures. `local_stack` brings Kafka, the MongoDB stand-in and the LLM server up once
per session (reusing whatever already runs) and yields their `Endpoints`."""

from __future__ import annotations

import os
import signal

import pytest

from flink_rag.local.session import shared_stack


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
