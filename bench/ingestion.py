"""Streaming ingestion on the local stack: documents/s through the README recipe
(sql/ingest_documents.sql: CHUNK, MiniLM EMBED, upsert-kafka, Kafka Connect, MongoDB), the
latency from a source update to the new content in MongoDB, and the Connect worker's memory.

    python -m flink_rag_bench.ingestion [--docs 2000] [--updates 10]

Needs `flink-rag local up` (Kafka, MongoDB stand-in, Kafka Connect). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import uuid

BODY = (
    "Document {i} explains how a passenger changes a booking, which fees apply, and when the "
    "airline refunds the fare instead. It also covers seats, baggage and special assistance."
)


def _connect_rss_mb() -> float | None:
    import psutil

    from flink_rag.local.config import LocalConfig
    from flink_rag.local.state import StateDir

    record = StateDir(LocalConfig().home).read_pid("connect")
    if record is None:
        return None
    return psutil.Process(record.pid).memory_info().rss / 2**20


def _wait(predicate, timeout: float, what: str, poll: float = 0.05) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s")
        time.sleep(poll)
    return time.monotonic()


def run(docs: int, updates: int) -> dict:
    import pymongo

    from flink_rag.airline import kafka_io
    from flink_rag.airline.kafka_io import TopicSpec
    from flink_rag.connectors.settings import DEFAULT_DATABASE
    from flink_rag.jobs import minicluster
    from flink_rag.local.connect import connect_url
    from flink_rag.local.endpoints import endpoints
    from flink_rag.stores import sink as store_sink

    ep = endpoints()
    run_id = uuid.uuid4().hex[:8]
    store, source = f"bench_docs_{run_id}", f"bench_docs_src_{run_id}"
    vectors = store_sink.vectors_topic(store)
    params = {
        "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap,
        "DOCS_TOPIC": source,
        "VECTOR_TOPIC": vectors,
        "DEAD_LETTER_TOPIC": f"{vectors}_dead_letter",
    }
    cache = tempfile.mkdtemp(prefix="flink-rag-bench-cache-")
    options = {"flink-rag.embed.provider": "local", "flink-rag.embed.cache-dir": cache}
    spec = store_sink.SinkSpec(
        store, vectors, DEFAULT_DATABASE, store, store_sink.dead_letter_topic(vectors)
    )
    connect = store_sink.ConnectClient(connect_url())
    connect.put_config(spec.name, store_sink.connector_config(spec))
    kafka_io.ensure_topics(ep.kafka_bootstrap, [TopicSpec(source, compact=True)])
    records = [
        (f"d{i}", json.dumps({"doc_id": f"d{i}", "title": f"D{i}", "body": BODY.format(i=i)}))
        for i in range(docs)
    ]
    kafka_io.produce(ep.kafka_bootstrap, source, records)

    client: pymongo.MongoClient = pymongo.MongoClient(ep.mongodb_uri)
    coll = client[DEFAULT_DATABASE][store]
    rss: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            value = _connect_rss_mb()
            if value is not None:
                rss.append(value)
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t_env = minicluster.table_env()
    minicluster.run_file(t_env, "functions.sql", {}, options)
    submitted = time.monotonic()
    job = minicluster.run_file(t_env, "ingest_documents.sql", params, options).get_job_client()
    try:
        first = _wait(lambda: coll.estimated_document_count() > 0, 300, "first document", 0.1)
        last = _wait(lambda: coll.count_documents({}) >= docs, 1800, "all documents", 0.2)
        latencies = []
        for n in range(updates):
            key = f"d{n}"
            text = f"Updated {n} {uuid.uuid4().hex[:6]}: rebooking is free within 24 hours."
            sent = time.monotonic()
            kafka_io.produce(
                ep.kafka_bootstrap,
                source,
                [(key, json.dumps({"doc_id": key, "title": key, "body": text}))],
            )
            seen = _wait(
                lambda k=key, t=text: (coll.find_one({"_id": f"{k}#0"}) or {}).get("content") == t,
                60,
                "update",
            )
            latencies.append(seen - sent)
    finally:
        job.cancel().result()
        stop.set()
        sampler.join(5)
        connect.delete(spec.name)
        coll.drop()
        client.close()
    return {
        "documents": docs,
        "startup_to_first_document_s": round(first - submitted, 1),
        "documents_per_s": round((docs - 1) / max(last - first, 1e-9), 1),
        "documents_per_s_including_startup": round(docs / (last - submitted), 1),
        "update_to_visible_s": {
            "median": round(statistics.median(latencies), 2) if latencies else None,
            "max": round(max(latencies), 2) if latencies else None,
            "n": len(latencies),
        },
        "connect_worker_rss_mb": {
            "max": round(max(rss), 0) if rss else None,
            "last": round(rss[-1], 0) if rss else None,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flink_rag_bench.ingestion")
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--updates", type=int, default=10)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.docs, args.updates), sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
