"""One run of the demo scenario (ingestion, the rebooking job on the mini-cluster, a
cancellation) shared by the modules that check it: test_rebooking_e2e checks the demo's
promises, test_rebooking_sql_client compares a second, SQL-client run with it. A cold run is
the longest part of either, so the session makes it once (`demo_run` in conftest.py)."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from flink_rag.airline import checks, dataset, demo, rebooking, scenario

OUTPUT_TIMEOUT_S = 600.0
READ_TIMEOUT_S = 60.0


def read_outputs(bootstrap: str, booked: set[str]) -> tuple[rebooking.Outputs, Counter]:
    """Both topics as tables, read to their end, restricted to `booked`; and how often each
    (topic, key, event id) was written."""
    writes: Counter = Counter()
    with rebooking.output_reader(bootstrap, f"demo-run-check-{uuid.uuid4().hex[:8]}") as reader:
        deadline = time.monotonic() + READ_TIMEOUT_S
        quiet = 0
        while quiet < 2 and time.monotonic() < deadline:  # two empty polls: drained
            records = reader.poll(3.0)
            quiet = 0 if records else quiet + 1
            writes.update((t, k, v["event_id"]) for t, k, v in records if v is not None)
        out = reader.outputs
    tables = rebooking.Outputs(
        recommendations={k: v for k, v in out.recommendations.items() if k in booked},
        dead_letters={k: v for k, v in out.dead_letters.items() if v.get("booking_id") in booked},
    )
    return tables, writes


@dataclass
class DemoRun:
    data: dataset.Dataset
    flight: dict
    booked: set[str]
    summary: scenario.Summary
    cache: Path  # the LLM and embedding response cache the run filled
    options: dict[str, str]  # job options that point the functions at that cache
    before: rebooking.Outputs  # the flight's passengers' outputs before the run
    after: rebooking.Outputs  # and after it


def run_demo(kafka_bootstrap: str, mongodb_uri: str, llm_base_url: str, cache: Path) -> DemoRun:
    demo._configure_providers(llm_base_url, cache)
    options = {"flink-rag.llm.cache-dir": str(cache), "flink-rag.embed.cache-dir": str(cache)}
    data = dataset.generate()
    flight = checks.pick_flight(data)
    booked = {b["booking_id"] for b in data.bookings_on(flight["flight_id"])}
    before, _ = read_outputs(kafka_bootstrap, booked)
    summary = scenario.run_scenario(
        kafka_bootstrap,
        mongodb_uri,
        data,
        flight,
        timeout_s=OUTPUT_TIMEOUT_S,
        say=print,
        options=options,
    )
    after, _ = read_outputs(kafka_bootstrap, booked)
    return DemoRun(data, flight, booked, summary, cache, options, before, after)
