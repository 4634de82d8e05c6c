"""sql/rebooking.sql on the local Kafka + MongoDB stand-in, with deterministic fakes for the
model functions (EMBED, VECTOR_LOOKUP_JSON, RAG_PROMPT, LLM_COMPLETE_JSON).

What is under test is the SQL: the joins, the per-row schema, the grounded check and the
dead-letter routing. The fakes answer like the real functions' contracts say (the fake
lookup runs the row's filter on MongoDB; the fake LLM picks a candidate from the schema's
enum, or a flight that was not retrieved when the passenger's assistance code is POISON).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from flink_rag.airline import dataset, kafka_io, rebooking
from flink_rag.airline.events import make_event, malformed_events
from flink_rag.local.session import shared_stack

pytestmark = pytest.mark.integration

JOB_TIMEOUT_S = 300.0
QUIET_S = 8.0  # after the expected count: wait this long for records that must not come
NOT_RETRIEVED = "XX0001-2026-11-22"


@pytest.fixture(scope="module")
def kafka_mongo():
    with shared_stack(["kafka", "mongo"]) as endpoints:
        yield endpoints


# --- fakes (pickled by value into the Python workers) ---------------------------------------


def _fake_functions(mongodb_uri: str, database: str, calls_file: str):
    from pyflink.table import DataTypes
    from pyflink.table.udf import udf

    @udf(result_type=DataTypes.ARRAY(DataTypes.FLOAT()))
    def embed(text):
        return None if not text else [1.0, 0.0, 0.0, 0.0]

    @udf(result_type=DataTypes.STRING())
    def vector_lookup_json(store, query, k, filter_json):
        import pymongo

        client = pymongo.MongoClient(mongodb_uri)
        try:
            coll = client[database][store]
            query_filter = json.loads(filter_json) if filter_json else {}
            cursor = coll.find(query_filter).sort("_id", 1).limit(k)
            if store == "flights":
                cursor = coll.find(query_filter).sort("departure_ts", 1).limit(k)
            hits = [
                {"id": d["_id"], "score": 0.9, "content": d["content"], "metadata": {}}
                for d in cursor
            ]
        finally:
            client.close()
        return json.dumps({"hits": hits, "error": None})

    @udf(result_type=DataTypes.STRING())
    def rag_prompt(template, context_json, budget):
        from flink_rag.connectors.prompt import hits_from_json, render_prompt

        return render_prompt(template, hits_from_json(context_json), budget)

    row_type = DataTypes.ROW(
        [
            DataTypes.FIELD("text", DataTypes.STRING()),
            DataTypes.FIELD("error", DataTypes.STRING()),
            DataTypes.FIELD("prompt_tokens", DataTypes.INT()),
            DataTypes.FIELD("completion_tokens", DataTypes.INT()),
            DataTypes.FIELD("latency_ms", DataTypes.BIGINT()),
        ]
    )

    @udf(result_type=row_type)
    def llm_complete_json(prompt, system, schema):
        from pyflink.common import Row

        with open(calls_file, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"prompt": prompt}) + "\n")
        props = json.loads(schema)["properties"]
        candidates = props["recommended_flight_id"]["enum"]
        pick = NOT_RETRIEVED if "needs POISON" in prompt else candidates[0]
        answer = {
            "booking_id": props["booking_id"]["enum"][0],
            "recommended_flight_id": pick,
            "alternatives": candidates[1:3],
            "reason": "earliest later flight on the same route",
            "compensation": "EUR 250",
            "priority": "NORMAL",
        }
        return Row(json.dumps(answer), None, 10, 10, 1)

    def register(t_env):
        for name, fn in (
            ("EMBED", embed),
            ("VECTOR_LOOKUP_JSON", vector_lookup_json),
            ("RAG_PROMPT", rag_prompt),
            ("LLM_COMPLETE_JSON", llm_complete_json),
        ):
            t_env.create_temporary_system_function(name, fn)

    return register


# --- scenario ---------------------------------------------------------------------------


def _flight_docs(data: dataset.Dataset) -> list[dict]:
    return [
        {
            "_id": f["flight_id"],
            "content": f"Flight {f['flight_number']} {f['origin']}-{f['destination']} "
            f"departs {f['departure_time']}",
            "embedding": [1.0, 0.0, 0.0, 0.0],
            "origin": f["origin"],
            "destination": f["destination"],
            "departure_ts": f["departure_ts"],
            "departure_time": f["departure_time"],
            "seats_left": f["seats_left"],
            "cabins": [c for c, inv in f["cabins"].items() if inv["seats_left"] > 0],
        }
        for f in data.flights
    ]


def test_rebooking_sql_routes_every_passenger_and_bad_event(kafka_mongo, tmp_path: Path):
    import cloudpickle
    import pymongo

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
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
    data.bookings.extend([orphan, poison])

    client = pymongo.MongoClient(kafka_mongo.mongodb_uri)
    client[database]["flights"].insert_many(_flight_docs(data))
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
    register = _fake_functions(kafka_mongo.mongodb_uri, database, str(calls_file))
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
    # customer, an answer naming a flight that was not retrieved) and a short delay.
    phase2_recs = {
        b["booking_id"]
        for b in data.bookings_on(cancelled["flight_id"])
        if b["booking_id"] not in ("ORPHAN", "POISON")
    }
    phase2_dead = Counter(
        {"booking_without_customer": 1, "not_a_candidate": 1, "not_disruptive": 1}
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
    poison_dl = out.dead_letters["booking@POISON@EV-CANCEL"]
    assert json.loads(poison_dl["raw_answer"])["recommended_flight_id"] == NOT_RETRIEVED
    # one LLM call per passenger that reached the prompt: the two sinks share the call
    calls = calls_file.read_text(encoding="utf-8").splitlines()
    assert len(calls) == len(phase1_recs) + len(phase2_recs) + 1
