"""The scan-mode vector cache: fetch only unseen ids, keep input order, expire after the TTL."""

from __future__ import annotations

import numpy as np
import pytest

from flink_rag.connectors.vector_cache import VectorCache

pytestmark = pytest.mark.unit

STORE = {
    "a": [1.0, 0.0],
    "b": [0.0, 1.0],
    "c": [1.0, 1.0],
    "short": [1.0],
    "text": ["x", "y"],
    "nan": [float("nan"), 1.0],
    ("composite", 1): [2.0, 2.0],
}


class Fetcher:
    def __init__(self, store=STORE):
        self.store = dict(store)
        self.calls: list[list] = []

    def __call__(self, ids):
        self.calls.append(list(ids))
        for doc_id in ids:
            if doc_id in self.store:
                yield doc_id, self.store[doc_id]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_returns_vectors_in_input_order():
    cache, fetch = VectorCache(2, ttl_s=60), Fetcher()
    ids, matrix = cache.vectors_for(["c", "a", "b"], fetch)
    assert ids == ["c", "a", "b"]
    assert matrix.dtype == np.float32
    assert matrix.tolist() == [[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]]


def test_only_unseen_ids_are_fetched():
    cache, fetch = VectorCache(2, ttl_s=60), Fetcher()
    cache.vectors_for(["a", "b"], fetch)
    ids, matrix = cache.vectors_for(["b", "c", "a"], fetch)
    assert fetch.calls == [["a", "b"], ["c"]]
    assert ids == ["b", "c", "a"]
    assert matrix.tolist() == [[0.0, 1.0], [1.0, 1.0], [1.0, 0.0]]
    assert cache.fetched == 3


def test_invalid_and_missing_vectors_are_skipped_and_remembered():
    cache, fetch = VectorCache(2, ttl_s=60), Fetcher()
    ids, matrix = cache.vectors_for(["short", "a", "text", "gone", "nan"], fetch)
    assert ids == ["a"]
    assert matrix.shape == (1, 2)
    cache.vectors_for(["short", "gone"], fetch)
    assert len(fetch.calls) == 1  # not asked again until the cache expires


def test_unhashable_ids_work():
    store = {"x": [1.0, 2.0]}

    def fetch(ids):
        for doc_id in ids:
            yield doc_id, store["x"] if doc_id == {"k": 1} else None

    ids, matrix = VectorCache(2, ttl_s=60).vectors_for([{"k": 1}], fetch)
    assert ids == [{"k": 1}]
    assert matrix.tolist() == [[1.0, 2.0]]


def test_expires_after_ttl():
    clock, fetch = Clock(), Fetcher()
    cache = VectorCache(2, ttl_s=10, clock=clock)
    cache.vectors_for(["a"], fetch)
    fetch.store["a"] = [5.0, 5.0]  # changed in place
    clock.now = 5
    assert cache.vectors_for(["a"], fetch)[1].tolist() == [[1.0, 0.0]]
    clock.now = 11
    assert cache.vectors_for(["a"], fetch)[1].tolist() == [[5.0, 5.0]]
    assert fetch.calls == [["a"], ["a"]]


def test_ttl_zero_disables_caching():
    cache, fetch = VectorCache(2, ttl_s=0), Fetcher()
    cache.vectors_for(["a", "b"], fetch)
    cache.vectors_for(["a", "b"], fetch)
    assert fetch.calls == [["a", "b"], ["a", "b"]]
    assert len(cache) == 0


def test_grows_past_initial_capacity_and_respects_the_cap():
    store = {i: [float(i), 1.0] for i in range(700)}
    fetch = Fetcher(store)
    cache = VectorCache(2, ttl_s=60, max_vectors=1000)
    for start in range(0, 700, 100):
        cache.vectors_for(list(range(start, start + 100)), fetch)
    ids, matrix = cache.vectors_for(list(range(700)), fetch)
    assert len(cache) == 700
    assert matrix[:, 0].tolist() == [float(i) for i in range(700)]
    again = Fetcher({i: [0.0, 0.0] for i in range(400)})
    assert cache.vectors_for(list(range(400)), again)[1][5].tolist() == [5.0, 1.0]
    assert again.calls == []  # all seen: nothing fetched
    big = VectorCache(2, ttl_s=60, max_vectors=500)
    ids, matrix = big.vectors_for(list(range(700)), fetch)
    assert len(ids) == 700 and matrix.shape == (700, 2)
    assert len(big) == 0  # over the cap: answered but not kept


def test_empty_request():
    ids, matrix = VectorCache(3, ttl_s=60).vectors_for([], Fetcher())
    assert ids == [] and matrix.shape == (0, 3)
