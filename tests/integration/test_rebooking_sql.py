"""sql/rebooking.sql on the local Kafka + MongoDB stand-in, with deterministic fakes for the
model functions (EMBED_RESULT, VECTOR_LOOKUP_JSON, RAG_PROMPT, LLM_COMPLETE_CITED; see
rebooking_fakes.py).

What is under test is the SQL: the joins, the per-row schema, the grounded check and the
dead-letter routing.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

import pytest
import rebooking_fakes
from rebooking_fakes import FORGED_CITATION, NOT_RETRIEVED

from flink_rag.airline import dataset, kafka_io, rebooking
from flink_rag.airline.events import make_event, malformed_events
from flink_rag.local.session import shared_stack

pytestmark = pytest.mark.integration

JOB_TIMEOUT_S = 300.0
QUIET_S = 8.0  # after the expected count: wait this long for records that must not come


@pytest.fixture(scope="module")
def kafka_mongo():
    with shared_stack(["kafka", "mongo"]) as endpoints:
        yield endpoints


def test_rebooking_sql_routes_every_passenger_and_bad_event(kafka_mongo, tmp_path: Path):
    import cloudpickle
    import pymongo

    cloudpickle.register_pickle_by_value(rebooking_fakes)
    run = uuid.uuid4().hex[:8]
    kinds = ("customers", "bookings", "flight_inventory", "flight_events")
    names = {k: f"t{run}_{k}" for k in (*kinds, "recs", "dead")}
    database = f"airline_test_{run}"

    data = dataset.generate(seed=7, bookings_per_flight=2, days=2)
    cancelled, other = data.flights[0], data.flights[1]
    orphan = dict(
        data.bookings_on(cancelled["flight_id"])[0], booking_id="ORPHAN", customer_id="C999999"
    )
    poison = dict(data.bookings_on(cancelled["flight_id"])[0], booking_id="POISON")
    poison["special_assistance"] = "POISON"
    # Cites a real policy passage that this passenger's lookup did not retrieve.
    forged = dict(data.bookings_on(cancelled["flight_id"])[0], booking_id="FORGED")
    forged["special_assistance"] = "FORGE"
    data.bookings.extend([orphan, poison, forged])

    client = pymongo.MongoClient(kafka_mongo.mongodb_uri)
    client[database]["flights"].insert_many(rebooking_fakes.flight_docs(data))
    client[database]["policies"].insert_many(
        [{"_id": p["section_id"], "content": p["text"]} for p in data.policies]
    )
    kafka_io.load_dataset(
        kafka_mongo.kafka_bootstrap,
        data,
        topics=("customers", "bookings", "flight_inventory"),
        names={
            **names,
            "rebooking_recommendations": names["recs"],
            "rebooking_dead_letter": names["dead"],
        },
    )
    calls_file = tmp_path / "llm_calls.jsonl"
    register = rebooking_fakes.functions(kafka_mongo.mongodb_uri, database, str(calls_file))
    params = rebooking.sql_params(
        kafka_mongo.kafka_bootstrap,
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
    # Phase 1, written before the job starts: bad events, plus one good event (on `other`)
    # that needs every join. Its outputs arriving shows the job has read the CRM tables.
    bootstrap = kafka_mongo.kafka_bootstrap
    kafka_io.produce(
        bootstrap, names["flight_events"], [(None, r) for r, _ in malformed_events(other)]
    )
    phase1_recs = {b["booking_id"] for b in data.bookings_on(other["flight_id"])}
    phase1_dead = Counter(r for _, r in malformed_events(other) if r != "ok")
    # Phase 2, written once the job runs: the cancellation (2 passengers, a booking without
    # customer, an answer naming a flight that was not retrieved, one citing a passage that
    # was not) and a short delay.
    phase2_recs = {
        b["booking_id"]
        for b in data.bookings_on(cancelled["flight_id"])
        if b["booking_id"] not in ("ORPHAN", "POISON", "FORGED")
    }
    phase2_dead = Counter(
        {
            "booking_without_customer": 1,
            "not_a_candidate": 1,
            "citation_not_retrieved": 1,
            "not_disruptive": 1,
        }
    )

    job = rebooking.submit(params, register=register)
    try:
        with rebooking.OutputReader(bootstrap, f"r{run}", names["recs"], names["dead"]) as reader:
            n1 = len(phase1_recs) + sum(phase1_dead.values())
            assert reader.wait_for(lambda o: o.total() >= n1, JOB_TIMEOUT_S), reader.outputs
            records_after_phase1 = reader.outputs.records
            phase1_keys = set(reader.outputs.recommendations) | set(reader.outputs.dead_letters)
            kafka_io.produce(
                bootstrap,
                names["flight_events"],
                [
                    (None, json.dumps(make_event("EV-CANCEL", cancelled))),
                    (None, json.dumps(make_event("EV-SHORT", other, "DELAY", delay_minutes=45))),
                ],
            )
            n2 = n1 + len(phase2_recs) + sum(phase2_dead.values())
            reader.wait_for(lambda o: o.total() >= n2, JOB_TIMEOUT_S)
            reader.wait_for(lambda o: False, QUIET_S)  # nothing more may arrive
            out = reader.outputs
    finally:
        job.cancel().result()
        client.drop_database(database)
        client.close()

    # Both topics read as tables: exactly one entry per passenger and per bad event.
    assert set(out.recommendations) == phase1_recs | phase2_recs
    assert Counter(d["reason"] for d in out.dead_letters.values()) == phase1_dead + phase2_dead
    assert out.total() == n2
    # Once the CRM tables are loaded, every output is written exactly once.
    assert out.records - records_after_phase1 == n2 - n1
    phase2_keys = (set(out.recommendations) | set(out.dead_letters)) - phase1_keys
    assert len(phase2_keys) == n2 - n1
    assert not {key for key, _ in out.keys_written_twice} & phase2_keys
    assert not set(out.tombstones) & phase2_keys
    flights = {f["flight_id"]: f for f in data.flights}
    for booking_id, rec in out.recommendations.items():
        booking = next(b for b in data.bookings if b["booking_id"] == booking_id)
        chosen = flights[rec["recommended_flight_id"]]
        disrupted = flights[booking["flight_id"]]
        assert rec["recommended_flight_id"] in rec["candidates"]
        assert (chosen["origin"], chosen["destination"]) == (
            booking["origin"],
            booking["destination"],
        )
        assert chosen["departure_ts"] > disrupted["departure_ts"]
        assert chosen["cabins"][booking["cabin"]]["seats_left"] > 0
        # The cited passages and the provenance the fake answered with, as the sink wrote them.
        provenance = rec["provenance"]
        assert rec["citations"] and set(rec["citations"]) <= set(provenance["ids"])
        assert len(provenance["ids"]) == len(provenance["scores"]) == 3
        assert provenance["scores"] == [0.9, 0.9, 0.9]
        assert provenance["model"] == "fake" and len(provenance["prompt_sha256"]) == 64
    poison_dl = out.dead_letters["booking@POISON@EV-CANCEL"]
    assert json.loads(poison_dl["raw_answer"])["recommended_flight_id"] == NOT_RETRIEVED
    forged_dl = out.dead_letters["booking@FORGED@EV-CANCEL"]
    assert forged_dl["reason"] == "citation_not_retrieved"
    assert FORGED_CITATION in json.loads(forged_dl["raw_answer"])["citations"]
    retrieved = json.loads(forged_dl["input"])["policies"]
    assert len(retrieved) == 3 and FORGED_CITATION not in retrieved
    # one LLM call per passenger that reached the prompt: the two sinks share the call
    llm_calls = rebooking_fakes.counts(calls_file)["LLM_COMPLETE_CITED"]
    assert llm_calls == len(phase1_recs) + len(phase2_recs) + 2
