"""What connectors report, kept free of Flink: the UDFs adapt it to Flink's metric group."""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol


class Metrics(Protocol):
    def incr(self, name: str, n: int = 1) -> None:
        """Add n to the counter `name`."""

    def observe(self, name: str, value: float) -> None:
        """Record one value (e.g. a latency in ms) of the distribution `name`."""


class NullMetrics:
    """Discards everything; the default when nobody listens."""

    def incr(self, name: str, n: int = 1) -> None:
        pass

    def observe(self, name: str, value: float) -> None:
        pass


class RecordingMetrics:
    """Keeps counters and observed values in memory, for tests and the benchmark."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = defaultdict(int)
        self.values: dict[str, list[float]] = defaultdict(list)

    def incr(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def observe(self, name: str, value: float) -> None:
        self.values[name].append(value)
