"""Request planning: both provider caps hold, order is kept, bisecting halves a batch."""

import pytest

from flink_rag.connectors.batching import Batch, is_row_fault, plan_batches, split_in_half

pytestmark = pytest.mark.unit


def test_cuts_by_max_inputs():
    batches = plan_batches([1] * 5, max_inputs=2, max_tokens=100)
    assert [b.indices for b in batches] == [(0, 1), (2, 3), (4,)]
    assert [b.tokens for b in batches] == [2, 2, 1]


def test_cuts_by_max_tokens():
    batches = plan_batches([4, 4, 4, 1, 9], max_inputs=100, max_tokens=9)
    assert batches == [Batch((0, 1), 8), Batch((2, 3), 5), Batch((4,), 9)]


def test_both_caps_hold_and_every_item_is_planned_once():
    counts = [(i * 37) % 50 + 1 for i in range(500)]
    batches = plan_batches(counts, max_inputs=16, max_tokens=200)
    planned = [i for b in batches for i in b.indices]
    assert planned == list(range(500))
    for b in batches:
        assert len(b.indices) <= 16
        assert b.tokens == sum(counts[i] for i in b.indices) <= 200


def test_an_item_over_the_token_cap_gets_a_batch_of_its_own():
    batches = plan_batches([3, 50, 3], max_inputs=10, max_tokens=10)
    assert [b.indices for b in batches] == [(0,), (1,), (2,)]


def test_empty_and_invalid_plans():
    assert plan_batches([], max_inputs=10, max_tokens=10) == []
    with pytest.raises(ValueError):
        plan_batches([1], max_inputs=0, max_tokens=10)
    with pytest.raises(ValueError):
        plan_batches([-1], max_inputs=1, max_tokens=10)


def test_split_in_half():
    assert split_in_half((1, 2, 3, 4, 5)) == ((1, 2), (3, 4, 5))
    assert split_in_half((7,)) == ((), (7,))


@pytest.mark.parametrize(
    ("status", "expected"),
    [(400, True), (413, True), (422, True), (401, False), (404, False), (408, False),
     (409, False), (429, False), (500, False), (None, False)],
)  # fmt: skip
def test_only_content_rejections_are_row_faults(status, expected):
    assert is_row_fault(status) is expected
