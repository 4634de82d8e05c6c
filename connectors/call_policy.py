"""One call policy for every remote call of a row (chat, embeddings, lookups): retries, waits
for outages and back-pressure, and ONE deadline per row that every layer spends.

A row's deadline is `outage-wait` plus one call's timeout, counted from its first attempt.
Every layer consumes the same budget and none starts an attempt after it:
- quick retries of transient failures (`max-retries`: what the SDK used to retry itself),
- outage waits (unreachable server, 5xx, connect timeouts) until `outage-wait` has passed,
- back-pressure waits (HTTP 429, Atlas overload errors) until `rate-limit-wait` has passed
  or only half a timeout of the deadline is left, whichever is first (a refusal comes back at
  once, so its waits may use part of the timeout's share; the attempt after the last wait
  still gets at least half a timeout),
- the waits for a call slot, the RPM limiter and pacing (rate_control.py), which read the
  row's deadline through `remaining_s()`,
- each attempt's own timeout, `min(timeout, time left)`.
So the worst case of a row is the deadline, below Flink's checkpoint timeout with the defaults
(call_limits.py).

Why the retries left the SDK (`max_retries=0` on the openai client): it counts attempts, each
one a full timeout, and cannot see the row's deadline; with its default of 6 and the outage
loop around it a row could wait about 15 minutes. pymongo keeps its one retryable read inside
an attempt because `pymongo.timeout()` bounds it with the attempt's time (mongodb_store.py).

The policy is a small immutable object composed once per client (like pathway's retry
strategies) and run per row; the loop is tenacity's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import RetryCallState, Retrying

from .call_limits import OUTAGE_BACKOFF_S, RATE_LIMIT_BACKOFF_S
from .metrics import Metrics, NullMetrics

T = TypeVar("T")
Predicate = Callable[[BaseException], bool]

# Pauses between attempts (module globals so tests can shorten them): doubling, capped.
OUTAGE_BACKOFF = OUTAGE_BACKOFF_S
BACK_PRESSURE_BACKOFF = RATE_LIMIT_BACKOFF_S

# The deadline (time.monotonic) of the row this thread is working on, for the waits of the
# layers below the policy (slots, pacing, the RPM limiter, the HTTP timeout of each attempt).
_DEADLINE: ContextVar[float | None] = ContextVar("flink_rag_row_deadline", default=None)


def remaining_s(clock: Callable[[], float] = time.monotonic) -> float | None:
    """Seconds left before the current row's deadline (None outside a policy run)."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - clock()


def _never(err: BaseException) -> bool:
    return False


def _no_hint(err: BaseException) -> float | None:
    return None


@dataclass(frozen=True)
class CallPolicy:
    """How one client's calls are retried and how long a row may take (see the module doc)."""

    prefix: str  # metric prefix: llm, embed, lookup
    timeout_s: float
    outage_wait_s: float
    rate_limit_wait_s: float
    max_retries: int = 0
    is_outage: Predicate = _never
    is_back_pressure: Predicate = _never
    is_transient: Predicate = _never  # worth a quick retry (within max_retries)
    retry_after_s: Callable[[BaseException], float | None] = _no_hint
    back_pressure_metric: str = "rate_limit_waits"
    metrics: Metrics = field(default_factory=NullMetrics)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    @property
    def deadline_s(self) -> float:
        """The longest a row takes: no attempt starts after outage-wait, the last one ends
        within its timeout."""
        return self.outage_wait_s + self.timeout_s

    def run(self, attempt: Callable[[float], T]) -> T:
        """`attempt(timeout_s)` until it succeeds or the policy gives up (the last error is
        raised, with `call_policy_note` saying how long and how often it was tried)."""
        start = self.clock()
        deadline = start + self.deadline_s
        window = start + self.outage_wait_s
        back_pressure_end = start + min(
            self.rate_limit_wait_s, self.outage_wait_s + self.timeout_s / 2
        )
        limit = [deadline]  # where the retry being decided must start by
        first_failure: list[float] = []
        low, high = OUTAGE_BACKOFF

        def retry(state: RetryCallState) -> bool:
            err = state.outcome.exception() if state.outcome is not None else None
            if err is None:
                return False
            quick = state.attempt_number <= self.max_retries
            if self.is_back_pressure(err):
                limit[0] = max(back_pressure_end, deadline if quick else 0.0)
                return True
            if self.is_outage(err):
                limit[0] = max(window, deadline if quick else 0.0)
                return True
            limit[0] = deadline
            return quick and self.is_transient(err)

        def pause(state: RetryCallState) -> float:
            err = state.outcome.exception() if state.outcome is not None else None
            n = state.attempt_number
            if err is not None and self.is_back_pressure(err):
                b_low, b_high = BACK_PRESSURE_BACKOFF
                delay = self.retry_after_s(err) or min(b_high, b_low * 2**n)
                # jitter spreads the waiting calls over the next window instead of one burst
                return delay * random.uniform(1.0, 1.5)
            return min(high, low * 2 ** (n - 1)) + random.uniform(0, low / 2)

        def stop(state: RetryCallState) -> bool:
            return self.clock() + (state.upcoming_sleep or 0.0) >= limit[0]

        def before_sleep(state: RetryCallState) -> None:
            err = state.outcome.exception() if state.outcome is not None else None
            if not first_failure:
                first_failure.append(self.clock())
            self.metrics.incr(f"{self.prefix}_retries")
            if err is not None and self.is_back_pressure(err):
                self.metrics.incr(f"{self.prefix}_{self.back_pressure_metric}")
            elif err is not None and self.is_outage(err):
                self.metrics.incr(f"{self.prefix}_outage_retries")

        def one_attempt() -> T:
            return attempt(max(0.001, min(self.timeout_s, deadline - self.clock())))

        retrying = Retrying(
            retry=retry,
            stop=stop,
            wait=pause,
            before_sleep=before_sleep,
            sleep=lambda s: self.sleep(max(0.0, min(s, limit[0] - self.clock()))),
            reraise=True,
        )
        token = _DEADLINE.set(deadline)
        try:
            return retrying(one_attempt)
        except BaseException as err:
            tries = retrying.statistics.get("attempt_number", 1)
            waited = self.clock() - start
            err.call_policy_attempts = tries  # type: ignore[attr-defined]
            err.call_policy_note = (  # type: ignore[attr-defined]
                f"{tries} attempt(s) in {waited:.1f}s of the row's {self.deadline_s:g}s "
                f"deadline (outage-wait {self.outage_wait_s:g}s + timeout {self.timeout_s:g}s)"
            )
            raise
        finally:
            _DEADLINE.reset(token)
            if first_failure:
                waited_ms = int((self.clock() - first_failure[0]) * 1000)
                self.metrics.observe(f"{self.prefix}_outage_wait_ms", waited_ms)


@contextmanager
def row_deadline(deadline: float | None) -> Iterator[None]:
    """Run the block under `deadline` (time.monotonic), as a policy run does (for tests)."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def note(err: BaseException) -> str:
    """What the policy tried before it gave up on `err` ('' if it did not run)."""
    text = getattr(err, "call_policy_note", None)
    return text if isinstance(text, str) else ""


def attempts(err: BaseException) -> int | None:
    """How many attempts the policy made before it gave up on `err` (None if it did not run)."""
    count = getattr(err, "call_policy_attempts", None)
    return count if isinstance(count, int) else None
