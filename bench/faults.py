"""Deterministic fault schedule of the load server.

A rule is written `KIND:WHEN[:match=TEXT]`:

- KIND: `500` (server error), `429` (rate limited, with Retry-After), `timeout` (sleep longer
  than the client waits, then answer), `badjson` (200 with a truncated JSON body);
- WHEN: `every=N` (the Nth, 2Nth, ... request), `first=K` (requests 1..K) or `at=3,5,9`;
- `match=TEXT` restricts the rule to requests whose body contains TEXT, and counts only
  those — so "the first 2 requests that carry row `poison`" is `500:first=2:match=poison`.

Requests are numbered per rule from 1, over the POST endpoints only, in arrival order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

FAULT_KINDS = ("500", "429", "timeout", "badjson")


@dataclass(frozen=True)
class FaultRule:
    kind: str
    every: int | None = None
    first: int | None = None
    at: frozenset[int] = frozenset()
    match: str | None = None

    def fires(self, n: int) -> bool:
        if self.every is not None:
            return n % self.every == 0
        if self.first is not None:
            return n <= self.first
        return n in self.at

    def spec(self) -> str:
        if self.every is not None:
            when = f"every={self.every}"
        elif self.first is not None:
            when = f"first={self.first}"
        else:
            when = "at=" + ",".join(str(n) for n in sorted(self.at))
        return f"{self.kind}:{when}" + (f":match={self.match}" if self.match else "")


def parse_fault(spec: str) -> FaultRule:
    """Parse `KIND:WHEN[:match=TEXT]` (see the module docstring)."""
    parts = spec.split(":", 2)
    if len(parts) < 2 or parts[0] not in FAULT_KINDS:
        raise ValueError(
            f"bad fault rule {spec!r}: write KIND:WHEN[:match=TEXT] with KIND one of "
            f"{', '.join(FAULT_KINDS)} and WHEN every=N, first=K or at=1,2"
        )
    kind, when = parts[0], parts[1]
    match = None
    if len(parts) == 3:
        if not parts[2].startswith("match="):
            raise ValueError(f"bad fault rule {spec!r}: the third part must be match=TEXT")
        match = parts[2][len("match=") :]
    name, _, value = when.partition("=")
    try:
        if name == "every" and int(value) > 0:
            return FaultRule(kind, every=int(value), match=match)
        if name == "first" and int(value) >= 0:
            return FaultRule(kind, first=int(value), match=match)
        if name == "at":
            return FaultRule(kind, at=frozenset(int(v) for v in value.split(",")), match=match)
    except ValueError as err:
        raise ValueError(f"bad fault rule {spec!r}: {when!r} needs integers") from err
    raise ValueError(f"bad fault rule {spec!r}: WHEN must be every=N (N>0), first=K or at=1,2")


@dataclass
class FaultSchedule:
    """Thread-safe: decides which fault (if any) the next request gets."""

    rules: tuple[FaultRule, ...] = ()
    _counts: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._counts = [0] * len(self.rules)

    @classmethod
    def parse(cls, specs: Iterable[str]) -> FaultSchedule:
        return cls(tuple(parse_fault(s) for s in specs))

    def next_fault(self, body: str) -> str | None:
        """Count this request against every rule it matches; the first rule that fires wins."""
        fired = None
        with self._lock:
            for i, rule in enumerate(self.rules):
                if rule.match is not None and rule.match not in body:
                    continue
                self._counts[i] += 1
                if fired is None and rule.fires(self._counts[i]):
                    fired = rule.kind
        return fired
