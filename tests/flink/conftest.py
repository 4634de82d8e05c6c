"""Flink test fixtures: a TableEnvironment with real Python worker processes and the flink-rag
functions registered; Flink tests that read or write Kafka get just the local Kafka broker."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from flink_rag.local.log4j import use_quiet_mini_cluster_logs
from flink_rag.local.session import shared_stack

# Read when the JVM gateway starts (the first TableEnvironment of the pytest process), so they
# are set here, before any test module builds one: real worker processes and a capped heap.
os.environ.setdefault("_python_worker_execution_mode", "process")
os.environ.setdefault("JVM_ARGS", "-Xmx512m")
use_quiet_mini_cluster_logs()
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def local_kafka():
    with shared_stack(["kafka"]) as endpoints:
        yield endpoints.kafka_bootstrap


@pytest.fixture(scope="session")
def local_llm():
    """The real local LLM server (the others stay down): its endpoints."""
    with shared_stack(["llm"]) as endpoints:
        yield endpoints


@pytest.fixture
def udf_env() -> Callable[..., Any]:
    """`udf_env({"flink-rag.llm.base-url": ...}, **table_options)`: a streaming
    TableEnvironment (parallelism 1) with the flink-rag options and functions."""

    def make(options: Mapping[str, str] | None = None, **table_options: str) -> Any:
        from flink_rag.jobs.minicluster import table_env
        from flink_rag.udfs import configure, register

        t_env = table_env(options={k.replace("__", "."): v for k, v in table_options.items()})
        configure(t_env, dict(options or {}))
        register(t_env)
        return t_env

    return make


@pytest.fixture
def load_server() -> Iterator[Any]:
    """The deterministic OpenAI-compatible server, in its own process (the worker's calls must
    not compete with the driver's GIL)."""
    from flink_rag_bench.server_process import LoadServerProcess

    server = LoadServerProcess(latency_ms=0).start()
    try:
        yield server
    finally:
        server.stop()
