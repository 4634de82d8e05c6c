"""Where the stand-in reads a `$vectorSearch` hit's document, and that the answer never shows it.

A pipeline whose next stage is a `$project` without the indexed vectors is answered from the
search index's own copy of each document without its vectors (the collection's store decodes a
whole page of documents, vectors and all, per hit). That copy must never be older than the
collection: a document written since the index's searcher opened is read from the collection, as
Atlas's mongod fetches each hit by _id. These checks compare both reads and race writes against
lookups; each would fail if the copy were served where it does not apply or after a write.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pymongo
import pytest
from pymongo.operations import SearchIndexModel

from flink_rag.local.session import shared_stack

pytestmark = pytest.mark.integration

SCORE = {"$meta": "vectorSearchScore"}
WAIT_S = 60.0


@pytest.fixture(scope="module")
def client() -> Iterator[pymongo.MongoClient]:
    with shared_stack(["mongo"]) as endpoints:
        mongo: pymongo.MongoClient = pymongo.MongoClient(
            endpoints.mongodb_uri, serverSelectionTimeoutMS=5000
        )
        yield mongo
        mongo.close()


@pytest.fixture()
def database(client):
    name = f"flink_rag_hits_{uuid.uuid4().hex[:8]}"
    yield client[name]
    client.drop_database(name)


def indexed(database, path: str, docs: list[dict]) -> pymongo.collection.Collection:
    coll = database["docs"]
    coll.insert_many(docs)
    definition = {
        "fields": [
            {"type": "vector", "path": path, "numDimensions": 3, "similarity": "cosine"},
            {"type": "filter", "path": "k"},
        ]
    }
    coll.create_search_index(SearchIndexModel(definition=definition, name="i", type="vectorSearch"))
    deadline = time.monotonic() + WAIT_S
    while not any(ix["status"] == "READY" for ix in coll.list_search_indexes("i")):
        assert time.monotonic() < deadline, "index i never became READY"
        time.sleep(0.05)
    return coll


def search(coll, *stages: dict, path: str = "v", query=(1.0, 0.0, 0.0), limit=4) -> list[dict]:
    spec = {"index": "i", "path": path, "queryVector": list(query), "limit": limit}
    return list(coll.aggregate([{"$vectorSearch": {**spec, "numCandidates": 50}}, *stages]))


def vec(i: int) -> list[float]:
    return [1.0, i / 10 + 0.1234567890123, (i % 3) / 7]


def test_projected_reads_equal_whole_document_reads(database):
    coll = indexed(
        database,
        "v",
        [{"_id": i, "v": vec(i), "k": i % 2, "text": f"t{i}", "meta": {"n": i}} for i in range(40)],
    )
    whole = search(coll, {"$set": {"score": SCORE}})
    assert [hit["v"] for hit in whole] == [vec(hit["_id"]) for hit in whole]  # doubles unchanged
    included = search(coll, {"$project": {"text": 1, "meta": 1, "score": SCORE}})
    excluded = search(coll, {"$project": {"v": 0, "score": SCORE}})
    expected = [{key: hit[key] for key in ("_id", "text", "meta", "score")} for hit in whole]
    assert included == expected
    assert excluded == [{**e, "k": hit["k"]} for e, hit in zip(expected, whole, strict=True)]
    # {_id: 0} alone excludes only the id: the vectors stay, read from the collection
    assert search(coll, {"$project": {"_id": 0}}) == [
        {key: value for key, value in hit.items() if key not in ("_id", "score")} for hit in whole
    ]
    # a computed field may read the vector: whole documents again
    firsts = search(coll, {"$project": {"first": {"$arrayElemAt": ["$v", 1]}}})
    assert [hit["first"] for hit in firsts] == [hit["v"][1] for hit in whole]


def test_nested_vector_path_reads_the_collection(database):
    docs = [{"_id": i, "e": {"v": vec(i)}, "k": 0, "text": f"t{i}"} for i in range(10)]
    coll = indexed(database, "e.v", docs)
    hits = search(coll, {"$project": {"text": 1}}, path="e.v")
    assert [hit["text"] for hit in hits] == [f"t{hit['_id']}" for hit in hits]
    assert search(coll, {"$project": {"e": 1}}, path="e.v")[0]["e"]["v"] == vec(hits[0]["_id"])


def test_rewrites_and_deletes_show_at_once_despite_the_index_lag(database):
    coll = indexed(
        database, "v", [{"_id": i, "v": vec(i), "k": 0, "text": "v0"} for i in range(20)]
    )
    top = search(coll, {"$project": {"text": 1}}, limit=1)[0]["_id"]
    project = {"$project": {"text": 1, "score": SCORE}}
    # The index refreshes every 100 ms: a lookup right after a write sees the old index entry,
    # so its text must come from the collection, every time.
    for round_ in range(1, 30):
        coll.update_one({"_id": top}, {"$set": {"text": f"v{round_}"}})
        hits = search(coll, project, limit=1)
        assert hits[0]["_id"] == top
        assert hits[0]["text"] == f"v{round_}"
    for victim in [hit["_id"] for hit in search(coll, project, limit=5)]:
        coll.delete_one({"_id": victim})
        assert victim not in [hit["_id"] for hit in search(coll, project, limit=5)]
