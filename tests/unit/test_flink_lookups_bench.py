"""The Flink lookup bench's pure parts: the steady rate, recall, answers and py-spy's output."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flink_rag_bench.flink_lookups import (
    cpu_snapshot,
    cpu_used,
    hit_ids,
    recall_at_k,
    steady_rate,
    top_functions,
    write_queries,
)

pytestmark = pytest.mark.unit


def test_the_steady_rate_starts_after_the_first_bundle():
    # Bundles of 2 rows: the first arrives at 10 s (the job's start), the next every second.
    stamps = [10.0, 10.0, 11.0, 11.0, 12.0, 12.0]
    assert steady_rate(stamps, 2) == pytest.approx(4 / 2)
    # The start-up does not count however long it was.
    assert steady_rate([s + 100 for s in stamps[:2]] + [s + 100 for s in stamps[2:]], 2) == 2.0
    # One bundle only, or no time between: no rate rather than a made-up one.
    assert steady_rate(stamps[:2], 2) is None
    assert steady_rate([5.0, 5.0, 5.0], 1) is None
    assert steady_rate([], 1) is None
    assert steady_rate(stamps, 0) is None


@given(
    st.integers(1, 50),
    st.lists(st.floats(0.001, 10.0, allow_nan=False), min_size=2, max_size=40),
)
def test_the_steady_rate_is_rows_after_the_bundle_over_their_time(skip, gaps):
    stamps = [0.0]
    for g in gaps:
        stamps.append(stamps[-1] + g)
    rate = steady_rate(stamps, skip)
    if len(stamps) <= skip:
        assert rate is None
    else:
        span = stamps[-1] - stamps[skip - 1]
        assert rate == pytest.approx((len(stamps) - skip) / span)
        assert rate > 0


def test_recall_counts_the_exact_top_k_among_the_returned_ids():
    truth = [set(range(10)), set(range(10, 20))]
    found = {0: list(range(10)), 1: [10, 11, 12, 13, 14, 99, 98, 97, 96, 95]}
    assert recall_at_k(found, truth) == pytest.approx((1.0 + 0.5) / 2)
    # A row the job never returned counts as nothing found, not as left out.
    assert recall_at_k({0: list(range(10))}, truth) == pytest.approx(0.5)
    # Ids past k do not count, duplicates count once.
    assert recall_at_k({0: [0] * 10 + list(range(1, 10))}, truth[:1]) == pytest.approx(0.1)
    assert recall_at_k({}, []) == 0.0


def test_answers_give_their_ids_and_error():
    answer = json.dumps(
        {"hits": [{"id": "7", "score": 0.9}, {"id": 3, "score": 0.8}], "error": None}
    )
    assert hit_ids(answer) == ([7, 3], None)
    assert hit_ids(json.dumps({"hits": [], "error": "timed out"})) == ([], "timed out")
    with pytest.raises(ValueError):
        hit_ids("not json")


def test_queries_are_written_as_json_lines_flink_reads(tmp_path):
    queries = np.array([[0.5, -0.25], [1.0, 0.0]], dtype=np.float32)
    path = tmp_path / "q.json"
    write_queries(path, queries)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [{"id": 0, "v": [0.5, -0.25]}, {"id": 1, "v": [1.0, 0.0]}]


def test_top_functions_reads_py_spys_collapsed_stacks(tmp_path):
    raw = tmp_path / "profile.txt"
    raw.write_text(
        "main (a.py:1);search (store.py:5);recv (socket.py:9) 30\n"
        "main (a.py:1);encode (bson.py:2) 10\n"
        "main (a.py:1);search (store.py:5);recv (socket.py:9) 10\n"
        "garbage line\n\n"
    )
    assert top_functions(raw) == [("recv (socket.py:9)", 0.8), ("encode (bson.py:2)", 0.2)]
    assert top_functions(raw, 1) == [("recv (socket.py:9)", 0.8)]
    # Inclusive: a frame counts once per stack wherever it is.
    assert top_functions(raw, inclusive=True) == [
        ("main (a.py:1)", 1.0), ("recv (socket.py:9)", 0.8), ("search (store.py:5)", 0.8),
        ("encode (bson.py:2)", 0.2),
    ]  # fmt: skip
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert top_functions(empty) == []


class _Proc:
    """A process whose CPU times are scripted; None: it has ended."""

    def __init__(self, *times: float | None) -> None:
        self.times = list(times)

    def cpu_times(self):
        t = self.times.pop(0)
        if t is None:
            raise psutil.NoSuchProcess(1)
        return SimpleNamespace(user=t, system=0.0)


def test_cpu_used_leaves_out_a_process_that_ended_instead_of_counting_negative_time():
    worker, launcher, gone = _Proc(2.0, 3.5), _Proc(5.0, None), _Proc(None)
    snap = cpu_snapshot([worker, launcher, gone])
    assert snap == {worker: 2.0, launcher: 5.0}  # one already gone is not in the snapshot
    assert cpu_used(snap) == pytest.approx(1.5)
    assert cpu_used({}) == 0.0
