"""Where a test run's time goes: seconds per tier and the slowest tests (setup, call and
teardown together, so a module fixture that runs a whole scenario counts), printed at the end
of every run. The README's testing section quotes these figures."""

from __future__ import annotations

from collections import Counter

TIERS = ("unit", "flink", "integration", "live")
SLOWEST = 10


class TimingReport:
    def __init__(self) -> None:
        self.by_test: Counter[str] = Counter()
        self.by_tier: Counter[str] = Counter()
        self.tests_by_tier: dict[str, set[str]] = {}

    def add(self, report) -> None:
        tier = next((t for t in TIERS if t in report.keywords), "other")
        self.by_test[report.nodeid] += report.duration
        self.by_tier[tier] += report.duration
        self.tests_by_tier.setdefault(tier, set()).add(report.nodeid)

    def lines(self) -> list[str]:
        out = ["tier          tests   seconds"]
        for tier in (*TIERS, "other"):
            if tier in self.by_tier:
                n = len(self.tests_by_tier[tier])
                out.append(f"{tier:<12} {n:>6} {self.by_tier[tier]:>9.0f}")
        out.append(f"{'all':<12} {len(self.by_test):>6} {sum(self.by_tier.values()):>9.0f}")
        out.append(f"slowest {SLOWEST} (setup + call + teardown):")
        out += [f"  {s:7.1f} s  {nodeid}" for nodeid, s in self.by_test.most_common(SLOWEST)]
        return out
