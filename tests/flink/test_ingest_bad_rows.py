"""sql/ingest_flights.sql on the local Kafka with the real (local MiniLM) EMBED: a flight whose
description has a NULL column (CONCAT gives NULL) and a source record that is not a JSON
object become dead letters with a reason; neither reaches the vectors topic, so the sink
never replaces a flight's document with one without a vector. Before, the NULL-text flight
went to the vectors topic without content or embedding, and the bad record was dropped."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from flink_rag.airline import dataset, ingestion, kafka_io
from flink_rag.airline.kafka_io import TopicSpec
from flink_rag.jobs import minicluster

pytestmark = pytest.mark.flink

TIMEOUT_S = 240.0


def _read(bootstrap: str, topic: str, until, timeout_s: float) -> dict[str, dict | None]:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"it-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    found: dict[str, dict | None] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not until(found):
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            value = msg.value()
            found[msg.key().decode()] = json.loads(value) if value is not None else None
    finally:
        consumer.close()
    assert until(found), f"{topic}: {found}"
    return found


def test_null_text_and_bad_records_are_dead_letters(local_kafka, tmp_path):
    run = uuid.uuid4().hex[:8]
    source, vectors, dead = f"it_fl_{run}", f"it_fl_{run}_vectors", f"it_fl_{run}_dead"
    kafka_io.ensure_topics(local_kafka, [TopicSpec(source, compact=True)])
    data = dataset.generate(seed=3, bookings_per_flight=1, days=1)
    good, no_aircraft = data.flights[0], dict(data.flights[1], aircraft=None)
    empty = dict(data.flights[2], flight_number="")  # text still there: embeds
    records = list(kafka_io.keyed([good, no_aircraft, empty], "flight_id"))
    records += [("junk", "{not json"), ("nokey", json.dumps({"origin": "FRA"}))]
    kafka_io.produce(local_kafka, source, records)

    params = {
        **ingestion.sql_params("flights", local_kafka, source),
        "VECTOR_TOPIC": vectors,
        "DEAD_LETTER_TOPIC": dead,
    }
    options = {
        "flink-rag.embed.provider": "local",
        "flink-rag.embed.cache-dir": str(tmp_path / "cache"),
    }
    t_env = minicluster.table_env()
    minicluster.run_file(t_env, "functions.sql", {}, options)
    job = minicluster.run_file(t_env, "ingest_flights.sql", params, options).get_job_client()
    try:
        dead_letters = _read(local_kafka, dead, lambda f: len(f) >= 3, TIMEOUT_S)
        written = _read(local_kafka, vectors, lambda f: len(f) >= 2, TIMEOUT_S)
    finally:
        job.cancel().result()

    assert set(written) == {good["flight_id"], empty["flight_id"]}
    assert all(len(v["embedding"]) == 384 and v["content"] for v in written.values() if v)
    assert no_aircraft["flight_id"] not in written
    problem = dead_letters[no_aircraft["flight_id"]]
    assert problem["embed_error"].startswith("no text to embed")
    assert "embedding" not in problem
    raw = {k: v for k, v in dead_letters.items() if k.startswith("raw@")}
    assert sorted(v["content"] for v in raw.values()) == sorted(
        ["{not json", json.dumps({"origin": "FRA"})]
    )
    assert {v["embed_error"] for v in raw.values()} == {
        "the inventory record is not a JSON object: fix or delete it at the source",
        "the inventory record has no flight_id",
    }
