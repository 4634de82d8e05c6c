"""The SQL-client path: the same rebooking SQL submitted with `sql-client.sh -f` to the local
session cluster (package shipped with -pyfs) gives the same recommendations as the mini-cluster
path for the same cancelled flight. Both runs share one LLM response cache, so equal prompts
get equal answers, and a second run that adds no cache entry built only prompts (and
embedding inputs) the first run had already sent."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections import Counter

import pytest

from flink_rag.airline import checks, dataset, demo, rebooking
from flink_rag.jobs import sql_client
from flink_rag.local.session import shared_stack

# Both scenarios run in the module fixture: a cold run (ingestion, two jobs) needs the time.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

PASSENGERS = dataset.DEFAULT_BOOKINGS_PER_FLIGHT
OUTPUT_TIMEOUT_S = 600.0
READ_TIMEOUT_S = 60.0
COMPARED = ("recommended_flight_id", "alternatives", "reason", "compensation", "priority")


def cache_entries(directory) -> int:
    from flink_rag.connectors.response_cache import ResponseCache

    cache = ResponseCache(str(directory))
    try:
        return len(cache)
    finally:
        cache.close()


def latest_outputs(bootstrap: str, booked: set[str]) -> tuple[rebooking.Outputs, Counter]:
    """Both topics as tables, read to their end, restricted to the flight's bookings; and how
    often each (topic, key, event id) was written."""
    writes: Counter = Counter()
    with rebooking.output_reader(bootstrap, f"sqlc-check-{uuid.uuid4().hex[:8]}") as reader:
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


def of_event(out: rebooking.Outputs, event_id: str) -> tuple[dict, dict]:
    recs = {k: v for k, v in out.recommendations.items() if v["event_id"] == event_id}
    dead = {
        v["booking_id"]: v["reason"] for v in out.dead_letters.values() if v["event_id"] == event_id
    }
    return recs, dead


def event_ids(out: rebooking.Outputs) -> set[str]:
    return {v["event_id"] for v in [*out.recommendations.values(), *out.dead_letters.values()]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    cache = tmp_path_factory.mktemp("llm-cache")
    with shared_stack(["kafka", "mongo", "connect", "llm", "flink"]) as ep:
        demo._configure_providers(ep.llm_base_url, cache)
        options = {"flink-rag.llm.cache-dir": str(cache), "flink-rag.embed.cache-dir": str(cache)}
        data = dataset.generate()
        flight = checks.pick_flight(data)
        booked = {b["booking_id"] for b in data.bookings_on(flight["flight_id"])}
        common = dict(timeout_s=OUTPUT_TIMEOUT_S, say=print, options=options)

        before, _ = latest_outputs(ep.kafka_bootstrap, booked)
        mini = demo.run_scenario(ep.kafka_bootstrap, ep.mongodb_uri, data, flight, **common)
        mini_out, _ = latest_outputs(ep.kafka_bootstrap, booked)
        entries_before = cache_entries(cache)

        sqlc = demo.run_scenario(
            ep.kafka_bootstrap,
            ep.mongodb_uri,
            data,
            flight,
            skip_ingest=True,
            sql_client=True,
            **common,
        )
        sqlc_out, writes = latest_outputs(ep.kafka_bootstrap, booked)
        entries_after = cache_entries(cache)
        with urllib.request.urlopen(f"{ep.flink_rest_url}/jobs/overview", timeout=10) as resp:
            jobs = json.load(resp)["jobs"]
    return {
        "mini": mini,
        "sqlc": sqlc,
        "before": before,
        "mini_out": mini_out,
        "sqlc_out": sqlc_out,
        "writes": writes,
        "entries": (entries_before, entries_after),
        "jobs": jobs,
    }


def sqlc_event(runs) -> str:
    # Each run injects its own cancellation; its event id is the one new in the topics.
    [event] = event_ids(runs["sqlc_out"]) - event_ids(runs["mini_out"])
    return event


def test_sql_client_run_answers_every_passenger_once(runs):
    summary = runs["sqlc"]
    assert summary.affected == PASSENGERS
    assert summary.grounded + summary.dead_lettered == PASSENGERS, summary
    assert summary.not_grounded == []
    # Counted per event: the topics are shared with earlier runs of the demo and the tests.
    event = sqlc_event(runs)
    written = {key: n for (_, key, e), n in runs["writes"].items() if e == event}
    assert len(written) == PASSENGERS
    assert [key for key, n in written.items() if n > 1] == []


def test_sql_client_recommendations_equal_mini_cluster_ones(runs):
    [mini_event] = event_ids(runs["mini_out"]) - event_ids(runs["before"])
    mini_recs, mini_dead = of_event(runs["mini_out"], mini_event)
    sqlc_recs, sqlc_dead = of_event(runs["sqlc_out"], sqlc_event(runs))
    assert len(sqlc_recs) + len(sqlc_dead) == PASSENGERS
    assert set(sqlc_recs) == set(mini_recs)
    assert sqlc_dead == mini_dead
    for booking_id, rec in sqlc_recs.items():
        assert {k: rec[k] for k in COMPARED} == {k: mini_recs[booking_id][k] for k in COMPARED}
        assert rec["candidates"] == mini_recs[booking_id]["candidates"]


def test_sql_client_run_was_served_from_the_cache(runs):
    """Errors are not cached, so only failed LLM calls of the first run may add entries."""
    before, after = runs["entries"]
    retried = runs["mini"].dead_letter_reasons.get("llm_error", 0)
    assert before > 0
    assert before <= after <= before + retried


def test_cluster_job_is_cancelled(runs):
    ours = [
        j
        for j in runs["jobs"]
        if j["name"].startswith(sql_client.job_name_prefix(rebooking.SQL_FILE))
    ]
    assert ours, "the SQL-client job never reached the cluster"
    assert all(j["state"] in sql_client.TERMINAL for j in ours), ours
