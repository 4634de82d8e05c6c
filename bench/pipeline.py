"""The rebooking pipeline (sql/rebooking.sql) with the load server as embedder and LLM.

Kafka is the local stack's broker (topics named per run); MongoDB is the benchmark's private
stand-in. Flight and policy documents get the vectors the load server would give their text,
so EMBED -> VECTOR_LOOKUP_JSON runs for real (scan mode, filtered) and LLM_COMPLETE_JSON
answers the first candidate of its schema's enum, which passes the grounded check.

Measured: recommendations/s (first event written to last recommendation read) and the
event -> recommendation latency p50/p99 of a burst of cancellations written at once.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flink_rag.airline.events import make_event
from flink_rag_bench import contenders
from flink_rag_bench.fault_scenario import documents
from flink_rag_bench.proc_tree import PeakRss
from flink_rag_bench.runner import Result, _empty
from flink_rag_bench.scenarios import Case
from flink_rag_bench.server_process import LoadServerProcess

FLIGHT_FILTER_FIELDS = ["origin", "destination", "departure_ts", "seats_left", "cabins"]
TIMEOUT_S = 300.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class PipelineRun:
    """A submitted rebooking job on fresh topics, its flights and where its output goes."""

    bootstrap: str
    names: dict[str, str]
    flights: list[dict]  # every flight with a confirmed booking
    passengers: dict[str, int]  # flight_id -> confirmed bookings
    submitted: float

    def events(self, flights: list[dict], first: int = 1) -> list[dict]:
        return [make_event(f"EV{n:05d}", f) for n, f in enumerate(flights, first)]

    def reader(self) -> Any:
        from flink_rag.airline import rebooking

        return rebooking.output_reader(
            self.bootstrap, f"r{uuid.uuid4().hex[:8]}", self.names["recs"], self.names["dead"]
        )


@contextmanager
def running_pipeline(
    case: Case,
    server: LoadServerProcess,
    bookings_per_flight: int = 4,
    flink_options: dict[str, str] | None = None,
) -> Iterator[PipelineRun]:
    """Load documents and CRM topics, submit sql/rebooking.sql, cancel it on exit.

    `flink_options` (e.g. `python.fn-execution.bundle.time`) are set before the job's SQL."""
    from flink_rag.airline import dataset, kafka_io, rebooking
    from flink_rag.local.session import shared_stack

    server.configure(**case.provider.knobs())
    server.reset()
    run = uuid.uuid4().hex[:8]
    kinds = ("customers", "bookings", "flight_inventory", "flight_events")
    names = {k: f"bench{run}_{k}" for k in (*kinds, "recs", "dead")}
    data = dataset.generate(seed=11, bookings_per_flight=bookings_per_flight, days=3, events=0)
    by_flight: dict[str, int] = {}
    for b in data.bookings:
        if b.get("status") == "CONFIRMED":
            by_flight[b["flight_id"]] = by_flight.get(b["flight_id"], 0) + 1
    with shared_stack(["kafka"]) as endpoints:
        bootstrap = endpoints.kafka_bootstrap
        documents.load_documents(
            os.environ["MONGODB_URI"], "flink_rag", data, contenders.DIMENSIONS
        )
        kafka_io.load_dataset(
            bootstrap,
            data,
            topics=("customers", "bookings", "flight_inventory"),
            names={
                **names,
                "rebooking_recommendations": names["recs"],
                "rebooking_dead_letter": names["dead"],
            },
        )
        params = rebooking.sql_params(
            bootstrap,
            group_id=f"g{run}",
            topics={
                "EVENT_TOPIC": names["flight_events"],
                "BOOKING_TOPIC": names["bookings"],
                "CUSTOMER_TOPIC": names["customers"],
                "FLIGHT_TOPIC": names["flight_inventory"],
                "RECOMMENDATION_TOPIC": names["recs"],
                "DEAD_LETTER_TOPIC": names["dead"],
            },
        )
        options = {
            "flink-rag.embed.provider": "openai",
            "flink-rag.embed.base-url": server.base_url,
            "flink-rag.embed.model": contenders.EMBED_MODEL,
            "flink-rag.llm.base-url": server.base_url,
            "flink-rag.llm.model": contenders.CHAT_MODEL,
            "flink-rag.llm.concurrency": str(case.concurrency),
            # Measure the calls, not a replay from the machine-wide answer cache.
            "flink-rag.embed.cache-dir": "off",
            "flink-rag.llm.cache-dir": "off",
        }
        flights = [f for f in data.flights if by_flight.get(f["flight_id"])]
        submitted = time.time()
        job = rebooking.submit(
            params, register=lambda t_env: _register(t_env, options, flink_options or {})
        )
        try:
            yield PipelineRun(bootstrap, names, flights, by_flight, submitted)
        finally:
            job.cancel().result()


def _register(t_env: Any, options: dict[str, str], flink_options: dict[str, str]) -> None:
    from flink_rag.jobs import minicluster

    for key, value in flink_options.items():
        t_env.get_config().set(key, value)
    minicluster.run_file(t_env, "functions.sql", {}, options)


def measure_pipeline(case: Case, server: LoadServerProcess) -> list[Result]:
    why = contenders.udfs_available()
    if why:
        return [_empty(case, f"skipped: {why}")]
    if "MONGODB_URI" not in os.environ:
        return [_empty(case, "skipped: no private MongoDB stand-in")]
    from flink_rag.airline import dataset, kafka_io

    t0 = time.time()
    latencies: list[float] = []
    produced_at: dict[str, float] = {}
    first_seen: dict[str, float] = {}
    status = "ok"
    recs = dead = 0
    with (
        PeakRss(exclude=[server.pid] if server.pid else []) as mem,
        running_pipeline(case, server) as run,
    ):
        submitted = run.submitted
        cancelled, expected = [], 0
        for f in run.flights:
            if expected >= case.rows:
                break
            cancelled.append(f)
            expected += run.passengers[f["flight_id"]]
        events = run.events(cancelled)
        for e in events:
            produced_at[e["event_id"]] = time.time()
        kafka_io.produce(
            run.bootstrap,
            run.names["flight_events"],
            [(None, dataset.dumps(e)) for e in events],
        )

        def on_record(topic: str, key: str, value: dict | None) -> None:
            if value is not None and key not in first_seen:
                first_seen[key] = time.time()
                if topic == run.names["recs"] and value.get("event_id") in produced_at:
                    latencies.append(first_seen[key] - produced_at[value["event_id"]])

        with run.reader() as rd:
            done = rd.wait_for(lambda o: o.total() >= expected, TIMEOUT_S, on_record)
            recs, dead = len(rd.outputs.recommendations), len(rd.outputs.dead_letters)
        if not done:
            status = f"error: {recs + dead} of {expected} outputs within {TIMEOUT_S:.0f}s"
    stats = server.stats()
    first_event = min(produced_at.values()) if produced_at else None
    last = max(first_seen.values()) if first_seen else None
    result = _empty(case, status)
    result.rows = recs
    result.failed = dead
    result.rows_per_s = recs / (last - first_event) if first_event and last and recs else None
    result.calls = stats["ok_requests"]
    result.rate_limited = stats["rate_limited"]
    result.peak_in_flight = stats["max_in_flight"]
    result.start_s = (stats["first_request_at"] - submitted) if stats["first_request_at"] else None
    result.wall_s = time.time() - t0
    result.peak_rss_mb = mem.peak_mb
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    result.extra = (
        f"{len(cancelled)} cancellations, {expected} passengers; event->recommendation "
        f"p50={p50 or 0:.2f}s p99={p99 or 0:.2f}s (burst written at once)"
    )
    return [result]
