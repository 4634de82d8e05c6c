"""End to end on the local stack with the real functions (MiniLM embeddings, MongoDB stand-in
in scan mode, the local LLM): cancelling a flight with N booked passengers yields exactly N
outputs across the recommendation and dead-letter topics, every recommendation is grounded,
and the streaming ingestion put one document per scheduled flight into MongoDB."""

from __future__ import annotations

import pytest

from flink_rag.airline import checks, dataset, demo

# The module fixture loads, ingests and runs the job once for all tests here.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

# The demo's own data set: the topics are compacted tables shared with `flink-rag demo`, and
# the same seed and knobs write the same records, so runs of either never mix data sets.
PASSENGERS = dataset.DEFAULT_BOOKINGS_PER_FLIGHT
OUTPUT_TIMEOUT_S = 600.0


@pytest.fixture(scope="module")
def scenario(local_stack, tmp_path_factory):
    demo._configure_providers(local_stack.llm_base_url, tmp_path_factory.mktemp("cache"))
    data = dataset.generate()
    flight = checks.pick_flight(data)
    summary = demo.run_scenario(
        local_stack.kafka_bootstrap,
        local_stack.mongodb_uri,
        data,
        flight,
        timeout_s=OUTPUT_TIMEOUT_S,
        say=print,
    )
    return data, flight, summary


def test_every_passenger_gets_exactly_one_output(scenario):
    _, _, summary = scenario
    assert summary.affected == PASSENGERS
    assert summary.grounded + summary.dead_lettered == PASSENGERS, summary
    assert summary.duplicates == []


def test_every_recommendation_is_grounded(scenario):
    _, _, summary = scenario
    assert summary.not_grounded == []


def test_ingestion_indexed_every_scheduled_flight(scenario):
    data, _, summary = scenario
    assert summary.ingested["flights"] == sum(f["status"] == "SCHEDULED" for f in data.flights)
    assert summary.ingested["policies"] >= len(data.policies)
