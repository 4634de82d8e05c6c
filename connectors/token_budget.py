"""Enforced token budgets: tokens per minute, hour and day (sliding windows) and per job; and,
with the user's price of the model, spend budgets in currency the same way.

A call reserves its estimate before it is sent (prompt tokens counted offline plus max-tokens:
the most the provider can charge for it) and settles with the usage the provider reports after
it, so nothing is sent past the budget and unused estimates come back. A call that finds the
budget spent waits (up to `budget-wait`, capped by the row's deadline) and is then refused
with `BudgetExhausted`, whose text starts with the stable reason `budget_exhausted`.

Budgets live in this worker process: every client of one connection (and of one profile) in
the process shares its ledger (`shared()`), but two worker processes (parallelism > 1, or two
TaskManagers) each have their own. A budget for the whole job over N workers is N times the
per-process one; divide it by the parallelism.

Why hand-written: `limits` (moving window) and pyrate-limiter count hits that can never be
taken back, so a reservation could not be settled with the actual usage (an estimate with the
UTF-8 byte bound counts English text about 4x); and neither reserves on several budgets at
once (a profile's and its connection's) all or nothing. The windows here keep 60 bins each,
so memory stays bounded whatever the call rate.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

BUDGET_EXHAUSTED = "budget_exhausted"
WINDOWS_S = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}
# Bins per window: a bin stays counted until its END is a window old, so accounting is
# conservative by at most 1/60 of the window (never admits more than the limit).
_BINS = 60
# One lock for every ledger of the process: a reservation on several budgets is atomic, and
# a settle on any budget wakes the waiters of all (calls are slow; contention is nil).
_LOCK = threading.Condition()
_SHARED: dict[tuple[object, ...], TokenBudget] = {}


# A spend budget counts in millionths of the currency unit, so its ledger stays in integers.
MICROS = 1_000_000


@dataclass(frozen=True)
class Price:
    """The user's price of one model, per 1000 prompt / completion tokens (any currency)."""

    prompt_per_1k: float
    completion_per_1k: float

    def micros(self, prompt: float, completion: float) -> float:
        return (prompt * self.prompt_per_1k + completion * self.completion_per_1k) * MICROS / 1000


class BudgetExhausted(Exception):
    """A call refused because a budget is spent; the text starts with `budget_exhausted`."""


@dataclass(frozen=True)
class BudgetLimits:
    """Tokens per minute / hour / day and per job; None means no limit on that span."""

    per_minute: int | None = None
    per_hour: int | None = None
    per_day: int | None = None
    per_job: int | None = None

    @property
    def any(self) -> bool:
        return any(
            v is not None for v in (self.per_minute, self.per_hour, self.per_day, self.per_job)
        )

    def capped(self, cap: BudgetLimits) -> BudgetLimits:
        """These limits, none above `cap`'s (SQL may lower an operator's budget, never raise)."""

        def low(mine: int | None, theirs: int | None) -> int | None:
            return theirs if mine is None else mine if theirs is None else min(mine, theirs)

        return BudgetLimits(
            low(self.per_minute, cap.per_minute),
            low(self.per_hour, cap.per_hour),
            low(self.per_day, cap.per_day),
            low(self.per_job, cap.per_job),
        )


@dataclass
class _Window:
    """Tokens charged in the last `span_s` seconds, in `_BINS` bins (None span: ever)."""

    limit: int
    span_s: float | None
    bins: deque[list[float]] = field(default_factory=deque)  # [bin index, tokens]
    total: float = 0.0

    @property
    def width(self) -> float:
        return (self.span_s or 0.0) / _BINS

    def expire(self, now: float) -> None:
        if self.span_s is None:
            return
        while self.bins and (self.bins[0][0] + 1) * self.width + self.span_s <= now:
            self.total -= self.bins.popleft()[1]

    def free_at(self, cost: float, now: float) -> float:
        """The earliest time `cost` fits (inf: never, e.g. a per-job budget spent)."""
        self.expire(now)
        excess = self.total + cost - self.limit
        if excess <= 0:
            return now
        if self.span_s is None:
            return math.inf
        for index, tokens in self.bins:
            excess -= tokens
            if excess <= 0:
                return (index + 1) * self.width + self.span_s
        return math.inf  # more than the whole limit: never fits

    def _index(self, at: float) -> int:
        return math.floor(at / self.width) if self.span_s is not None else 0

    def add(self, tokens: float, at: float) -> None:
        """Charge a reservation made at `at` (the latest time charged so far)."""
        index = self._index(at)
        if self.bins and self.bins[-1][0] >= index:
            self.bins[-1][1] += tokens
        else:
            self.bins.append([index, tokens])
        self.total += tokens

    def adjust(self, delta: float, at: float) -> None:
        """Settle a reservation made at `at`: its bin takes `delta`, unless it has expired
        (then its tokens no longer count, and neither does the difference)."""
        index = self._index(at)
        for entry in reversed(self.bins):
            if entry[0] == index:
                entry[1] += delta
                self.total += delta
                return
            if entry[0] < index:
                return


class TokenBudget:
    """One ledger (a profile's or a connection's); thread-safe under the process lock."""

    def __init__(
        self,
        name: str,
        limits: BudgetLimits,
        clock: Callable[[], float] = time.monotonic,
        price: Price | None = None,
    ):
        """With `price`, a spend budget: `limits` are in MICROS of the currency."""
        self.name = name
        self.limits = limits
        self.clock = clock
        self.price = price
        self.spent = 0.0  # tokens (or MICROS) settled since the ledger was made
        self._windows: dict[str, _Window] = {}
        for span, limit in (
            ("minute", limits.per_minute),
            ("hour", limits.per_hour),
            ("day", limits.per_day),
            ("job", limits.per_job),
        ):
            if limit is not None:
                self._windows[span] = _Window(limit, WINDOWS_S.get(span))

    def cost(self, prompt: float, completion: float) -> float:
        """What a call of `prompt` + `completion` tokens costs on this ledger."""
        if self.price is None:
            return prompt + completion
        return self.price.micros(prompt, completion)

    def free_at(self, cost: float, now: float) -> tuple[float, str]:
        """(earliest time `cost` fits, the window that holds it back)."""
        worst, which = now, ""
        for span, window in self._windows.items():
            at = window.free_at(cost, now)
            if at > worst:
                worst, which = at, span
        return worst, which

    def add(self, tokens: float, at: float) -> None:
        for window in self._windows.values():
            window.add(tokens, at)

    def adjust(self, delta: float, at: float) -> None:
        for window in self._windows.values():
            window.adjust(delta, at)

    def remaining(self, span: str) -> int | None:
        """Tokens left now in `span` (minute/hour/day/job), None without that limit."""
        window = self._windows.get(span)
        if window is None:
            return None
        with _LOCK:
            window.expire(self.clock())
            return max(0, int(window.limit - window.total))

    def limit(self, span: str) -> int:
        return self._windows[span].limit

    def limit_text(self, span: str) -> str:
        return f"{self.amount(self.limit(span))} per {span}"

    def amount(self, cost: float) -> str:
        if self.price is None:
            return f"{math.ceil(cost)} tokens"
        return f"{cost / MICROS:.6g} of spend (at the configured prices)"


@dataclass
class Reservation:
    """A call's estimate held on some budgets; `settle` once with what the call used."""

    budgets: Sequence[TokenBudget]
    prompt: float
    completion: float
    at: float
    settled: bool = False

    @property
    def tokens(self) -> int:
        return math.ceil(self.prompt + self.completion)

    def settle(self, prompt: float, completion: float = 0) -> None:
        """Replace the estimate by the usage (a refund when less; more when the provider
        charged more than estimated). Idempotent: only the first settle counts."""
        with _LOCK:
            if self.settled:
                return
            self.settled = True
            for budget in self.budgets:
                used = budget.cost(prompt, completion)
                budget.adjust(used - budget.cost(self.prompt, self.completion), self.at)
                budget.spent += used
            _LOCK.notify_all()

    def keep(self) -> None:
        """Settle with the estimate itself (the call may have cost all of it)."""
        self.settle(self.prompt, self.completion)


def reserve(
    budgets: Sequence[TokenBudget],
    prompt: float,
    wait_s: float,
    sleep: Callable[[threading.Condition, float], object] | None = None,
    completion: float = 0,
) -> Reservation:
    """Hold a call of at most `prompt` + `completion` tokens on every budget at once, waiting
    up to `wait_s` for room; raises BudgetExhausted (naming the budget and window that
    refused) when it does not come."""
    clock = budgets[0].clock if budgets else time.monotonic
    wait = sleep or (lambda cond, s: cond.wait(s))
    with _LOCK:
        start = clock()
        while True:
            now = clock()
            free, which, budget = now, "", None
            for b in budgets:
                at, span = b.free_at(b.cost(prompt, completion), now)
                if at > free:
                    free, which, budget = at, span, b
            if budget is None:
                for b in budgets:
                    b.add(b.cost(prompt, completion), now)
                return Reservation(budgets, prompt, completion, now)
            left = start + wait_s - now
            # Waits even when `free` is later than the wait allows: a settle may refund
            # room sooner. What can never fit (a spent job budget) is refused at once.
            if free == math.inf or left <= 0:
                cost = budget.cost(prompt, completion)
                raise BudgetExhausted(_refusal(budget, which, cost, now - start))
            wait(_LOCK, max(0.001, min(left, free - now)))


def _refusal(budget: TokenBudget, span: str, cost: float, waited: float) -> str:
    if cost > budget.limit(span):
        why = f"this call alone may use {budget.amount(cost)}, more than {budget.limit_text(span)}"
    elif span == "job":
        why = f"{budget.limit_text(span)} is spent"
    else:
        why = f"{budget.limit_text(span)} is spent for now (waited {waited:.1f}s)"
    return f"{BUDGET_EXHAUSTED}: {budget.name}: {why}"


def shared(
    key: tuple[object, ...], name: str, limits: BudgetLimits, price: Price | None = None
) -> TokenBudget:
    """The process's ledger for `key` (a connection or a profile), made on first use."""
    with _LOCK:
        found = _SHARED.get((*key, limits, price))
        if found is None:
            found = _SHARED[(*key, limits, price)] = TokenBudget(name, limits, price=price)
        return found
