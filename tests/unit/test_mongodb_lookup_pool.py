"""LookupPool: answers in input order, each row's exception as its value, `concurrency` at a
time, and a pool inherited through fork() neither used nor shut down by the child."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flink_rag.connectors import mongodb_lookup_pool
from flink_rag.connectors.mongodb_lookup_pool import LookupPool

pytestmark = pytest.mark.unit


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.integers(-1000, 1000), max_size=40),
    concurrency=st.integers(1, 8),
)
def test_each_answer_is_its_own_requests_in_its_place(values, concurrency):
    pool = LookupPool("s", concurrency)

    def call(v: int) -> int:
        time.sleep((v % 3) / 1000)  # later requests may finish first
        if v % 7 == 0:
            raise ValueError(f"bad {v}")
        return v * 2

    try:
        results = pool.map(call, values)
    finally:
        pool.close()
    assert len(results) == len(values)
    for v, result in zip(values, results, strict=True):
        if v % 7 == 0:
            assert isinstance(result, ValueError) and str(result) == f"bad {v}"
        else:
            assert result == v * 2


def test_no_more_than_concurrency_run_at_once_and_one_runs_in_the_callers_thread():
    lock = threading.Lock()
    now = peak = 0
    threads: set[str] = set()

    def call(v: int) -> int:
        nonlocal now, peak
        with lock:
            now += 1
            peak = max(peak, now)
            threads.add(threading.current_thread().name)
        time.sleep(0.01)
        with lock:
            now -= 1
        return v

    pool = LookupPool("flights", 3)
    assert pool.map(call, list(range(30))) == list(range(30))
    pool.close()
    assert 1 < peak <= 3
    assert threads and all(name.startswith("lookup-flights") for name in threads)

    threads.clear()
    assert LookupPool("flights", 1).map(call, [1, 2, 3]) == [1, 2, 3]
    assert threads == {threading.current_thread().name}


def test_a_pool_inherited_through_fork_is_replaced_and_not_shut_down(monkeypatch):
    pool = LookupPool("s", 2)
    assert pool.map(lambda v: v, [1, 2]) == [1, 2]
    parent = pool._executor
    assert parent is not None
    monkeypatch.setattr(mongodb_lookup_pool.os, "getpid", lambda: -1)  # "the child"
    assert pool.map(lambda v: v + 1, [1, 2]) == [2, 3]
    child = pool._executor
    assert child is not parent
    pool.close()  # the child's own pool stops ...
    assert child._shutdown  # type: ignore[union-attr]
    assert not parent._shutdown  # ... the parent's is not the child's to stop
    monkeypatch.undo()
    parent.shutdown(wait=True)


def test_a_closed_pool_starts_again_when_used():
    pool = LookupPool("s", 2)
    assert pool.map(lambda v: -v, [1, 2, 3]) == [-1, -2, -3]
    pool.close()
    assert pool.map(lambda v: -v, [4, 5]) == [-4, -5]
    pool.close()
