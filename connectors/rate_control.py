"""Adaptive concurrency under a provider's rate limits, fed by its `x-ratelimit-*` headers.

Two controls, both shared by every thread of one client (thread-safe, blocking; an asyncio
caller runs them in its executor threads like the rest of the sync client):

- **Pacing** (a token bucket per limit). The provider says its limit (`x-ratelimit-limit-*`
  per minute: the refill rate), what is left (`remaining`) and when the bucket is full again
  (`reset`: gives its capacity). The client keeps a copy of each bucket, re-synchronised on
  every response: remaining at the moment the request was sent, plus the refill since, minus
  what this client sent after it. Every attempt - the SDK's own retries included - reserves
  its cost (1 request, its estimated tokens) and waits until its reservation is covered, so
  calls leave at the provider's refill rate instead of in bursts that it answers with 429.
- **Calls in flight** (AIMD): a 429 without `x-ratelimit-*` headers halves the limit (at most
  once per cool-down), each success adds 1/limit (one per round trip), between
  `min-concurrency` and `concurrency`: the control against a provider that sends only
  `retry-after`. A 429 with the headers re-synchronises the buckets instead, and pacing
  shrinks what is sent.

A 429's `retry-after-ms`/`retry-after` closes a gate for every thread until it has passed, so
the other calls do not hammer while the SDK's retry waits. Why hand-written: pyrate-limiter
and aiolimiter pace at a rate fixed in advance; neither re-synchronises from the provider's
headers nor adapts the calls in flight.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from .call_policy import remaining_s
from .errors import ProviderError
from .metrics import Metrics, NullMetrics

DIMENSIONS = ("requests", "tokens")
# Longest single pacing or retry-after wait of one attempt: the SDK's own cap on retry-after.
MAX_PACING_WAIT_S = 60.0
# Sends remembered to re-synchronise a bucket; responses older than these are ignored.
_MAX_SENDS = 4096
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str | None) -> float | None:
    """OpenAI's reset durations (`20ms`, `1s`, `6m0s`, `1h2m3.5s`) in seconds; None if not one."""
    if not text:
        return None
    text = text.strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        try:
            return max(0.0, float(text))  # a bare number of seconds
        except ValueError:
            return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms`, else `retry-after` in seconds (the SDK's order); None if absent."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue  # an HTTP date: the SDK handles it, the gate does not need it
    return None


@dataclass
class Bucket:
    """This client's copy of one provider bucket (requests or tokens)."""

    rate: float  # per second
    capacity: float
    level: float
    stamp: float
    sends: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=_MAX_SENDS))

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def reserve(self, cost: float, now: float) -> float:
        """Take `cost` (the level may go below zero: queued); seconds until it is covered."""
        self.refill(now)
        self.level -= cost
        wait = max(0.0, -self.level / self.rate)
        self.sends.append((now + wait, cost))
        return wait

    def sync(self, remaining: float, sent_at: float, now: float, lower_only: bool = False) -> None:
        """The provider had `remaining` when it admitted a request sent at `sent_at`."""
        later = sum(cost for at, cost in self.sends if at > sent_at)
        level = min(self.capacity, remaining + max(0.0, now - sent_at) * self.rate) - later
        if lower_only:
            self.refill(now)
            level = min(level, self.level)
        self.level, self.stamp = level, now


class RateController:
    """Shared by one client's threads: `slot()` around a call, the hooks around each attempt."""

    def __init__(
        self,
        max_limit: int,
        min_limit: int = 1,
        max_wait_s: float = 300.0,
        metrics: Metrics | None = None,
        prefix: str = "llm",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_limit = max(1, max_limit)
        self.min_limit = max(1, min(min_limit, self.max_limit))
        self.max_wait_s = max_wait_s
        self.metrics = metrics or NullMetrics()
        self.prefix = prefix
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Condition()
        self._limit = float(self.max_limit)
        self._in_flight = 0
        self._buckets: dict[str, Bucket] = {}
        self._gate_until = 0.0
        self._last_decrease = float("-inf")
        self._latency_s = 1.0  # smoothed success latency: the AIMD cool-down
        self._local = threading.local()

    @property
    def limit(self) -> int:
        """Calls allowed in flight now."""
        return int(self._limit)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def bucket(self, name: str) -> Bucket | None:
        return self._buckets.get(name)

    # -- around one call (all its attempts) ------------------------------------------------

    @contextmanager
    def slot(self, tokens: int = 0) -> Iterator[None]:
        """Hold one of the `limit` calls in flight; `tokens` is the call's estimated cost. The
        wait ends by `max_wait_s` or the row's deadline (call_policy), whichever is first."""
        left = remaining_s(self._clock)
        max_wait = self.max_wait_s if left is None else max(0.0, min(self.max_wait_s, left))
        deadline = self._clock() + max_wait
        with self._lock:
            waited = False
            while self._in_flight >= int(self._limit):
                left = deadline - self._clock()
                if left <= 0:
                    raise ProviderError(
                        f"no free call slot within {max_wait:g}s: the provider's rate "
                        f"limit allows {int(self._limit)} call(s) in flight now; lower the "
                        f"input rate or raise 'flink-rag.{self.prefix}.outage-wait' (the row's "
                        f"deadline) and '.rate-limit-wait'",
                        status=429,
                        retryable=True,
                    )
                waited = True
                self._lock.wait(min(left, 1.0))
            self._in_flight += 1
        if waited:
            self.metrics.incr(f"{self.prefix}_slot_waits")
        self._local.tokens = tokens
        try:
            yield
        finally:
            self._local.tokens = 0
            with self._lock:
                self._in_flight -= 1
                self._lock.notify()

    # -- around each HTTP attempt (httpx event hooks, in the calling thread) ----------------

    def before_send(self) -> None:
        """Wait for the retry-after gate and for this attempt's reservation in every bucket."""
        costs = {"requests": 1.0, "tokens": float(getattr(self._local, "tokens", 0) or 0)}
        with self._lock:
            now = self._clock()
            wait = max(0.0, self._gate_until - now)
            for name, bucket in self._buckets.items():
                if costs[name] > 0:
                    wait = max(wait, bucket.reserve(min(costs[name], bucket.capacity), now))
        if wait > 0:
            self.metrics.incr(f"{self.prefix}_rate_waits")
            self.metrics.observe(f"{self.prefix}_rate_wait_ms", wait * 1000)
            # Bounded: a reservation past the cap (or the row's deadline) goes out anyway and
            # the provider decides; its HTTP timeout is what the deadline leaves.
            left = remaining_s(self._clock)
            cap = MAX_PACING_WAIT_S if left is None else max(0.0, min(MAX_PACING_WAIT_S, left))
            self._sleep(min(wait, cap))
        self._local.sent_at = self._clock()

    def after_response(self, status: int, headers: Mapping[str, str]) -> None:
        """Feed one response's status and rate-limit headers (any status)."""
        now = self._clock()
        sent_at = getattr(self._local, "sent_at", None) or now
        with self._lock:
            synced = [self._sync(name, headers, sent_at, now, status) for name in DIMENSIONS]
            if status == 429:
                self._on_rate_limited(retry_after_s(headers), now, paced=any(synced))
            elif status < 400:
                self._latency_s += 0.2 * ((now - sent_at) - self._latency_s)
                if self._limit < self.max_limit:
                    self._limit = min(float(self.max_limit), self._limit + 1.0 / self._limit)
                    self.metrics.observe(f"{self.prefix}_concurrency_limit", self._limit)
                    self._lock.notify()

    def _sync(
        self, name: str, headers: Mapping[str, str], sent_at: float, now: float, status: int
    ) -> bool:
        try:
            per_minute = float(headers[f"x-ratelimit-limit-{name}"])
            remaining = float(headers[f"x-ratelimit-remaining-{name}"])
        except (KeyError, ValueError):
            return False
        if per_minute <= 0:
            return False
        rate = per_minute / 60.0
        reset = parse_duration(headers.get(f"x-ratelimit-reset-{name}"))
        # Capacity: what is left plus what refills until the bucket is full again. `remaining`
        # is rounded down, so the largest such sum seen is the closest to the truth.
        capacity = max(1.0, remaining + reset * rate) if reset is not None else per_minute
        bucket = self._buckets.get(name)
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[name] = Bucket(rate, capacity, remaining, now)
        bucket.capacity = max(bucket.capacity, capacity)
        level = remaining
        if reset is not None:
            # The fraction `remaining` drops, from the time to full (often finer than 1 call).
            level = min(remaining + 1.0, max(remaining, bucket.capacity - reset * rate))
        # A 429 only ever lowers the copy: the token its attempt did not take is already
        # spoken for by the calls queued behind it (raising the level there doubled a send).
        bucket.sync(level, sent_at, now, lower_only=status == 429)
        return True

    def _on_rate_limited(self, retry_after: float | None, now: float, paced: bool) -> None:
        self.metrics.incr(f"{self.prefix}_rate_limited_seen")
        if retry_after is not None:
            self._gate_until = max(self._gate_until, now + min(retry_after, MAX_PACING_WAIT_S))
        if paced:
            # The 429 came with the bucket's state, now re-synchronised: pacing slows the
            # sends. Halving the calls in flight as well could leave fewer than rate x
            # latency of them, below the limit the provider just told us.
            return
        cool_down = max(self._latency_s, retry_after or 0.0)
        if now - self._last_decrease >= cool_down and self._limit > self.min_limit:
            self._limit = max(float(self.min_limit), self._limit / 2)
            self._last_decrease = now
            self.metrics.observe(f"{self.prefix}_concurrency_limit", self._limit)


def estimated_tokens(messages: object, max_tokens: int | None) -> int:
    """A chat request's cost as OpenAI counts it before answering: ~4 characters per prompt
    token plus `max_tokens` (what the answer may use)."""
    chars = 0
    if isinstance(messages, list):
        for message in messages:
            content = message.get("content") if isinstance(message, Mapping) else None
            chars += len(content) if isinstance(content, str) else 0
    return (chars + 3) // 4 + (max_tokens or 0)
