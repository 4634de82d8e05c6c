from __future__ import annotations

import pytest
from demo_run import DemoRun, run_demo


@pytest.fixture(scope="session")
def demo_run(local_stack, tmp_path_factory) -> DemoRun:
    """The demo scenario, run once per session on the local stack (see demo_run.py)."""
    return run_demo(
        local_stack.kafka_bootstrap,
        local_stack.mongodb_uri,
        local_stack.llm_base_url,
        tmp_path_factory.mktemp("demo-cache"),
    )
