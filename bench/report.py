"""Results as a table: ratio columns, the targets of the issue, BENCHMARKS.md.

Pure functions of the results; `parse_table` reads a written table back (used by the smoke
test to check that the file is well-formed and its ratios agree with its numbers).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flink_rag_bench.runner import Result, rig_ceiling

COLUMNS = (
    "case", "contender", "rows", "rows/s", "limit/s", "vs native", "vs limit", "failed",
    "wrong", "calls", "429s", "peak in-flight", "start s", "peak RSS MB", "status",
)  # fmt: skip
RATIO_DIGITS = 2


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if value == float("inf"):
        return "inf"
    return f"{value:,.{digits}f}".replace(",", "")


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or not b or b == float("inf"):
        return None
    return round(a, 1) / round(b, 1) if round(b, 1) else None


def native_of(results: Sequence[Result], r: Result) -> Result | None:
    if r.contender == "ML_PREDICT":
        return None
    return next((n for n in results if n.case == r.case and n.contender == "ML_PREDICT"), None)


def rows_of(results: Sequence[Result]) -> list[list[str]]:
    """Table cells; ratios are computed from the rounded numbers shown next to them."""
    out = []
    for r in results:
        native = native_of(results, r)
        vs_native = _ratio(r.rows_per_s, native.rows_per_s) if native else None
        vs_limit = _ratio(r.rows_per_s, r.limit_per_s)
        out.append([
            r.case, r.contender, str(r.rows), _num(r.rows_per_s), _num(r.limit_per_s),
            _num(vs_native, RATIO_DIGITS), _num(vs_limit, RATIO_DIGITS), str(r.failed),
            str(r.wrong), str(r.calls), str(r.rate_limited), str(r.peak_in_flight),
            _num(r.start_s), _num(r.peak_rss_mb, 0), r.status,
        ])  # fmt: skip
    return out


def markdown_table(results: Sequence[Result]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for cells in rows_of(results):
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def text_table(results: Sequence[Result]) -> str:
    rows = [list(COLUMNS), *rows_of(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def parse_table(markdown: str) -> list[dict[str, str]]:
    """The first table of a BENCHMARKS.md with our columns, as dicts of cell text."""
    lines = markdown.splitlines()
    header = "| " + " | ".join(COLUMNS) + " |"
    start = lines.index(header)
    out = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        out.append(dict(zip(COLUMNS, cells, strict=True)))
    return out


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    met: bool | None  # None: not measured in this run


def _ok(results: Iterable[Result], group: str, contender: str) -> list[Result]:
    return [
        r
        for r in results
        if r.group == group and r.contender == contender and r.status == "ok" and r.rows_per_s
    ]


def targets(results: Sequence[Result]) -> list[Target]:
    out = []
    embeds = [(r, native_of(results, r)) for r in _ok(results, "embeddings", "EMBED")]
    ratios = [r.rows_per_s / n.rows_per_s for r, n in embeds if n and n.rows_per_s]
    out.append(_target("EMBED vs native", ">= 20x", ratios, 20.0, "x"))
    out.append(_ceiling_target(results))
    chats = [(r, native_of(results, r)) for r in _ok(results, "completions", "LLM_COMPLETE")]
    ratios = [r.rows_per_s / n.rows_per_s for r, n in chats if n and n.rows_per_s]
    out.append(_target("LLM_COMPLETE vs native", ">= 1.0x", ratios, 1.0, "x"))
    ratios = [r.rows_per_s / r.limit_per_s for r, _ in chats if r.limit_per_s]
    out.append(_target("LLM_COMPLETE vs in-flight/latency", ">= 85%", ratios, 0.85, "%"))
    out.append(_limit_target(results, "completions-rpm", "an RPM limit"))
    out.append(_limit_target(results, "completions-tpm", "a TPM limit"))
    out.append(per_row_target(results))
    replays = [r for r in results if r.group == "cache" and r.status == "ok"]
    calls = sum(r.calls for r in replays)
    hits = "; ".join(r.extra for r in replays)
    out.append(
        Target("replay makes no calls", "0 new calls", f"{calls} new calls ({hits})", calls == 0)
        if replays
        else Target("replay makes no calls", "0 new calls", "not measured", None)
    )
    return out


def _ceiling_share(results: Sequence[Result], contender: str) -> list[float]:
    shares = []
    for r in _ok(results, "embeddings", contender):
        ceiling = rig_ceiling(list(results), r)
        if ceiling and r.rows_per_s:
            shares.append(r.rows_per_s / ceiling)
    return shares


def _ceiling_target(results: Sequence[Result]) -> Target:
    """EMBED (tuned) against the lower of the provider limit and the load server alone."""
    t = _target("EMBED vs rig ceiling", ">= 50%", _ceiling_share(results, "EMBED tuned"), 0.5, "%")
    plain = _ceiling_share(results, "EMBED")
    if plain and t.met is not None:
        shown = ", ".join(f"{v * 100:.0f}%" for v in plain)
        t = Target(t.name, t.goal, f"{t.measured}; with Flink's defaults: {shown}", t.met)
    return t


LIMIT_SHARE = 0.95  # of the provider's rate limit
MAX_429_PER_SUCCESS = 1.0


def _per_success(r: Result) -> float:
    return r.rate_limited / r.calls if r.calls else float("inf")


def _limit_target(results: Sequence[Result], group: str, what: str) -> Target:
    """LLM_COMPLETE under a rate limit: share of the limit, 429s per success, failed rows."""
    name = f"LLM_COMPLETE under {what}"
    goal = (
        f">= {LIMIT_SHARE:.0%} of the limit, <= {MAX_429_PER_SUCCESS:g} 429 per success, 0 failed"
    )
    runs = _ok(results, group, "LLM_COMPLETE")
    if not runs:
        return Target(name, goal, "not measured", None)
    parts, met = [], True
    for r in runs:
        share = r.rows_per_s / r.limit_per_s if r.rows_per_s and r.limit_per_s else 0.0
        failed = r.failed + r.wrong
        met = met and share >= LIMIT_SHARE and _per_success(r) <= MAX_429_PER_SUCCESS
        met = met and not failed
        parts.append(
            f"{share:.1%} of the limit, {_per_success(r):.2f} 429/success, failed={failed}"
        )
    anchors = [*_ok(results, group, "ML_PREDICT"), *_ok(results, group, "LLM_COMPLETE fixed")]
    for a in anchors:
        share = a.rows_per_s / a.limit_per_s if a.rows_per_s and a.limit_per_s else 0.0
        parts.append(
            f"{a.contender}: {share:.1%}, {_per_success(a):.2f} 429/success, "
            f"failed={a.failed + a.wrong}"
        )
    return Target(name, goal, "; ".join(parts), met)


def per_row_target(results: Sequence[Result]) -> Target:
    """Event -> recommendation at the lowest paced load within the model's latency + 1 s."""
    name, goal = "per-row latency at low load", "p99 <= model latency + 1 s"
    paced = [r for r in results if r.group == "paced" and r.p99_s is not None and r.target_s]
    if not paced:
        return Target(name, goal, "not measured", None)
    lowest = min(r.case.split(" events/s")[0] for r in paced)  # "rebooking paced 1"
    low = [r for r in paced if r.case.split(" events/s")[0] == lowest]
    best = min(low, key=lambda r: r.p99_s or 0.0)
    assert best.p99_s is not None and best.target_s is not None
    detail = "; ".join(
        f"{r.case.removeprefix('rebooking paced ')}: p99 {r.p99_s:.2f}s" for r in low
    )
    measured = f"best p99 {best.p99_s:.2f}s vs {best.target_s:.1f}s ({detail})"
    return Target(name, goal, measured, best.p99_s <= best.target_s)


def latency_table(results: Sequence[Result]) -> str:
    """The paced rebooking phases: load, p50/p99 event -> recommendation, target."""
    paced = [r for r in results if r.group == "paced"]
    if not paced:
        return ""
    lines = [
        "| load | events | recommendations/s | p50 | p99 | target (model latency + 1 s) | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in paced:
        lines.append(
            f"| {r.case.removeprefix('rebooking paced ')} | {r.rows + r.failed} | "
            f"{_num(r.rows_per_s)} | {_secs(r.p50_s)} | {_secs(r.p99_s)} | "
            f"{_secs(r.target_s)} | {r.status} |"
        )
    return "\n".join(lines)


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _target(name: str, goal: str, values: list[float], need: float, unit: str) -> Target:
    if not values:
        return Target(name, goal, "not measured", None)
    worst = min(values)
    shown = f"{worst * 100:.0f}%" if unit == "%" else f"{worst:.2f}x"
    detail = "worst of " + ", ".join(
        f"{v * 100:.0f}%" if unit == "%" else f"{v:.2f}x" for v in values
    )
    return Target(name, goal, f"{shown} ({detail})", worst >= need)


def targets_markdown(results: Sequence[Result]) -> str:
    lines = ["| target | goal | measured | met |", "|---|---|---|---|"]
    for t in targets(results):
        met = "n/a" if t.met is None else ("yes" if t.met else "**no**")
        lines.append(f"| {t.name} | {t.goal} | {t.measured} | {met} |")
    return "\n".join(lines)
