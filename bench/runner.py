"""Runs the cases of a profile against one load server and measures each of them.

Throughput is rows over the provider window (first request to last answer, read from the
load server), so JVM and job start are measured separately as `start_s` (job submitted to
first provider call) instead of diluting rows/s.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from flink_rag_bench import contenders, load_ceiling
from flink_rag_bench.proc_tree import PeakRss
from flink_rag_bench.scenarios import (
    OPENAI_MAX_BATCH_INPUTS,
    Case,
    Profile,
    call_limit,
    embed_limit,
)
from flink_rag_bench.server_process import LoadServerProcess

log = logging.getLogger(__name__)

CONTENDER_NAMES = {
    ("embeddings", "ours"): "EMBED",
    ("embeddings", "native"): "ML_PREDICT",
    ("embeddings", "ceiling"): "load server alone",
    ("embeddings", "ours-tuned"): "EMBED tuned",
    ("completions", "ours"): "LLM_COMPLETE",
    ("completions", "native"): "ML_PREDICT",
    ("completions-rpm", "ours"): "LLM_COMPLETE",
    ("completions-rpm", "native"): "ML_PREDICT",
    ("completions-rpm", "ours-fixed"): "LLM_COMPLETE fixed",
    ("completions-tpm", "ours"): "LLM_COMPLETE",
    ("completions-tpm", "native"): "ML_PREDICT",
    ("completions-tpm", "ours-fixed"): "LLM_COMPLETE fixed",
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


def limit_for(case: Case, stats: dict[str, Any] | None = None) -> float | None:
    """Rows/s the provider allows; under a TPM limit from what the server charged per call."""
    if case.group == "embeddings":
        return embed_limit(case.concurrency, case.provider)
    if case.group in ("completions", "completions-rpm", "completions-tpm", "cache"):
        limit = call_limit(case.concurrency, case.provider)
        if case.provider.tpm and stats and stats.get("ok_requests"):
            per_call = stats["charged_tokens"] / stats["ok_requests"]
            limit = min(limit, case.provider.tpm / 60.0 / per_call)
        return limit
    return None


def _prepare(
    case: Case, base_url: str, salt: str, cache_dir: str | None, extra: dict[str, str] | None
):
    table = {
        ("embeddings", "native"): contenders.native_embed,
        ("completions", "native"): contenders.native_complete,
        ("completions-rpm", "native"): contenders.native_complete,
        ("completions-tpm", "native"): contenders.native_complete,
    }
    if (case.group, case.contender) in table:
        return table[(case.group, case.contender)](base_url, case.rows, case.concurrency, salt)
    if case.group == "embeddings":
        extra = {**(case.plan.options(case.concurrency) if case.plan else {}), **(extra or {})}
        return contenders.ours_embed(base_url, case.rows, case.concurrency, salt, cache_dir, extra)
    extra = dict(extra or {})
    if case.contender == "ours-fixed":
        extra["flink-rag.llm.adaptive-concurrency"] = "false"
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
    extra: dict[str, str] | None = None,
) -> Result:
    """One job of one contender; a contender that cannot run gives a `skipped` row.

    `extra`: options of our job (`flink-rag.*` keys, or Flink options such as the bundle size).
    """
    server.configure(**case.provider.knobs())
    server.reset()
    salt = salt or uuid.uuid4().hex[:8]
    t0 = time.time()
    try:
        prepared = _prepare(case, server.base_url, salt, cache_dir, extra)
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
        limit_per_s=limit_for(case, stats),
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


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def measure_ceiling(case: Case, server: LoadServerProcess) -> Result:
    """The load server alone: a separate load generator, EMBED's requests, no Flink job."""
    server.configure(**case.provider.knobs())
    server.reset()
    t0 = time.time()
    try:
        c = load_ceiling.measure_in_process(
            server.url,
            case.concurrency,
            case.seconds,
            OPENAI_MAX_BATCH_INPUTS,
            contenders.DIMENSIONS,
        )
    except Exception as err:  # a failing generator is a result, not the end of the run
        log.exception("%s load generator failed", case.label)
        return _empty(case, f"error: {type(err).__name__}: {str(err)[:200]}")
    stats = server.stats()
    return Result(
        group=case.group,
        case=case.label,
        contender=CONTENDER_NAMES[(case.group, case.contender)],
        rows=c.inputs,
        rows_per_s=c.inputs_per_s,
        limit_per_s=limit_for(case),
        failed=c.errors,
        wrong=0,
        calls=c.requests,
        rate_limited=stats["rate_limited"],
        peak_in_flight=stats["max_in_flight"],
        start_s=None,
        wall_s=time.time() - t0,
        peak_rss_mb=0.0,
        extra=(
            f"{c.requests_per_s:.1f} requests/s of {c.batch} inputs ({c.dimensions} dims, "
            f"{c.encoding_format}) from a separate load generator; load average {load_average()}"
        ),
        concurrency=case.concurrency,
    )


def rig_ceiling(results: list[Result], r: Result) -> float | None:
    """The lower of the provider limit and the load server's measured capacity, same case."""
    alone = next(
        (x for x in results if x.case == r.case and x.contender == "load server alone"), None
    )
    values = [v for v in (r.limit_per_s, alone.rows_per_s if alone else None) if v]
    return min(values) if values else None


def _note_ceiling(results: list[Result], r: Result) -> None:
    """EMBED rows say the load average and their share of the rig's ceiling."""
    ceiling = rig_ceiling(results, r)
    share = ""
    if ceiling and r.rows_per_s:
        share = f"{r.rows_per_s / ceiling:.0%} of the rig ceiling ({ceiling:.0f}/s); "
    r.extra = f"{share}load average {load_average()}"


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
            try:
                results += handlers[case.group](case, server)
            except Exception as err:  # one broken case must not discard the run's other rows
                log.exception("bench case %s failed", case.label)
                results.append(_empty(case, f"error: {type(err).__name__}: {err}"[:300]))
        elif case.group in ("lookup", "pipeline", "paced"):
            results.append(_empty(case, "skipped: not wired in this run"))
        elif case.contender == "ceiling":
            results.append(measure_ceiling(case, server))
        else:
            results.append(measure(case, server))
            if case.group == "embeddings" and case.contender != "native":
                _note_ceiling(results, results[-1])
        progress("   " + _summary(results[-1]))
    return results


def _summary(r: Result) -> str:
    rate = f"{r.rows_per_s:.1f} rows/s" if r.rows_per_s is not None else "-"
    return (
        f"{r.contender}: {r.status}, rows={r.rows}, {rate}, failed={r.failed}, "
        f"wrong={r.wrong}, calls={r.calls}, 429s={r.rate_limited}, "
        f"in-flight={r.peak_in_flight}, wall={r.wall_s:.1f}s"
    )
