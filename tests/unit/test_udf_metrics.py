"""The Flink metrics adapter buffers updates from any thread and pushes them on flush()."""

from __future__ import annotations

import threading

import pytest

from flink_rag.udfs import flink_metrics

pytestmark = pytest.mark.unit


class FakeCounter:
    def __init__(self):
        self.count = 0

    def inc(self, n=1):
        self.count += n


class FakeDistribution:
    def __init__(self):
        self.values = []

    def update(self, value):
        assert isinstance(value, int)
        self.values.append(value)


class FakeGroup:
    def __init__(self):
        self.counters, self.distributions, self.groups = {}, {}, []

    def add_group(self, name, extra=None):
        self.groups.append(name)
        return self

    def counter(self, name):
        return self.counters.setdefault(name, FakeCounter())

    def distribution(self, name):
        return self.distributions.setdefault(name, FakeDistribution())

    def gauge(self, name, obj):
        self.gauges = {**getattr(self, "gauges", {}), name: obj}


class Context:
    def __init__(self, group):
        self.group = group

    def get_metric_group(self):
        if self.group is None:
            raise RuntimeError("Metric has not been enabled")
        return self.group


def test_updates_from_threads_reach_flink_only_on_flush():
    group = FakeGroup()
    metrics = flink_metrics.from_context(Context(group))

    def work():
        for _ in range(1000):
            metrics.incr("llm_rows")
        metrics.observe("llm_latency_ms", 12.6)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert group.counters == {}
    metrics.flush()
    assert group.groups == [flink_metrics.GROUP]
    assert group.counters["llm_rows"].count == 8000
    assert group.distributions["llm_latency_ms"].values == [13] * 8
    metrics.flush()  # nothing new: nothing added twice
    assert group.counters["llm_rows"].count == 8000


def test_disabled_python_metrics_give_a_no_op():
    metrics = flink_metrics.from_context(Context(None))
    metrics.incr("x")
    metrics.observe("y", 1.0)
    metrics.flush()


def test_a_gauge_reads_its_value_when_flink_reports():
    group, left = FakeGroup(), [500]
    metrics = flink_metrics.from_context(Context(group), "triage")
    metrics.gauge("llm_budget_remaining_minute", lambda: left[0])
    left[0] = 120
    assert group.gauges["llm_budget_remaining_minute"]() == 120
    flink_metrics.from_context(Context(None)).gauge("x", lambda: 1)  # disabled: a no-op
