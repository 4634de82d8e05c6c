"""End to end on the local stack with the real functions (MiniLM embeddings, MongoDB stand-in
in scan mode, the local LLM): cancelling a flight with N booked passengers yields exactly N
outputs across the recommendation and dead-letter topics, every recommendation is grounded,
and the streaming ingestion put one document per scheduled flight into MongoDB."""

from __future__ import annotations

import pytest

from flink_rag.airline import chunking, dataset
from flink_rag.airline.scenario import citation_lines

# The session fixture loads, ingests and runs the job once for all tests here.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

PASSENGERS = dataset.DEFAULT_BOOKINGS_PER_FLIGHT


@pytest.fixture(scope="module")
def scenario(demo_run):
    """The session's demo run (tests/integration/demo_run.py), shared with the SQL-client
    test. The topics are tables shared with `flink-rag demo`; the run checks only its own
    data set's passengers."""
    return demo_run.data, demo_run.flight, demo_run.summary


def test_every_passenger_gets_exactly_one_output(scenario):
    _, _, summary = scenario
    assert summary.affected == PASSENGERS
    assert summary.grounded + summary.dead_lettered == PASSENGERS, summary
    assert summary.duplicates == []


def test_every_recommendation_is_grounded(scenario):
    _, _, summary = scenario
    assert summary.not_grounded == []


def test_every_passenger_gets_a_readable_recommendation(scenario):
    """The answer schema has no free text: no answer is cut, none is dead-lettered, and every
    reason is the sentence built from the answer and the inventory."""
    _, _, summary = scenario
    assert summary.dead_letter_reasons == {}
    assert summary.grounded == PASSENGERS
    assert summary.unreadable == []


def test_ingestion_indexed_every_scheduled_flight(scenario):
    data, _, summary = scenario
    assert summary.ingested["flights"] == sum(f["status"] == "SCHEDULED" for f in data.flights)
    assert summary.ingested["policies"] >= len(data.policies)


def test_every_recommendation_cites_policy_passages_it_was_given(demo_run):
    """The local model, held to the schema's enum of the policy ids in its prompt, cites one or
    two of them; the provenance names those passages with their lookup scores, the model and
    the prompt's hash, and each cited id is a chunk of a real policy section."""
    earlier = {r["event_id"] for r in demo_run.before.recommendations.values()}
    new = [v for v in demo_run.after.recommendations.values() if v["event_id"] not in earlier]
    assert len(new) == PASSENGERS
    for rec in new:
        provenance = rec["provenance"]
        assert 1 <= len(rec["citations"]) <= 2
        assert set(rec["citations"]) <= set(provenance["ids"])
        assert len(provenance["scores"]) == len(provenance["ids"]) >= 1
        assert all(0.0 <= score <= 1.0 for score in provenance["scores"])
        assert provenance["model"] and len(provenance["prompt_sha256"]) == 64
        for cited in rec["citations"]:
            assert chunking.section_of(cited, demo_run.data.policies) is not None, cited
        lines = citation_lines(rec, demo_run.data.policies)
        assert len(lines) == len(rec["citations"])
        assert all("not a section" not in line and "(score 0." in line for line in lines)
