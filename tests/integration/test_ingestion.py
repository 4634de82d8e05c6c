"""Ingestion on the local stack with the real EMBED (MiniLM): policy passages land in MongoDB
with their embeddings and filter fields, the scan-mode index descriptor declares the filter
fields, and a second run upserts the same keys (document count unchanged)."""

from __future__ import annotations

import pymongo
import pytest

from flink_rag.airline import dataset, ingest, kafka_io
from flink_rag.airline.chunking import policy_passages
from flink_rag.connectors.mongodb_index import describe

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def loaded(local_stack):
    data = dataset.generate()  # the demo's data set: the compacted topics stay one data set
    kafka_io.load_dataset(local_stack.kafka_bootstrap, data, topics=("policy_docs",))
    return data


def test_policies_ingest_idempotently_with_embeddings(loaded, local_stack):
    first = ingest.run("policies", local_stack.kafka_bootstrap, local_stack.mongodb_uri)
    second = ingest.run("policies", local_stack.kafka_bootstrap, local_stack.mongodb_uri)
    passages = policy_passages()
    assert first.documents == second.documents
    assert second.upserted == 0
    assert second.rows >= len(passages)  # a compacted topic may still hold older copies
    assert first.dimensions == 384

    settings = ingest.store_settings("policies")
    client = pymongo.MongoClient(local_stack.mongodb_uri)
    try:
        coll = client[settings.database][settings.collection]
        ids = {p["passage_id"] for p in passages}
        docs = {d["_id"]: d for d in coll.find({"_id": {"$in": sorted(ids)}})}
        assert set(docs) == ids
        sample = docs[passages[0]["passage_id"]]
        assert sample["content"] == passages[0]["text"]
        assert len(sample["embedding"]) == 384
        assert sample["doc_id"] == passages[0]["doc_id"]
        info = describe(coll, settings.index, mode=settings.mode)
        assert info is not None and info.ready
        assert "doc_id" in info.filter_fields
    finally:
        client.close()
