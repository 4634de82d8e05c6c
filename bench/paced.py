"""Latency versus load: the rebooking pipeline fed cancellations at a steady rate.

One job (sql/rebooking.sql, load server as embedder and LLM) gets three phases of paced
cancellations, 1, 10 and 50 events/s, one affected passenger per event; each phase waits until
its recommendations are out before the next starts. Per phase: p50/p99 from the moment an event
is handed to the Kafka producer to the moment its recommendation is read from the output topic,
and the target (model latency + 1 s). The pipeline case (`pipeline.py`) writes a burst instead.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

from flink_rag_bench import contenders
from flink_rag_bench.pipeline import percentile, running_pipeline
from flink_rag_bench.runner import Result, _empty
from flink_rag_bench.scenarios import Case
from flink_rag_bench.server_process import LoadServerProcess

# (events/s, events): about 5-15 s of load per phase.
PHASES = ((1.0, 12), (10.0, 100), (50.0, 250))
WARM_UP_EVENTS = 3  # written at once and awaited before the first phase: the job has started
# PyFlink's default bundle time, and a short one for latency-sensitive jobs.
BUNDLE_TIMES_MS = (1000, 100)
PHASE_TIMEOUT_S = 180.0
TARGET_SLACK_S = 1.0  # per-row target: the model's latency + 1 s


def phase_label(rate: float, bundle_ms: int) -> str:
    return f"rebooking paced {rate:g} events/s, bundle.time {bundle_ms} ms"


def measure_paced(case: Case, server: LoadServerProcess) -> list[Result]:
    why = contenders.udfs_available()
    if why:
        return [_empty(case, f"skipped: {why}")]
    if "MONGODB_URI" not in os.environ:
        return [_empty(case, "skipped: no private MongoDB stand-in")]

    results: list[Result] = []
    for bundle_ms in BUNDLE_TIMES_MS:
        results += _measure_job(case, server, bundle_ms)
    return results


def _measure_job(case: Case, server: LoadServerProcess, bundle_ms: int) -> list[Result]:
    from flink_rag.airline import dataset, kafka_io

    results: list[Result] = []
    flink_options = {"python.fn-execution.bundle.time": str(bundle_ms)}
    with running_pipeline(case, server, 1, flink_options) as run:
        produced_at: dict[str, float] = {}
        seen_at: dict[str, float] = {}

        def on_record(topic: str, key: str, value: dict | None) -> None:
            event = (value or {}).get("event_id")
            if topic == run.names["recs"] and event in produced_at and event not in seen_at:
                seen_at[event] = time.time()

        first, offset = 1, 0
        with run.reader() as reader:
            for rate, n in ((0.0, WARM_UP_EVENTS), *PHASES):
                flights = run.flights[offset : offset + n]
                offset += n
                events = run.events(flights, first)
                first += n
                started = time.time()

                def paced(
                    events: list[dict] = events, rate: float = rate, started: float = started
                ) -> Iterator[tuple]:
                    for i, e in enumerate(events):
                        if rate:
                            time.sleep(max(0.0, started + i / rate - time.time()))
                        produced_at[e["event_id"]] = time.time()
                        yield None, dataset.dumps(e)

                writer = threading.Thread(
                    target=kafka_io.produce,
                    args=(run.bootstrap, run.names["flight_events"], paced()),
                    daemon=True,
                )
                writer.start()
                ids = {e["event_id"] for e in events}
                done = reader.wait_for(
                    lambda _o, ids=ids: ids <= seen_at.keys() or _dead_covers(reader, ids),
                    PHASE_TIMEOUT_S,
                    on_record,
                )
                writer.join(timeout=30)
                if rate:
                    result = _phase_result(case, rate, ids, produced_at, seen_at, done)
                    result.case = phase_label(rate, bundle_ms)
                    results.append(result)
    return results


def _dead_covers(reader, ids: set[str]) -> bool:
    """All events of the phase are out, counting dead letters (they end a row too)."""
    outs = reader.outputs
    values = [*outs.recommendations.values(), *outs.dead_letters.values()]
    out_ids = {v.get("event_id") for v in values if isinstance(v, dict)}
    return ids <= out_ids


def _phase_result(
    case: Case,
    rate: float,
    ids: set[str],
    produced_at: dict[str, float],
    seen_at: dict[str, float],
    done: bool,
) -> Result:
    latencies = [seen_at[i] - produced_at[i] for i in ids if i in seen_at]
    result = _empty(case, "ok" if done else f"error: {len(latencies)} of {len(ids)} in time")
    result.rows = len(latencies)
    result.failed = len(ids) - len(latencies)
    if latencies:
        span = max(seen_at[i] for i in ids if i in seen_at) - min(produced_at[i] for i in ids)
        result.rows_per_s = len(latencies) / span if span > 0 else None
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    target = case.provider.latency_ms / 1000.0 + TARGET_SLACK_S
    result.p50_s, result.p99_s, result.target_s = p50, p99, target
    result.extra = (
        f"{len(ids)} events at {rate:g}/s, one passenger each; event->recommendation "
        f"p50={p50 or 0:.2f}s p99={p99 or 0:.2f}s (target <= {target:.1f}s)"
    )
    return result
