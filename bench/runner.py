"""Runs the cases of a profile against one load server and measures each of them.

Throughput is rows over the provider window (first request to last answer, read from the
load server), so JVM and job start are measured separately as `start_s` (job submitted to
first provider call) instead of diluting rows/s.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from flink_rag_bench import contenders
from flink_rag_bench.proc_tree import PeakRss
from flink_rag_bench.scenarios import Case, Profile, call_limit, embed_limit
from flink_rag_bench.server_process import LoadServerProcess

log = logging.getLogger(__name__)

CONTENDER_NAMES = {
    ("embeddings", "ours"): "EMBED",
    ("embeddings", "native"): "ML_PREDICT",
    ("completions", "ours"): "LLM_COMPLETE",
    ("completions", "native"): "ML_PREDICT",
    ("completions-rpm", "ours"): "LLM_COMPLETE",
    ("completions-rpm", "native"): "ML_PREDICT",
    ("completions-rpm", "ours-rpm"): "LLM_COMPLETE +rpm",
    ("cache", "ours"): "LLM_COMPLETE replay",
    ("lookup", "ours"): "VECTOR_LOOKUP",
    ("pipeline", "ours"): "rebooking",
    ("paced", "ours"): "rebooking",
}


@dataclass
class Result:
    group: str
    case: str
    contender: str
    rows: int
    rows_per_s: float | None
    limit_per_s: float | None
    failed: int
    wrong: int
    calls: int
    rate_limited: int
    peak_in_flight: int
    start_s: float | None
    wall_s: float
    peak_rss_mb: float
    status: str = "ok"  # ok | skipped: ... | error: ...
    extra: str = ""
    concurrency: int = 0
    # Per-row latency cases: event -> answer percentiles and the per-row target, seconds.
    p50_s: float | None = None
    p99_s: float | None = None
    target_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def limit_for(case: Case) -> float | None:
    if case.group == "embeddings":
        return embed_limit(case.concurrency, case.provider)
    if case.group in ("completions", "completions-rpm", "cache"):
        return call_limit(case.concurrency, case.provider)
    return None


def _prepare(case: Case, base_url: str, salt: str, cache_dir: str | None):
    table = {
        ("embeddings", "native"): contenders.native_embed,
        ("completions", "native"): contenders.native_complete,
        ("completions-rpm", "native"): contenders.native_complete,
    }
    if (case.group, case.contender) in table:
        return table[(case.group, case.contender)](base_url, case.rows, case.concurrency, salt)
    if case.group == "embeddings":
        return contenders.ours_embed(base_url, case.rows, case.concurrency, salt, cache_dir)
    extra = {}
    if case.contender == "ours-rpm" and case.provider.rpm:
        extra["flink-rag.llm.requests-per-minute"] = str(int(case.provider.rpm))
    return contenders.ours_complete(base_url, case.rows, case.concurrency, salt, cache_dir, extra)


def _empty(case: Case, status: str) -> Result:
    return Result(
        case.group, case.label, CONTENDER_NAMES[(case.group, case.contender)], case.rows,
        None, limit_for(case), 0, 0, 0, 0, 0, None, 0.0, 0.0, status, "", case.concurrency,
    )  # fmt: skip


def measure(
    case: Case,
    server: LoadServerProcess,
    salt: str | None = None,
    cache_dir: str | None = None,
) -> Result:
    """One job of one contender; a contender that cannot run gives a `skipped` row."""
    server.configure(**case.provider.knobs())
    server.reset()
    salt = salt or uuid.uuid4().hex[:8]
    t0 = time.time()
    try:
        prepared = _prepare(case, server.base_url, salt, cache_dir)
    except contenders.ContenderUnavailable as err:
        return _empty(case, f"skipped: {err}")
    with PeakRss(exclude=[server.pid] if server.pid else []) as mem:
        submitted = time.time()
        try:
            outcome = contenders.run(prepared)
        except Exception as err:  # a failing contender is a result, not the end of the run
            log.exception("%s %s failed", case.label, case.contender)
            outcome = contenders.JobOutcome(error=f"{type(err).__name__}: {str(err)[:200]}")
    done = time.time()
    stats = server.stats()
    first, last = stats["first_request_at"], stats["last_response_at"]
    window = (last - first) if first and last and last > first else None
    ok_rows = outcome.rows - outcome.failed - outcome.wrong
    return Result(
        group=case.group,
        case=case.label,
        contender=CONTENDER_NAMES[(case.group, case.contender)],
        rows=outcome.rows,
        rows_per_s=(ok_rows / window) if window else None,
        limit_per_s=limit_for(case),
        failed=outcome.failed,
        wrong=outcome.wrong,
        calls=stats["ok_requests"],
        rate_limited=stats["rate_limited"],
        peak_in_flight=stats["max_in_flight"],
        start_s=(first - submitted) if first else None,
        wall_s=done - t0,
        peak_rss_mb=mem.peak_mb,
        status="ok" if outcome.error is None else f"error: {outcome.error}",
        concurrency=case.concurrency,
    )


def measure_cache(case: Case, server: LoadServerProcess) -> list[Result]:
    """Run the same inputs twice with a cache: the replay must make zero provider calls."""
    salt = uuid.uuid4().hex[:8]
    out = []
    with tempfile.TemporaryDirectory(prefix="flink-rag-bench-cache-") as cache_dir:
        for kind in ("embeddings", "completions"):
            base = Case(kind, "ours", case.rows, case.concurrency, case.provider)
            warm = measure(base, server, salt, cache_dir)
            replay = measure(base, server, salt, cache_dir)
            label = "EMBED replay" if kind == "embeddings" else "LLM_COMPLETE replay"
            replay.group, replay.case, replay.contender = "cache", f"cache {kind}", label
            if warm.status == "ok" and replay.status == "ok":
                hits = replay.rows if replay.calls == 0 else replay.rows - replay.calls
                replay.extra = f"first run calls={warm.calls}; replay hits={hits}"
            out.append(replay)
    return out


def expected_rows(profile: Profile) -> list[tuple[str, str]]:
    """(case, contender) of every row a run of `profile` reports, in order."""
    out = []
    for case in profile.cases():
        if case.group == "cache":
            out += [
                ("cache embeddings", "EMBED replay"),
                ("cache completions", "LLM_COMPLETE replay"),
            ]
        else:
            out.append((case.label, CONTENDER_NAMES[(case.group, case.contender)]))
    return out


def run_profile(
    profile: Profile,
    server: LoadServerProcess,
    extra: dict[str, Callable[[Case, LoadServerProcess], list[Result]]] | None = None,
    progress: Callable[[str], None] = print,
) -> list[Result]:
    """Every case of the profile, in order; `extra` handles groups other than model calls."""
    results: list[Result] = []
    handlers = {"cache": measure_cache, **(extra or {})}
    for case in profile.cases():
        progress(f"-- {case.label} [{CONTENDER_NAMES[(case.group, case.contender)]}]")
        if case.group in handlers:
            results += handlers[case.group](case, server)
        elif case.group in ("lookup", "pipeline", "paced"):
            results.append(_empty(case, "skipped: not wired in this run"))
        else:
            results.append(measure(case, server))
        progress("   " + _summary(results[-1]))
    return results


def _summary(r: Result) -> str:
    rate = f"{r.rows_per_s:.1f} rows/s" if r.rows_per_s is not None else "-"
    return (
        f"{r.contender}: {r.status}, rows={r.rows}, {rate}, failed={r.failed}, "
        f"wrong={r.wrong}, calls={r.calls}, 429s={r.rate_limited}, "
        f"in-flight={r.peak_in_flight}, wall={r.wall_s:.1f}s"
    )
