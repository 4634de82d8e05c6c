"""The budget bench's reading of the server's sampled counters: the most tokens in 60 s."""

from __future__ import annotations

import pytest

from flink_rag_bench.budget import max_in_window

pytestmark = pytest.mark.unit


def test_the_window_maximum_counts_from_the_last_sample_a_window_before():
    # (time s, server's total tokens so far)
    samples = [(0.0, 0), (10.0, 300), (59.0, 600), (61.0, 650), (125.0, 1000)]
    # At 61 s the last sample 60 s before is the one at 0 s: 650 in a window of 61 s - the
    # sparse samples err on the side of seeing more; at 125 s it is 1000 - 650.
    assert max_in_window(samples) == 650
    assert max_in_window(samples[:3]) == 600
    assert max_in_window([(0.0, 0), (70.0, 500), (200.0, 900)]) == 500
    assert max_in_window([]) == 0
