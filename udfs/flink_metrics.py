"""The connectors' `Metrics` protocol on a UDF's Flink metric group.

PyFlink's Python metrics go through Beam's per-thread metrics container: an update made on
another thread (the connectors' thread pools) is silently dropped. So updates are buffered
under a lock from any thread and pushed to Flink by `flush()`, which the UDF calls from its
own eval thread after each batch. Counters become Flink counters; observed values (latency,
tokens) become Flink distributions (count/sum/min/max) under the group `flink_rag`.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from ..connectors.metrics import Metrics, NullMetrics
from ..connectors.profiles import DEFAULT_PROFILE

log = logging.getLogger(__name__)

GROUP = "flink_rag"
PROFILE_GROUP = "profile"


class FlinkMetrics:
    """Thread-safe buffer in front of a Flink metric group; call flush() on the eval thread."""

    def __init__(self, group: Any):
        self._group = group
        self._lock = threading.Lock()
        self._counts: dict[str, int] = defaultdict(int)
        self._values: dict[str, list[float]] = defaultdict(list)
        self._counters: dict[str, Any] = {}
        self._distributions: dict[str, Any] = {}

    def incr(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += int(n)

    def observe(self, name: str, value: float) -> None:
        with self._lock:
            self._values[name].append(value)

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, defaultdict(int)
            values, self._values = self._values, defaultdict(list)
        for name, n in counts.items():
            if n:
                self._counter(name).inc(n)
        for name, observed in values.items():
            distribution = self._distribution(name)
            for value in observed:
                distribution.update(round(value))  # Beam distributions hold integers

    def gauge(self, name: str, value: Callable[[], int]) -> None:
        """Register a gauge read by Flink when it reports (call on the eval thread, e.g. in
        open(): registration goes through the same per-thread container as updates)."""
        self._group.gauge(name, value)

    def _counter(self, name: str) -> Any:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = self._group.counter(name)
        return counter

    def _distribution(self, name: str) -> Any:
        distribution = self._distributions.get(name)
        if distribution is None:
            distribution = self._distributions[name] = self._group.distribution(name)
        return distribution


class _NullFlushing(NullMetrics):
    def flush(self) -> None:
        pass

    def gauge(self, name: str, value: Callable[[], int]) -> None:
        pass


def from_context(context: Any, profile: str = DEFAULT_PROFILE) -> FlinkMetrics | _NullFlushing:
    """Metrics for a UDF; a no-op when the job disabled Python metrics.

    A named model profile's metrics go to the key-value group `flink_rag.profile.<name>` (the
    variable `<profile>` for reporters that label); the default profile keeps the plain group,
    so the metric names of jobs without profiles do not change."""
    try:
        group = context.get_metric_group()
    except RuntimeError:  # python.metric.enabled=false
        return _NullFlushing()
    group = group.add_group(GROUP)
    if profile != DEFAULT_PROFILE:
        group = group.add_group(PROFILE_GROUP, profile)
    return FlinkMetrics(group)


__all__ = ["GROUP", "FlinkMetrics", "Metrics", "from_context"]
