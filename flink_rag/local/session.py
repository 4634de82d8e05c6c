"""A shared local stack for test sessions: reuse what runs, start what is missing, and let the
last session out stop what test sessions started (never what `flink-rag local up` started)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator

from flink_rag.local.config import DEFAULT_TIMEOUT_S, LocalConfig
from flink_rag.local.endpoints import Endpoints, endpoints
from flink_rag.local.stack import Stack

TEST_OWNER = "tests"


@contextlib.contextmanager
def shared_stack(
    names: Iterable[str] | None = None,
    config: LocalConfig | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Iterator[Endpoints]:
    """Bring `names` (default: Kafka, MongoDB stand-in, LLM) up for the duration of the block."""
    stack = Stack(config)
    lease = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with stack.state.locked():
        stack.state.add_lease(lease)
    try:
        stack.up(names, timeout=timeout, owner=TEST_OWNER)
        yield endpoints(stack.config)
    finally:
        # Drop the lease and stop under one lock, so no session can join in between.
        with stack.state.locked():
            if stack.state.drop_lease(lease) == 0:
                stack.down_locked(owners={TEST_OWNER})
