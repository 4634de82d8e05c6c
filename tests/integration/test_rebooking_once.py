"""Once per passenger: after a cancellation is answered, updates to the flights, bookings and
customers tables neither call the model functions again nor rewrite an emitted answer.

The model functions are counting fakes (rebooking_fakes.py); the joins, the first-version
filters and the grounded check are the real SQL on the local Kafka + MongoDB stand-in.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import rebooking_fakes

from flink_rag.airline import dataset, kafka_io, rebooking
from flink_rag.airline.events import make_event
from flink_rag.local.session import shared_stack

pytestmark = pytest.mark.integration

JOB_TIMEOUT_S = 300.0
QUIET_S = 10.0
# Calls per passenger that reaches the prompt: two texts embedded, two lookups, two
# prompt renderings (policy context + prompt), one completion.
PER_PASSENGER = {
    "EMBED_RESULT": 2,
    "VECTOR_LOOKUP_JSON": 2,
    "RAG_PROMPT": 2,
    "LLM_COMPLETE_CITED": 1,
}


@pytest.fixture(scope="module")
def kafka_mongo():
    with shared_stack(["kafka", "mongo"]) as endpoints:
        yield endpoints


def _scaled(n: int) -> dict[str, int]:
    return {fn: k * n for fn, k in PER_PASSENGER.items()}


def test_updates_to_every_table_neither_recall_the_model_nor_rewrite_answers(
    kafka_mongo, tmp_path: Path
):
    import cloudpickle
    import pymongo

    cloudpickle.register_pickle_by_value(rebooking_fakes)
    run = uuid.uuid4().hex[:8]
    names = {k: f"t{run}_{k}" for k in ("customers", "bookings", "flight_inventory")}
    events, recs, dead = f"t{run}_events", f"t{run}_recs", f"t{run}_dead"
    database = f"airline_once_{run}"
    data = dataset.generate(seed=11, bookings_per_flight=3, days=2)
    cancelled, later = data.flights[0], data.flights[1]
    passengers = data.bookings_on(cancelled["flight_id"])
    assert passengers and data.bookings_on(later["flight_id"])

    client = pymongo.MongoClient(kafka_mongo.mongodb_uri)
    client[database]["flights"].insert_many(rebooking_fakes.flight_docs(data))
    client[database]["policies"].insert_many(
        [{"_id": p["section_id"], "content": p["text"]} for p in data.policies]
    )
    bootstrap = kafka_mongo.kafka_bootstrap
    kafka_io.load_dataset(
        bootstrap,
        data,
        topics=tuple(names),
        names={
            **names,
            "flight_events": events,
            "rebooking_recommendations": recs,
            "rebooking_dead_letter": dead,
        },
    )
    calls_file = tmp_path / "calls.jsonl"
    params = rebooking.sql_params(
        bootstrap,
        group_id=f"g{run}",
        topics={
            "EVENT_TOPIC": events,
            "BOOKING_TOPIC": names["bookings"],
            "CUSTOMER_TOPIC": names["customers"],
            "FLIGHT_TOPIC": names["flight_inventory"],
            "RECOMMENDATION_TOPIC": recs,
            "DEAD_LETTER_TOPIC": dead,
        },
    )
    register = rebooking_fakes.functions(kafka_mongo.mongodb_uri, database, str(calls_file))
    job = rebooking.submit(params, register=register)
    try:
        with rebooking.OutputReader(bootstrap, f"r{run}", recs, dead) as reader:
            kafka_io.produce(bootstrap, events, [(None, json.dumps(make_event("EV1", cancelled)))])
            started = time.monotonic()
            assert reader.wait_for(
                lambda o: len(o.recommendations) >= len(passengers), JOB_TIMEOUT_S
            ), reader.outputs
            print(f"first answers after {time.monotonic() - started:.0f} s")
            reader.wait_for(lambda o: False, QUIET_S)
            first = {k: dict(v) for k, v in reader.outputs.recommendations.items()}
            assert rebooking_fakes.counts(calls_file) == _scaled(len(passengers))

            # Updates to all three tables, each of which would change the joined row or the
            # grounded check: the cancelled flight's inventory, every recommended flight
            # sold out, a fare family and a customer's notes.
            chosen = {rec["recommended_flight_id"] for rec in first.values()}
            sold_out = []
            for flight in data.flights:
                if flight["flight_id"] in chosen | {cancelled["flight_id"]}:
                    cabins = {c: dict(inv, seats_left=0) for c, inv in flight["cabins"].items()}
                    sold_out.append(dict(flight, cabins=cabins, seats_left=0))
            booking = dict(passengers[0], fare_family="FLEX-CHANGED")
            customer = next(
                c for c in data.customers if c["customer_id"] == passengers[-1]["customer_id"]
            )
            customer = dict(customer, notes="Changed after the answer: wants a window seat.")
            kafka_io.produce(
                bootstrap, names["flight_inventory"], kafka_io.keyed(sold_out, "flight_id")
            )
            kafka_io.produce(bootstrap, names["bookings"], kafka_io.keyed([booking], "booking_id"))
            kafka_io.produce(
                bootstrap, names["customers"], kafka_io.keyed([customer], "customer_id")
            )
            time.sleep(QUIET_S)  # the updates are read by their own sources meanwhile
            # A second event after the updates: its answers show the job is still working.
            others = data.bookings_on(later["flight_id"])
            kafka_io.produce(bootstrap, events, [(None, json.dumps(make_event("EV2", later)))])
            total = len(passengers) + len(others)
            later_records: list[tuple[str, str, dict | None]] = []
            assert reader.wait_for(
                lambda o: o.total() >= total,
                JOB_TIMEOUT_S,
                lambda *record: later_records.append(record),
            ), reader.outputs
            reader.wait_for(lambda o: False, QUIET_S, lambda *r: later_records.append(r))
            out = reader.outputs
    finally:
        job.cancel().result()
        client.drop_database(database)
        client.close()

    # The first event's answers were written once and never rewritten or retracted.
    for key, rec in first.items():
        assert out.recommendations[key] == rec
    assert not {k for k, _ in out.keys_written_twice} & set(first)
    assert not set(out.tombstones) & set(first)
    # After the updates: the second event's outputs, and nothing else. The CRM and inventory
    # updates wrote nothing to either topic: no transient outer-join dead letter, no
    # tombstone (the outer-join dead letters are insert-only and wait for the record).
    second = {b["booking_id"] for b in others}
    assert {k for _, k, v in later_records if v is not None and v["event_id"] == "EV2"} == second
    transient = [(t, k, v) for t, k, v in later_records if v is None or v["event_id"] != "EV2"]
    assert transient == []
    assert rebooking_fakes.counts(calls_file) == _scaled(total)
    per_booking = [
        c["key"] for c in rebooking_fakes.calls(calls_file) if c["fn"] == "LLM_COMPLETE_CITED"
    ]
    assert sorted(per_booking) == sorted(b["booking_id"] for b in [*passengers, *others])
