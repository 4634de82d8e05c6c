"""Waiting out an endpoint outage: an unreachable or failing (5xx) provider delays a row's
answer for a bounded time instead of turning it into an error.

Why a loop around the SDK's retries: the SDK retries a fixed number of times with backoff
capped at a few seconds, so a 30 s outage (a restarted server, a network cut) uses them up and
every row in flight gets an error. The loop (tenacity) counts time, not attempts, and the clock
starts with the row's first attempt: no attempt starts after `wait_s`, so a row's wait ends by
`wait_s` plus one attempt, not `wait_s` after its first failure as it used to (which, with
slow attempts, ran past Flink's checkpoint timeout and made the job fail over and repeat the
work). Each wait shows in the metrics (`<prefix>_outage_retries`, `<prefix>_outage_wait_ms`).

A read timeout is not an outage: the server took the request and is slow to answer (a long
generation, a heavy `$vectorSearch`). Sending it again multiplies cost and load - a lookup that
takes 12 s with a 10 s timeout was sent about 14 times in two minutes - so it fails the row
with a timeout error that says to raise the timeout. A connect timeout is an outage. Rate
limits (429) are not outages: `openai_http.wait_out_rate_limits` handles them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_before_delay,
    wait_exponential,
    wait_random,
)

from .call_limits import OUTAGE_BACKOFF_S
from .metrics import Metrics

T = TypeVar("T")

# Pause between attempts while the outage lasts (a module global so tests can shorten it).
BACKOFF_S = OUTAGE_BACKOFF_S
# Timeouts of these kinds (by class name: httpx and its fork raise the same names) mean the
# connection was never made, so the server is down or unreachable.
_CONNECT_TIMEOUTS = ("ConnectTimeout", "PoolTimeout")


def is_outage(err: BaseException) -> bool:
    """Connection refused or reset, a connect timeout, or a server error: worth waiting for."""
    import openai

    if isinstance(err, openai.APIStatusError):
        return err.status_code >= 500
    if isinstance(err, openai.APITimeoutError):
        return _caused_by(err, _CONNECT_TIMEOUTS)
    return isinstance(err, openai.APIConnectionError)


def is_mongo_outage(err: BaseException) -> bool:
    """No server reachable or the connection lost; not a slow answer (NetworkTimeout on an
    established connection) and not a refused command."""
    from pymongo.errors import ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError

    if isinstance(err, ServerSelectionTimeoutError):
        return True
    return isinstance(err, ConnectionFailure) and not isinstance(err, NetworkTimeout)


def _caused_by(err: BaseException, names: tuple[str, ...]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ in names:
            return True
        current = current.__cause__ or current.__context__
    return False


def wait_out_outages(
    call: Callable[[], T],
    wait_s: float,
    metrics: Metrics,
    prefix: str,
    sleep: Callable[[float], None] | None = None,
    retry_if: Callable[[BaseException], bool] = is_outage,
) -> T:
    """`call()`, repeated while it fails with an outage (`retry_if`); no attempt starts later
    than `wait_s` seconds after the first one began (or after its pause would end)."""
    if wait_s <= 0:
        return call()
    low, high = BACKOFF_S
    first_failure: list[float] = []

    def count(state: RetryCallState) -> None:
        if not first_failure:
            first_failure.append(time.monotonic())
        metrics.incr(f"{prefix}_outage_retries")

    def record() -> None:
        if first_failure:
            waited = time.monotonic() - first_failure[0]
            metrics.observe(f"{prefix}_outage_wait_ms", int(waited * 1000))

    retrying = Retrying(
        retry=retry_if_exception(retry_if),
        stop=stop_before_delay(wait_s),
        wait=wait_exponential(multiplier=low, max=high) + wait_random(0, low / 2),
        before_sleep=count,
        sleep=sleep or time.sleep,
        reraise=True,
    )
    try:
        result = retrying(call)
    except BaseException:
        record()
        raise
    record()
    return result
