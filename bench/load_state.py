"""State shared by the load server's handler threads: knobs, limits, fault schedule, counters."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from typing import Any

from flink_rag_bench.faults import FaultSchedule
from flink_rag_bench.rate_limits import RateLimiter


@dataclass(frozen=True)
class ServerConfig:
    """The knobs; every one is also a CLI flag (`--latency-ms` ...) and an /admin/config key."""

    latency_ms: float = 0.0  # per request
    item_cost_ms: float = 0.0  # per embedding input, added to the request latency
    dimensions: int = 256  # default vector size when the request has no `dimensions`
    rpm: float | None = None
    tpm: float | None = None
    burst_seconds: float = 1.0
    faults: tuple[str, ...] = ()
    timeout_sleep_s: float = 30.0  # how long a `timeout` fault sleeps before answering
    fault_retry_after_ms: int = 100  # Retry-After of an injected 429
    # A chat prompt holding `latency_ms=N` is answered after N ms instead of latency_ms: a
    # per-request latency spread chosen by the test or bench that writes the prompts.
    prompt_latency: bool = False

    def with_changes(self, changes: dict[str, Any]) -> ServerConfig:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(
                f"unknown load server knob(s) {sorted(unknown)}; known: {sorted(known)}"
            )
        if "faults" in changes:
            changes = {**changes, "faults": tuple(changes["faults"] or ())}
        return replace(self, **changes)


@dataclass
class Stats:
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    items: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    charged_tokens: int = 0  # what admitted requests took from the TPM bucket
    rate_limited: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    first_request_at: float | None = None  # wall clock, seconds
    # sha256 of the last Authorization header: tests check which key a client sent
    # without the key itself showing up in stats or test output.
    authorization_sha256: str | None = None
    last_response_at: float | None = None

    def snapshot(self) -> dict[str, Any]:
        by_endpoint: dict[str, dict[str, int]] = {}
        for (endpoint, status), n in sorted(self.requests.items()):
            by_endpoint.setdefault(endpoint, {})[str(status)] = n
        return {
            "requests": by_endpoint,
            "requests_total": sum(self.requests.values()),
            "ok_requests": sum(n for (_, s), n in self.requests.items() if s == 200),
            "items": dict(self.items),
            "items_total": sum(self.items.values()),
            "faults": dict(self.faults),
            "rate_limited": self.rate_limited,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tokens": self.prompt_tokens + self.completion_tokens,
            "charged_tokens": self.charged_tokens,
            "in_flight": self.in_flight,
            "authorization_sha256": self.authorization_sha256,
            "max_in_flight": self.max_in_flight,
            "first_request_at": self.first_request_at,
            "last_response_at": self.last_response_at,
        }


class Backend:
    """State shared by all handler threads: config, limiter, fault schedule, counters."""

    def __init__(self, config: ServerConfig) -> None:
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.stats = Stats()
        self.configure(config)

    def configure(self, config: ServerConfig) -> None:
        """Apply new knobs; fault counts and buckets restart only when their own knobs change."""
        old = getattr(self, "config", None)
        schedule = FaultSchedule.parse(config.faults)  # raises on a bad rule, before any change
        limits = (config.rpm, config.tpm, config.burst_seconds)
        with self.lock:
            if old is None or old.faults != config.faults:
                self.schedule = schedule
            if old is None or (old.rpm, old.tpm, old.burst_seconds) != limits:
                self.limiter = RateLimiter(*limits)
            self.config = config

    def reset(self) -> None:
        with self.lock:
            in_flight = self.stats.in_flight
            self.stats = Stats(in_flight=in_flight, max_in_flight=in_flight)

    def enter(self) -> None:
        with self.lock:
            self.stats.in_flight += 1
            if self.stats.first_request_at is None:
                self.stats.first_request_at = time.time()
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)

    def leave(self, endpoint: str, status: int) -> None:
        with self.lock:
            self.stats.in_flight -= 1
            self.stats.last_response_at = time.time()
            self.stats.requests[(endpoint, status)] += 1

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.stopping.wait(seconds)
