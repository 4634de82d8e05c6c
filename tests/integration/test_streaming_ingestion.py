"""The README's "index your own documents" recipe (sql/ingest_documents.sql) end to end on the
local stack: a source topic -> Flink (CHUNK, MiniLM EMBED) -> upsert-kafka -> Kafka Connect +
MongoDB sink connector -> MongoDB. Inserts, updates (one that drops chunks) and deletes show up
with exact document counts within a bounded time; a chunk whose EMBED fails goes to the
dead-letter topic with its reason and never reaches MongoDB without a vector; a replay from the
start adds nothing."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import pymongo
import pytest
from confluent_kafka import Consumer

from flink_rag.airline import kafka_io
from flink_rag.airline.kafka_io import TopicSpec
from flink_rag.cli import main
from flink_rag.connectors.local_embedding import model_dir
from flink_rag.connectors.settings import DEFAULT_DATABASE
from flink_rag.jobs import minicluster
from flink_rag.stores import sink as store_sink

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

VISIBLE_TIMEOUT_S = 180.0  # first documents: job start, model load, Connect
UPDATE_TIMEOUT_S = 60.0
MAX_INPUT_TOKENS = 110  # chunks of the recipe are <= 128 tokens: longer ones fail to embed


@pytest.fixture(scope="module")
def count_tokens() -> Callable[[str], int]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir()))
    return lambda text: len(tok(text, verbose=False)["input_ids"])


def paragraph(tokens: int, stem: str, count: Callable[[str], int]) -> str:
    """Sentences about `stem` until the paragraph has about `tokens` MiniLM tokens."""
    sentences: list[str] = []
    i = 0
    while count(" ".join(sentences)) < tokens:
        sentences.append(f"{stem} rule {i} applies.")
        i += 1
    return " ".join(sentences)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.2)
    return time.monotonic() - started


def start_job(bootstrap: str, params: dict, options: dict) -> object:
    t_env = minicluster.table_env()
    minicluster.run_file(t_env, "functions.sql", {}, options)
    result = minicluster.run_file(t_env, "ingest_documents.sql", params, options)
    return result.get_job_client()


def dead_letters(bootstrap: str, topic: str) -> dict[str, dict]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"it-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    found: dict[str, dict] = {}
    try:
        idle = 0
        while idle < 5:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                idle += 1
                continue
            idle = 0
            if msg.value() is not None:
                found[msg.key().decode()] = json.loads(msg.value())
    finally:
        consumer.close()
    return found


def test_recipe_streams_inserts_updates_deletes_and_replays_idempotently(
    local_stack, count_tokens, tmp_path, capsys
):
    bootstrap = local_stack.kafka_bootstrap
    run = uuid.uuid4().hex[:8]
    store, source = f"it_docs_{run}", f"it_docs_src_{run}"
    vectors, dead = f"{store}_vectors", f"{store}_vectors_dead_letter"
    params = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DOCS_TOPIC": source,
        "VECTOR_TOPIC": vectors,
        "DEAD_LETTER_TOPIC": dead,
    }
    options = {
        "flink-rag.embed.provider": "local",
        "flink-rag.embed.cache-dir": str(tmp_path / "cache"),
        "flink-rag.embed.max-input-tokens": str(MAX_INPUT_TOKENS),
        "flink-rag.embed.on-overlong": "error",
    }
    kafka_io.ensure_topics(bootstrap, [TopicSpec(source, compact=True)])
    assert main(["store", "sink", "create", "--store", store]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "RUNNING"

    def doc(doc_id: str, body: str, category: str = "faq") -> tuple[str, str]:
        value = {"doc_id": doc_id, "title": doc_id.title(), "body": body, "category": category}
        return doc_id, json.dumps(value)

    # Three ~70-token paragraphs: two do not fit in one 128-token chunk, so three chunks.
    long_body = "\n\n".join(paragraph(66, f"p{i}", count_tokens) for i in range(3))
    first = [doc(f"faq-{i}", f"How do I change seat {i}? Open the booking.") for i in range(10)]
    first += [doc("long", long_body, "policy"), doc("fragile", "Pets travel in the cabin.")]
    kafka_io.produce(bootstrap, source, first)

    client: pymongo.MongoClient = pymongo.MongoClient(local_stack.mongodb_uri)
    coll = client[DEFAULT_DATABASE][store]
    job = start_job(bootstrap, params, options)
    try:
        ids = lambda: {d["_id"] for d in coll.find({}, {"_id": 1})}  # noqa: E731
        expected = {f"faq-{i}#0" for i in range(10)} | {"long#0", "long#1", "long#2", "fragile#0"}
        first_s = wait_for(lambda: ids() == expected, VISIBLE_TIMEOUT_S, "first documents")
        faq0 = coll.find_one({"_id": "faq-0#0"})
        assert faq0["content"] == "How do I change seat 0? Open the booking."
        assert len(faq0["embedding"]) == 384 and faq0["category"] == "faq"

        started = time.monotonic()
        kafka_io.produce(
            bootstrap,
            source,
            [
                doc("faq-0", "How do I change my seat? Use the app."),
                doc("long", paragraph(60, "short", count_tokens), "policy"),  # 3 chunks -> 1
                doc(
                    "fragile", paragraph(114, "pets", count_tokens)
                ),  # one chunk, too long to embed
                ("faq-1", None),  # tombstones: deletes
                ("faq-2", None),
            ],
        )
        # The failed chunk's old version is retracted (Flink's upsert materializer turns
        # -U/+U of a chunk into delete + insert) and its new version is dead-lettered: MongoDB
        # never holds a chunk without a vector.
        expected -= {"faq-1#0", "faq-2#0", "long#1", "long#2", "fragile#0"}
        wait_for(lambda: ids() == expected, UPDATE_TIMEOUT_S, "updates and deletes")
        wait_for(
            lambda: coll.find_one({"_id": "faq-0#0"})["content"].endswith("Use the app."),
            UPDATE_TIMEOUT_S,
            "updated content",
        )
        update_s = time.monotonic() - started
        assert all(len(d["embedding"]) == 384 for d in coll.find({}, {"embedding": 1}))
        failed = dead_letters(bootstrap, dead)
        assert set(failed) == {"fragile#0"}
        assert f"over the limit of {MAX_INPUT_TOKENS}" in failed["fragile#0"]["embed_error"]
        assert "embedding" not in failed["fragile#0"]
    finally:
        job.cancel().result()

    # A new job without state replays the whole source topic: the same keys, nothing added.
    before = {d["_id"]: d["content"] for d in coll.find({}, {"content": 1})}
    written = store_sink.topic_size(bootstrap, vectors) or 0
    job = start_job(bootstrap, params, options)
    try:
        # The replay rewrites every current document (ReplaceOne with the same values).
        wait_for(
            lambda: (store_sink.topic_size(bootstrap, vectors) or 0) >= written + len(expected),
            VISIBLE_TIMEOUT_S,
            "replay written",
        )
        wait_for(
            lambda: (
                main(["store", "sink", "status", "--store", store]) == 0
                and json.loads(capsys.readouterr().out)["lag"] == 0
            ),
            UPDATE_TIMEOUT_S,
            "sink caught up",
        )
        after = {d["_id"]: d["content"] for d in coll.find({}, {"content": 1})}
        assert after == before
        assert coll.count_documents({}) == len(expected)
    finally:
        job.cancel().result()
        assert main(["store", "sink", "delete", "--store", store]) == 0
        coll.drop()
        client.close()
    print(f"first documents visible after {first_s:.1f}s, updates after {update_s:.1f}s")
