"""RPM / TPM limits of the load server, answered the way OpenAI answers them.

Each limit is a token bucket refilled continuously at limit/60 per second holding
`burst_seconds` worth of capacity, so a run of a few seconds already sees the steady rate.
A rejected request consumes nothing and is told how long to wait (Retry-After).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass
class Bucket:
    per_minute: float
    burst_seconds: float
    level: float = -1.0
    stamp: float = 0.0

    @property
    def capacity(self) -> float:
        return max(1.0, self.per_minute * self.burst_seconds / 60.0)

    def refill(self, now: float) -> None:
        if self.level < 0 and self.stamp == 0.0:
            self.level = self.capacity
        else:
            rate = self.per_minute / 60.0
            self.level = min(self.capacity, self.level + (now - self.stamp) * rate)
        self.stamp = now

    def wait_for(self, cost: float) -> float:
        """Seconds until `cost` fits (a cost above capacity only needs a full bucket)."""
        need = min(cost, self.capacity) - self.level
        return max(0.0, need / (self.per_minute / 60.0))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float
    headers: dict[str, str]


def format_reset(seconds: float) -> str:
    """OpenAI style durations: `20ms`, `1.5s`, `1m0s`."""
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    return f"{int(seconds // 60)}m{int(seconds % 60)}s"


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits; None disables a limit."""

    def __init__(
        self, rpm: float | None = None, tpm: float | None = None, burst_seconds: float = 1.0
    ) -> None:
        self._lock = threading.Lock()
        self._requests = Bucket(rpm, burst_seconds) if rpm else None
        self._tokens = Bucket(tpm, burst_seconds) if tpm else None

    def acquire(self, tokens: int, now: float | None = None) -> Decision:
        now = time.monotonic() if now is None else now
        with self._lock:
            waits = []
            for bucket, cost in ((self._requests, 1.0), (self._tokens, float(tokens))):
                if bucket is not None:
                    bucket.refill(now)
                    waits.append(bucket.wait_for(cost))
            wait = max(waits, default=0.0)
            allowed = wait <= 0.0
            if allowed:
                if self._requests is not None:
                    self._requests.level -= 1.0
                if self._tokens is not None:
                    self._tokens.level -= float(tokens)
            return Decision(allowed, wait, self._headers(wait))

    def _headers(self, wait: float) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, bucket in (("requests", self._requests), ("tokens", self._tokens)):
            if bucket is None:
                continue
            rate = bucket.per_minute / 60.0
            headers[f"x-ratelimit-limit-{name}"] = str(int(bucket.per_minute))
            headers[f"x-ratelimit-remaining-{name}"] = str(max(0, int(bucket.level)))
            missing = bucket.capacity - max(bucket.level, 0.0)
            headers[f"x-ratelimit-reset-{name}"] = format_reset(missing / rate)
        if wait > 0:
            headers["retry-after"] = str(max(1, math.ceil(wait)))
            headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
        return headers
