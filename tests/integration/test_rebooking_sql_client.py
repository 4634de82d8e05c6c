"""The SQL-client path: the same rebooking SQL submitted with `sql-client.sh -f` to the local
session cluster (package shipped with -pyfs) gives the same recommendations as the mini-cluster
path for the same cancelled flight. Both runs share one LLM response cache, so equal prompts
get equal answers, and a second run that adds no cache entry built only prompts (and
embedding inputs) the first run had already sent."""

from __future__ import annotations

import json
import urllib.request

import pytest
from demo_run import OUTPUT_TIMEOUT_S, read_outputs

from flink_rag.airline import dataset, rebooking, scenario
from flink_rag.jobs import sql_client
from flink_rag.local.session import shared_stack

# The session's demo run (tests/integration/demo_run.py) is the mini-cluster run; this module
# adds the SQL-client run on the session cluster.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

PASSENGERS = dataset.DEFAULT_BOOKINGS_PER_FLIGHT
COMPARED = (
    "recommended_flight_id",
    "alternatives",
    "reason",
    "compensation",
    "priority",
    "citations",
)


def cache_entries(directory) -> int:
    from flink_rag.connectors.response_cache import ResponseCache

    cache = ResponseCache(str(directory))
    try:
        return len(cache)
    finally:
        cache.close()


def of_event(out: rebooking.Outputs, event_id: str) -> tuple[dict, dict]:
    recs = {k: v for k, v in out.recommendations.items() if v["event_id"] == event_id}
    dead = {
        v["booking_id"]: v["reason"] for v in out.dead_letters.values() if v["event_id"] == event_id
    }
    return recs, dead


def event_ids(out: rebooking.Outputs) -> set[str]:
    return {v["event_id"] for v in [*out.recommendations.values(), *out.dead_letters.values()]}


@pytest.fixture(scope="module")
def runs(demo_run):
    mini = demo_run
    with shared_stack(["kafka", "mongo", "connect", "llm", "flink"]) as ep:
        entries_before = cache_entries(mini.cache)
        sqlc = scenario.run_scenario(
            ep.kafka_bootstrap,
            ep.mongodb_uri,
            mini.data,
            mini.flight,
            timeout_s=OUTPUT_TIMEOUT_S,
            say=print,
            options=mini.options,
            skip_ingest=True,
            sql_client=True,
        )
        sqlc_out, writes = read_outputs(ep.kafka_bootstrap, mini.booked)
        entries_after = cache_entries(mini.cache)
        with urllib.request.urlopen(f"{ep.flink_rest_url}/jobs/overview", timeout=10) as resp:
            jobs = json.load(resp)["jobs"]
    return {
        "mini": mini.summary,
        "sqlc": sqlc,
        "before": mini.before,
        "mini_out": mini.after,
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
        # the same prompt built from the same passages, by the same model
        mini_provenance = mini_recs[booking_id]["provenance"]
        for key in ("ids", "model", "prompt_sha256"):
            assert rec["provenance"][key] == mini_provenance[key]


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
