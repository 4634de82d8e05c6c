"""VectorStore.search_many: bounded overlap, answers in input order, per-row errors as values."""

from __future__ import annotations

import random
import threading
import time

import pytest

from flink_rag.connectors.errors import InputError
from flink_rag.connectors.mongodb_store import VectorStore
from flink_rag.connectors.settings import StoreSettings
from flink_rag.connectors.vector_hits import Hit

pytestmark = pytest.mark.unit


class _Echo(VectorStore):
    """search() answers with the row's own input after a random delay; counts overlap."""

    def __init__(self, concurrency: int):
        super().__init__(StoreSettings.from_options("s", {"concurrency": str(concurrency)}, {}))
        self.lock = threading.Lock()
        self.in_flight = self.peak = 0

    def _require_index(self):  # no server: the lookups below never reach one
        return None

    def search(self, query_vector, k, filter=None):
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(random.uniform(0.001, 0.02))
            if query_vector is None:
                raise InputError("query vector is NULL")
            return [Hit(id=f"{query_vector[0]}-{k}-{filter}", score=1.0, content=None)]
        finally:
            with self.lock:
                self.in_flight -= 1


def test_answers_come_back_in_input_order_each_from_its_own_row():
    store = _Echo(concurrency=6)
    requests = [([float(i)], i % 7 + 1, f"f{i}") for i in range(120)]
    requests[17] = (None, 3, None)
    results = store.search_many(requests)
    store.close()
    assert len(results) == len(requests)
    for (vector, k, flt), result in zip(requests, results, strict=True):
        if vector is None:
            assert isinstance(result, InputError)
        else:
            assert isinstance(result, list)
            assert result[0].id == f"{vector[0]}-{k}-{flt}"
    assert 1 < store.peak <= 6


def test_concurrency_one_runs_one_at_a_time():
    store = _Echo(concurrency=1)
    results = store.search_many([([float(i)], 1, None) for i in range(10)])
    assert [r[0].id for r in results] == [f"{float(i)}-1-None" for i in range(10)]
    assert store.peak == 1
