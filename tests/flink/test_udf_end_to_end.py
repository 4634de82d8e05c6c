"""End to end through SQL in real worker processes: Kafka topic in -> EMBED (local MiniLM) ->
VECTOR_LOOKUP (MongoDB stand-in, scan mode, real MiniLM vectors) -> LLM_COMPLETE_JSON (local
LLM server, JSON schema) -> Kafka topic out, checked by a consumer."""

from __future__ import annotations

import json
import uuid

import jsonschema
import numpy as np
import pytest
from confluent_kafka import Consumer, Producer
from pymongo import MongoClient

from flink_rag.connectors.local_embedding import SentenceTransformerEmbedder
from flink_rag.connectors.mongodb_index import create_vector_index
from flink_rag.connectors.settings import EmbedSettings

pytestmark = pytest.mark.flink

JOB_TIMEOUT_MS = 600_000
FLIGHTS = {
    "LH100": "LH100 Frankfurt to Munich, departs 10:00, 12 seats left.",
    "LH200": "LH200 Frankfurt to Berlin, departs 11:30, 3 seats left.",
    "AF300": "AF300 Paris to Nice, departs 09:15, 40 seats left.",
}
REQUESTS = [
    {"id": "r1", "need": "passenger stranded in Frankfurt needs a flight to Munich"},
    {"id": "r2", "need": "cancelled flight, traveller must get from Paris to Nice today"},
    {"id": "r3", "need": "rebook a passenger from Frankfurt to Berlin"},
]
SCHEMA = {
    "type": "object",
    "properties": {"flight": {"type": "string", "enum": sorted(FLIGHTS)}},
    "required": ["flight"],
    "additionalProperties": False,
}


def kafka_table(name: str, topic: str, bootstrap: str, columns: str, source: bool) -> str:
    bounded = (
        "'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', "
        f"'properties.group.id' = 'udf-e2e-{uuid.uuid4().hex[:8]}', "
        if source
        else ""
    )
    return (
        f"CREATE TEMPORARY TABLE {name} ({columns}) WITH ('connector' = 'kafka', "
        f"'topic' = '{topic}', 'properties.bootstrap.servers' = '{bootstrap}', {bounded}"
        "'format' = 'json')"
    )


def test_kafka_to_kafka_with_embed_lookup_and_structured_completion(local_stack, udf_env):
    embedder = SentenceTransformerEmbedder(EmbedSettings())
    embedder.open()
    run = uuid.uuid4().hex[:8]
    database = f"udf_e2e_{run}"
    mongo = MongoClient(local_stack.mongodb_uri, serverSelectionTimeoutMS=5000)
    try:
        vectors = dict(zip(FLIGHTS, embedder.embed_batch(list(FLIGHTS.values())), strict=True))
        collection = mongo[database]["flights"]
        collection.insert_many(
            {"_id": f, "content": FLIGHTS[f], "embedding": v} for f, v in vectors.items()
        )
        create_vector_index(collection, "flights_vector_index", "embedding", 384, mode="scan")

        source_topic, sink_topic = f"udf-in-{run}", f"udf-out-{run}"
        producer = Producer({"bootstrap.servers": local_stack.kafka_bootstrap})
        for request in REQUESTS:
            producer.produce(source_topic, value=json.dumps(request))
        assert producer.flush(30) == 0

        t_env = udf_env(
            {
                "flink-rag.llm.base-url": local_stack.llm_base_url,
                "flink-rag.llm.max-tokens": "32",
                "flink-rag.llm.temperature": "0",
                "flink-rag.store.flights.database": database,
                "flink-rag.store.flights.mode": "scan",
            }
        )
        bootstrap = local_stack.kafka_bootstrap
        t_env.execute_sql(
            kafka_table("requests", source_topic, bootstrap, "id STRING, need STRING", True)
        )
        t_env.execute_sql(
            kafka_table(
                "answers",
                sink_topic,
                bootstrap,
                "id STRING, top_flight STRING, score DOUBLE, answer STRING, error STRING",
                False,
            )
        )
        schema_sql = json.dumps(SCHEMA).replace("'", "''")
        t_env.execute_sql(
            f"""
INSERT INTO answers
SELECT id, doc_id, score, r.text, r.error
FROM (
  SELECT q.id, h.doc_id, h.score,
         LLM_COMPLETE_JSON(
           'Flight: ' || h.content || ' Need: ' || q.need || ' Which flight id fits?',
           'Answer with JSON naming one flight id.',
           '{schema_sql}') AS r
  FROM (SELECT id, need, EMBED(need) AS v FROM requests) AS q
  LEFT JOIN LATERAL TABLE(VECTOR_LOOKUP('flights', q.v, 1, CAST(NULL AS STRING)))
    AS h(doc_id, score, content, metadata, error) ON TRUE
)"""
        ).wait(JOB_TIMEOUT_MS)

        received = consume(bootstrap, sink_topic, len(REQUESTS), run)
    finally:
        mongo.drop_database(database)
        mongo.close()

    assert sorted(r["id"] for r in received) == ["r1", "r2", "r3"]
    for record in received:
        need = next(q["need"] for q in REQUESTS if q["id"] == record["id"])
        q = np.asarray(embedder.embed_batch([need])[0])
        cosines = {
            f: float(q @ np.asarray(v) / np.linalg.norm(q) / np.linalg.norm(v))
            for f, v in vectors.items()
        }
        best = max(cosines, key=cosines.get)
        assert record["top_flight"] == best
        assert record["score"] == pytest.approx((1 + cosines[best]) / 2, abs=1e-5)
        assert record["error"] is None, record
        jsonschema.validate(json.loads(record["answer"]), SCHEMA)
    embedder.close()
    # The lookup found the obvious flight for each need.
    by_id = {r["id"]: r["top_flight"] for r in received}
    assert by_id == {"r1": "LH100", "r2": "AF300", "r3": "LH200"}


def consume(bootstrap: str, topic: str, expected: int, run: str) -> list[dict]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{run}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    received: list[dict] = []
    try:
        for _ in range(60):
            msg = consumer.poll(1.0)
            if msg is None:
                if len(received) >= expected:
                    break
                continue
            assert msg.error() is None, msg.error()
            received.append(json.loads(msg.value()))
    finally:
        consumer.close()
    return received
