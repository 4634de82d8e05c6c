"""Waiting out an endpoint outage: an unreachable, timing-out or failing (5xx) provider delays
a row's answer for a bounded time instead of turning it into an error.

Why a loop around the SDK's retries: the SDK retries a fixed number of times with backoff
capped at a few seconds, so a 30 s outage (a restarted server, a network cut) uses them up and
every row in flight gets an error. The loop counts time, not attempts: up to `wait_s` seconds
after the first failure, then the error is raised as it is. Each wait shows in the metrics
(`<prefix>_outage_retries`, `<prefix>_outage_wait_ms`). Rate limits (429) are not outages:
`openai_http.wait_out_rate_limits` handles them. MongoDB lookups use the same loop with
`is_mongo_outage`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from .metrics import Metrics

T = TypeVar("T")

# Pause between attempts while the outage lasts (seconds): doubling from the first, capped.
BACKOFF_S = (0.5, 5.0)


def is_outage(err: BaseException) -> bool:
    """Connection refused or reset, a timeout, or a server error: worth waiting for."""
    import openai

    if isinstance(err, openai.APIStatusError):
        return err.status_code >= 500
    return isinstance(err, openai.APIConnectionError)  # includes APITimeoutError


def is_mongo_outage(err: BaseException) -> bool:
    """No server reachable, connection lost, or a network timeout (not a refused command)."""
    from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError

    return isinstance(err, ConnectionFailure | ServerSelectionTimeoutError)


def wait_out_outages(
    call: Callable[[], T],
    wait_s: float,
    metrics: Metrics,
    prefix: str,
    sleep: Callable[[float], None] | None = None,
    retry_if: Callable[[BaseException], bool] = is_outage,
) -> T:
    """`call()`, repeated while it fails with an outage (`retry_if`), for at most `wait_s`
    seconds after the first failure."""
    started: float | None = None
    attempt = 0
    while True:
        try:
            result = call()
        except Exception as err:
            if wait_s <= 0 or not retry_if(err):
                raise
            now = time.monotonic()
            started = now if started is None else started
            remaining = started + wait_s - now
            if remaining <= 0:
                metrics.observe(f"{prefix}_outage_wait_ms", int((now - started) * 1000))
                raise
            attempt += 1
            metrics.incr(f"{prefix}_outage_retries")
            low, high = BACKOFF_S
            pause = min(high, low * 2 ** (attempt - 1)) * random.uniform(1.0, 1.5)
            (sleep or time.sleep)(min(remaining, pause))
            continue
        if started is not None:
            metrics.observe(f"{prefix}_outage_wait_ms", int((time.monotonic() - started) * 1000))
        return result
