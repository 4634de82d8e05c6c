"""The burst benchmark's summary of when answers left (bench/burst.py)."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flink_rag_bench.burst import BurstResult

pytestmark = pytest.mark.unit


def _result(arrivals: list[float]) -> BurstResult:
    return BurstResult("1", len(arrivals), len(arrivals), 0, 3.0, sorted(arrivals))


def test_groups_are_moments_more_than_half_a_second_apart() -> None:
    assert _result([10.0, 10.1, 10.2]).groups == 1  # one bundle: all at once
    assert _result([2.0, 4.1, 6.0, 6.3]).groups == 3
    assert _result([]).groups == 0


def test_row_reports_first_median_last() -> None:
    cells = [c.strip() for c in _result([1.0, 2.0, 9.0]).row().strip("|").split("|")]
    assert cells == ["1", "3", "3", "0", "1.0", "2.0", "9.0", "3", "3.0"]


def test_row_without_answers_says_nan_not_zero() -> None:
    cells = [c.strip() for c in _result([]).row().strip("|").split("|")]
    assert cells[4:7] == ["nan", "nan", "nan"]


@given(st.lists(st.floats(0, 600, allow_nan=False), min_size=1, max_size=60))
def test_groups_between_one_and_answers(arrivals: list[float]) -> None:
    r = _result(arrivals)
    assert 1 <= r.groups <= len(arrivals)
    assert not math.isnan(float(r.row().split("|")[5]))
