"""Token budget ledgers on a fake clock: never more than the limit in any window, settles that
refund, per-job budgets that never refill, several budgets reserved all or nothing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flink_rag.connectors.token_budget import (
    BudgetExhausted,
    BudgetLimits,
    TokenBudget,
    reserve,
    shared,
)

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, cond: object, seconds: float) -> None:
        self.now += seconds


def ledger(limits: BudgetLimits, clock: FakeClock) -> TokenBudget:
    return TokenBudget("profile 'p'", limits, clock=clock)


# A call: (seconds since the previous one, estimate, actual usage as a share of the estimate).
calls = st.lists(
    st.tuples(
        st.floats(0, 30, allow_nan=False),
        st.integers(1, 400),
        st.floats(0, 1, allow_nan=False),
    ),
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(calls=calls, limit=st.integers(50, 1000), waits=st.booleans())
def test_never_more_than_the_limit_in_any_60s_window(calls, limit, waits):
    clock = FakeClock()
    budget = ledger(BudgetLimits(per_minute=limit), clock)
    used: list[tuple[float, int]] = []  # what a server would see: (time sent, tokens used)
    for gap, estimate, share in calls:
        clock.now += gap
        try:
            held = reserve([budget], estimate, 45.0 if waits else 0.0, sleep=clock.sleep)
        except BudgetExhausted as err:
            assert str(err).startswith("budget_exhausted: profile 'p': ")
            continue
        actual = int(estimate * share)
        used.append((held.at, actual))
        held.settle(actual)
    for start, _ in used:
        in_window = sum(t for at, t in used if start <= at < start + 60)
        assert in_window <= limit


@settings(max_examples=100, deadline=None)
@given(calls=calls, limit=st.integers(50, 2000))
def test_a_job_budget_admits_at_most_its_total_ever(calls, limit):
    clock = FakeClock()
    budget = ledger(BudgetLimits(per_job=limit), clock)
    total = 0
    for gap, estimate, share in calls:
        clock.now += gap * 100  # hours pass: a job budget still never refills
        try:
            held = reserve([budget], estimate, 10.0, sleep=clock.sleep)
        except BudgetExhausted:
            continue
        held.settle(int(estimate * share))
        total += int(estimate * share)
    assert total <= limit
    assert budget.spent == total


def test_a_settle_refunds_the_unused_estimate():
    clock = FakeClock()
    budget = ledger(BudgetLimits(per_minute=100), clock)
    first = reserve([budget], 80, 0.0)
    with pytest.raises(BudgetExhausted, match="100 tokens per minute is spent"):
        reserve([budget], 30, 0.0)
    first.settle(20)
    first.settle(0)  # only the first settle counts
    assert budget.remaining("minute") == 80
    reserve([budget], 30, 0.0).settle(30)
    assert budget.remaining("minute") == 50
    assert budget.spent == 50


def test_a_waiting_call_goes_once_the_window_has_moved_on():
    clock = FakeClock(0.0)
    budget = ledger(BudgetLimits(per_minute=100), clock)
    reserve([budget], 100, 0.0).settle(100)
    clock.now = 30.0
    with pytest.raises(BudgetExhausted, match=r"spent for now \(waited 0.0s\)"):
        reserve([budget], 10, 0.0)
    held = reserve([budget], 10, 40.0, sleep=clock.sleep)
    # charged at 0 s in the bin [0, 1): counted until 61 s, conservatively
    assert held.at == pytest.approx(61.0)


def test_a_call_larger_than_the_budget_is_refused_at_once():
    clock = FakeClock()
    budget = ledger(BudgetLimits(per_minute=100, per_hour=1000), clock)
    with pytest.raises(BudgetExhausted, match="alone may use 101 tokens, more than 100 tokens"):
        reserve([budget], 101, 3600.0, sleep=clock.sleep)
    assert clock.now == 1000.0  # no waiting for what can never fit


def test_a_spent_job_budget_is_refused_without_waiting():
    clock = FakeClock()
    budget = ledger(BudgetLimits(per_job=100), clock)
    reserve([budget], 90, 0.0).settle(90)
    with pytest.raises(BudgetExhausted, match="100 tokens per job is spent"):
        reserve([budget], 20, 600.0, sleep=clock.sleep)
    assert clock.now == 1000.0


def test_several_budgets_are_reserved_all_or_nothing():
    clock = FakeClock()
    profile = ledger(BudgetLimits(per_minute=100), clock)
    connection = TokenBudget("connection 'c'", BudgetLimits(per_minute=150), clock=clock)
    reserve([profile, connection], 100, 0.0).settle(100)
    with pytest.raises(BudgetExhausted, match="profile 'p'"):
        reserve([profile, connection], 40, 0.0)
    assert connection.remaining("minute") == 50  # the refused call held nothing
    other = ledger(BudgetLimits(per_minute=1000), clock)
    with pytest.raises(BudgetExhausted, match="connection 'c'"):
        reserve([other, connection], 60, 0.0)
    assert other.remaining("minute") == 1000


def test_sql_lowers_an_operator_budget_and_never_raises_it():
    operator = BudgetLimits(per_minute=1000, per_day=50_000)
    mine = BudgetLimits(per_minute=5000, per_hour=2000)
    assert mine.capped(operator) == BudgetLimits(1000, 2000, 50_000, None)
    assert BudgetLimits().capped(operator) == operator
    assert not BudgetLimits().any


def test_shared_ledgers_are_one_per_key_and_limits():
    limits = BudgetLimits(per_minute=10)
    assert shared(("connection", "x"), "c", limits) is shared(("connection", "x"), "c", limits)
    assert shared(("connection", "x"), "c", limits) is not shared(("connection", "y"), "c", limits)
