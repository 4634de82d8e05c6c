"""A dead letter, once written, stays for a table reader: ordinary CRM and inventory updates
write nothing to either output topic (no transient outer-join dead letter, no tombstone).

Issue seen on the local stack: a passenger's answer failed and was dead-lettered as
llm_error under booking@<booking>@<event>; an update of that passenger's customer record made
the outer join emit a transient null match, written as booking_without_customer under the
same key and then tombstoned, so a table reader saw neither answer nor dead letter.
The model functions are counting fakes; the SQL is the real job on Kafka + the stand-in.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import rebooking_fakes

from flink_rag.airline import dataset, kafka_io, rebooking
from flink_rag.airline.events import make_event
from flink_rag.local.session import shared_stack

pytestmark = pytest.mark.integration

JOB_TIMEOUT_S = 300.0


@pytest.fixture(scope="module")
def kafka_mongo():
    with shared_stack(["kafka", "mongo"]) as endpoints:
        yield endpoints


def test_llm_error_dead_letter_survives_customer_and_inventory_updates(kafka_mongo, tmp_path: Path):
    import cloudpickle
    import pymongo

    cloudpickle.register_pickle_by_value(rebooking_fakes)
    run = uuid.uuid4().hex[:8]
    names = {k: f"t{run}_{k}" for k in ("customers", "bookings", "flight_inventory")}
    events, recs, dead = f"t{run}_events", f"t{run}_recs", f"t{run}_dead"
    database = f"airline_stay_{run}"
    data = dataset.generate(seed=12, bookings_per_flight=3, days=2)
    cancelled, other = data.flights[0], data.flights[1]
    passengers = data.bookings_on(cancelled["flight_id"])
    others = data.bookings_on(other["flight_id"])
    assert len(passengers) >= 2 and others
    failing = passengers[0]
    failing["special_assistance"] = "LLMFAIL"  # the fake completion fails for this prompt
    failing_key = f"booking@{failing['booking_id']}@EV1"

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
    calls_file = tmp_path / "calls.jsonl"
    register = rebooking_fakes.functions(kafka_mongo.mongodb_uri, database, str(calls_file))
    job = rebooking.submit(params, register=register)
    try:
        with rebooking.OutputReader(bootstrap, f"r{run}", recs, dead) as reader:
            kafka_io.produce(bootstrap, events, [(None, json.dumps(make_event("EV1", cancelled)))])
            assert reader.wait_for(lambda o: o.total() >= len(passengers), JOB_TIMEOUT_S), (
                reader.outputs
            )
            out = reader.outputs
            assert out.dead_letters[failing_key]["reason"] == "llm_error", out.dead_letters
            assert set(out.recommendations) == {b["booking_id"] for b in passengers[1:]}
            first_dead = dict(out.dead_letters)

            # Ordinary updates: the failing passenger's customer record, the cancelled
            # flight's inventory and another passenger's booking.
            customer = next(c for c in data.customers if c["customer_id"] == failing["customer_id"])
            kafka_io.produce(
                bootstrap,
                names["customers"],
                kafka_io.keyed([dict(customer, notes="prefers aisle")], "customer_id"),
            )
            kafka_io.produce(
                bootstrap,
                names["flight_inventory"],
                kafka_io.keyed(
                    [dict(cancelled, departure_time=cancelled["departure_time"])], "flight_id"
                ),
            )
            kafka_io.produce(
                bootstrap,
                names["bookings"],
                kafka_io.keyed([dict(passengers[1], fare_family="FLEX-CHANGED")], "booking_id"),
            )
            # A later event, produced after the updates, marks how far the job has read;
            # the transient records appeared at once after an update, well within the
            # outer-join wait (30 s) the job now gives a missing record.
            kafka_io.produce(bootstrap, events, [(None, json.dumps(make_event("EV2", other)))])
            later: list[tuple[str, str, dict | None]] = []
            expected = {b["booking_id"] for b in others}

            def marker_answered(o: rebooking.Outputs) -> bool:
                return expected <= {k for _, k, v in later if v and v.get("event_id") == "EV2"}

            assert reader.wait_for(marker_answered, JOB_TIMEOUT_S, lambda *r: later.append(r)), (
                later
            )
            # Past the interval join's 30 s: a dead letter that waits would be out by now.
            reader.wait_for(lambda o: False, 35.0, lambda *r: later.append(r))
            out = reader.outputs
    finally:
        job.cancel().result()
        client.drop_database(database)
        client.close()

    stray = [(t, k, v) for t, k, v in later if v is None or v.get("event_id") != "EV2"]
    assert stray == [], stray
    assert out.dead_letters[failing_key] == first_dead[failing_key]
    assert failing_key not in out.tombstones
