"""Open-source MongoDB vector-store clients, unchanged, against the stand-in.

Users point langchain-mongodb and llama-index's MongoDB store at Atlas; the stand-in must serve
what they send: the drivers' search-index helpers, `$vectorSearch` followed by `$set`/`$project`
with `{$meta: "vectorSearchScore"}`, pre-filters, and deletes. Each flow here is the client's own
calls (create index, add texts, filtered search with scores, delete), with a deterministic
embedding, so a hit's score is checked against the cosine of its vector. The stages MongoDB
allows after `$vectorSearch`, the pymongo helpers and the 489 test knob are checked directly.
With MONGODB_URI set (Atlas), the same flows run there.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pymongo
import pytest
from pymongo.errors import OperationFailure
from pymongo.operations import SearchIndexModel

from flink_rag.local.session import shared_stack

pytestmark = pytest.mark.integration

DIMS = 16
CARRIERS = ("LH", "BA", "AF")
TEXTS = [f"Flight {i} departs at gate {i % 7} with {CARRIERS[i % 3]}" for i in range(30)]
WAIT_S = 60.0


def wait_for(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def atlas_cosine(a: list[float], b: list[float]) -> float:
    """Atlas's cosine score: (1 + cos) / 2."""
    va, vb = np.asarray(a), np.asarray(b)
    return float((1 + va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb))) / 2)


@pytest.fixture(scope="module")
def mongo_uri() -> Iterator[str]:
    with shared_stack(["mongo"]) as endpoints:
        yield endpoints.mongodb_uri


@pytest.fixture(scope="module")
def client(mongo_uri) -> Iterator[pymongo.MongoClient]:
    mongo: pymongo.MongoClient = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    yield mongo
    mongo.close()


@pytest.fixture()
def database(client):
    name = f"flink_rag_clients_{uuid.uuid4().hex[:8]}"
    yield client[name]
    client.drop_database(name)


def ready(collection, name: str) -> bool:
    found = list(collection.list_search_indexes(name))
    return bool(found) and found[0]["status"] == "READY" and found[0]["queryable"]


# -- langchain-mongodb ------------------------------------------------------------------------


def test_langchain_mongodb_index_add_filtered_search_delete(database):
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from langchain_mongodb import MongoDBAtlasVectorSearch

    embedding = DeterministicFakeEmbedding(size=DIMS)
    store = MongoDBAtlasVectorSearch(
        database["docs"],
        embedding,
        index_name="lc_index",
        relevance_score_fn="cosine",
        auto_create_index=False,
    )
    store.create_vector_search_index(dimensions=DIMS, filters=["carrier"], wait_until_complete=60)
    ids = store.add_texts(TEXTS, metadatas=[{"carrier": CARRIERS[i % 3]} for i in range(30)])
    assert len(ids) == len(TEXTS)

    query = TEXTS[3]  # carrier LH
    wait_for(  # writes reach a search index after a short lag, on Atlas too
        lambda: (
            len(store.similarity_search_with_score(query, k=30, pre_filter={"carrier": "LH"})) == 10
        ),
        "langchain's search to see the 10 added LH texts",
    )
    hits = store.similarity_search_with_score(query, k=4, pre_filter={"carrier": "LH"})
    assert len(hits) == 4
    assert hits[0][0].page_content == query
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
    target = embedding.embed_query(query)
    for doc, score in hits:
        assert doc.metadata["carrier"] == "LH"
        assert "embedding" not in doc.metadata  # the client's $project {embedding: 0}
        assert score == pytest.approx(
            atlas_cosine(target, embedding.embed_query(doc.page_content)), abs=1e-5
        )
    scores = [score for _, score in hits]
    assert scores == sorted(scores, reverse=True)

    other = store.similarity_search_with_score(query, k=4, pre_filter={"carrier": {"$ne": "LH"}})
    assert other and all(doc.metadata["carrier"] != "LH" for doc, _ in other)

    assert store.delete(ids=[ids[3]])
    wait_for(
        lambda: all(
            doc.page_content != query
            for doc, _ in store.similarity_search_with_score(
                query, k=4, pre_filter={"carrier": "LH"}
            )
        ),
        "the deleted text to leave langchain's search results",
    )


# -- llama-index-vector-stores-mongodb ---------------------------------------------------------


def test_llama_index_mongodb_index_add_filtered_query_delete(client, database, mongo_uri):
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
    from llama_index.core.vector_stores.types import (
        MetadataFilter,
        MetadataFilters,
        VectorStoreQuery,
    )
    from llama_index.vector_stores.mongodb import MongoDBAtlasVectorSearch

    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(len(TEXTS), DIMS))
    store = MongoDBAtlasVectorSearch(
        mongodb_client=client,
        async_mongodb_client=pymongo.AsyncMongoClient(mongo_uri),
        db_name=database.name,
        collection_name="nodes",
        vector_index_name="li_index",
    )
    store.create_vector_search_index(
        dimensions=DIMS,
        path="embedding",
        similarity="cosine",
        filters=["metadata.carrier"],
        wait_until_complete=60,
    )
    nodes = [
        TextNode(
            id_=f"node-{i}",
            text=text,
            embedding=vectors[i].tolist(),
            metadata={"carrier": CARRIERS[i % 3]},
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"doc-{i}")},
        )
        for i, text in enumerate(TEXTS)
    ]
    assert store.add(nodes) == [f"node-{i}" for i in range(len(TEXTS))]

    query = VectorStoreQuery(
        query_embedding=vectors[4].tolist(),  # node-4 is BA
        similarity_top_k=3,
        filters=MetadataFilters(filters=[MetadataFilter(key="carrier", value="BA")]),
    )
    everything = VectorStoreQuery(query_embedding=vectors[4].tolist(), similarity_top_k=30)
    wait_for(
        lambda: len(store.query(everything).ids) == len(TEXTS), "llama-index to see every node"
    )
    result = store.query(query)
    assert result.ids[0] == "node-4"
    assert len(result.ids) == 3
    for node_id, similarity, node in zip(
        result.ids, result.similarities, result.nodes, strict=True
    ):
        i = int(node_id.split("-")[1])
        assert CARRIERS[i % 3] == "BA"
        assert node.get_content() == TEXTS[i]
        assert similarity == pytest.approx(atlas_cosine(vectors[4], vectors[i]), abs=1e-5)

    store.delete("doc-4")
    wait_for(
        lambda: "node-4" not in store.query(query).ids,
        "the deleted node to leave llama-index's results",
    )
    store.drop_vector_search_index()
    wait_for(
        lambda: not list(database["nodes"].list_search_indexes("li_index")),
        "the dropped index to go",
    )


# -- the drivers' search-index helpers -------------------------------------------------------


def vector_definition(filters: list[str]) -> dict:
    fields: list[dict] = [
        {"type": "vector", "path": "v", "numDimensions": 2, "similarity": "cosine"}
    ]
    fields += [{"type": "filter", "path": path} for path in filters]
    return {"fields": fields}


def test_pymongo_search_index_helpers(database):
    coll = database["helpers"]
    coll.insert_many([{"_id": i, "v": [1.0, i + 1.0], "k": i % 2} for i in range(10)])
    names = coll.create_search_indexes(
        [SearchIndexModel(definition=vector_definition([]), name="h1", type="vectorSearch")]
    )
    assert names == ["h1"]
    wait_for(lambda: ready(coll, "h1"), "index h1 to be READY")
    described = next(iter(coll.list_search_indexes("h1")))
    assert described["type"] == "vectorSearch"
    assert described["latestDefinition"] == vector_definition([])

    coll.update_search_index("h1", vector_definition(["k"]))
    wait_for(
        lambda: (
            ready(coll, "h1")
            and next(iter(coll.list_search_indexes("h1")))["latestDefinition"]
            == vector_definition(["k"])
        ),
        "the updated definition to be READY",
    )
    stage = {"index": "h1", "path": "v", "queryVector": [1.0, 1.0], "limit": 10, "exact": True}
    hits = list(coll.aggregate([{"$vectorSearch": {**stage, "filter": {"k": 1}}}]))
    assert sorted(hit["_id"] for hit in hits) == [1, 3, 5, 7, 9]

    coll.drop_search_index("h1")
    wait_for(lambda: not list(coll.list_search_indexes("h1")), "index h1 to be dropped")
    with pytest.raises(OperationFailure, match="h1"):
        list(coll.aggregate([{"$vectorSearch": stage}]))


# -- stages after $vectorSearch ---------------------------------------------------------------


@pytest.fixture()
def searchable(database):
    coll = database["staged"]
    coll.insert_many(
        [
            {"_id": i, "v": [1.0, float(i)], "k": i % 3, "name": f"n{i}", "ref": i % 2}
            for i in range(12)
        ]
    )
    database["refs"].insert_many([{"_id": 0, "label": "even"}, {"_id": 1, "label": "odd"}])
    coll.create_search_index(
        SearchIndexModel(definition=vector_definition(["k"]), name="s", type="vectorSearch")
    )
    wait_for(lambda: ready(coll, "s"), "index s to be READY")
    return coll


def search(coll, *stages: dict, limit: int = 5) -> list[dict]:
    first = {
        "$vectorSearch": {
            "index": "s",
            "path": "v",
            "queryVector": [1.0, 0.0],
            "limit": limit,
            "exact": True,
        }
    }
    return list(coll.aggregate([first, *stages]))


def test_project_meta_beside_an_exclusion_and_an_inclusion(searchable):
    excluded = search(searchable, {"$project": {"v": 0, "score": {"$meta": "vectorSearchScore"}}})
    assert [hit["_id"] for hit in excluded] == [0, 1, 2, 3, 4]
    assert set(excluded[1]) == {"_id", "k", "name", "ref", "score"}
    assert excluded[1]["score"] == pytest.approx(atlas_cosine([1.0, 0.0], [1.0, 1.0]), abs=1e-6)

    included = search(
        searchable, {"$project": {"name": 1, "score": {"$meta": "vectorSearchScore"}}}
    )
    assert included[2] == {
        "_id": 2,
        "name": "n2",
        "score": pytest.approx(atlas_cosine([1, 0], [1, 2]), abs=1e-6),
    }
    assert [set(hit) for hit in included] == [{"_id", "name", "score"}] * 5


def test_set_unset_match_sort_limit_replace_with_and_lookup(searchable):
    hits = search(
        searchable,
        {"$set": {"score": {"$meta": "vectorSearchScore"}, "twice": {"$multiply": ["$k", 2]}}},
        {"$unset": ["v", "name"]},
        {"$match": {"k": {"$ne": 0}}},
        {"$sort": {"k": -1, "_id": 1}},
        {"$limit": 3},
        {"$lookup": {"from": "refs", "localField": "ref", "foreignField": "_id", "as": "refs"}},
        {
            "$replaceWith": {
                "id": "$_id",
                "score": "$score",
                "twice": "$twice",
                "label": {"$arrayElemAt": ["$refs.label", 0]},
            }
        },
        limit=6,
    )
    # The 6 nearest are ids 0..5; k != 0 leaves 1, 2, 4, 5; by k desc then id: 2, 5, 1.
    assert [hit["id"] for hit in hits] == [2, 5, 1]
    assert [hit["twice"] for hit in hits] == [4, 4, 2]
    assert [hit["label"] for hit in hits] == ["even", "odd", "odd"]
    assert hits[0]["score"] == pytest.approx(atlas_cosine([1, 0], [1, 2]), abs=1e-6)
    assert all(set(hit) == {"id", "score", "twice", "label"} for hit in hits)


def test_meta_the_stand_in_cannot_give_is_refused_by_name(searchable):
    with pytest.raises(OperationFailure, match="searchScore"):
        search(searchable, {"$set": {"score": {"$meta": "searchScore"}}})


# -- the overload test knob ---------------------------------------------------------------------


def test_overload_knob_answers_489_for_the_next_n_searches_only(client, searchable, mongo_uri):
    import os

    if os.environ.get("MONGODB_URI"):
        pytest.skip("the overload knob is the local stand-in's")
    try:
        assert client.admin.command("standInOverload", 2)["was"] == 0
        for _ in range(2):
            with pytest.raises(OperationFailure) as refused:
                search(searchable)
            assert refused.value.code == 489
            assert "overloaded" in str(refused.value)
            # Atlas's documented refusal (Search Load Shedding): drivers must not retry it.
            assert refused.value.details["codeName"] == "SearchRequestRejectedDueToOverload"
            assert refused.value.has_error_label("SystemOverloadedError")
            assert not refused.value.has_error_label("RetryableError")
        assert [hit["_id"] for hit in search(searchable)] == [0, 1, 2, 3, 4]
        # Other commands are never refused, and do not use up the refusals.
        client.admin.command("standInOverload", 1)
        assert list(searchable.find({"_id": 1}))
        assert list(searchable.aggregate([{"$match": {"_id": 1}}]))
        assert list(searchable.list_search_indexes("s"))
        with pytest.raises(OperationFailure) as refused:
            search(searchable)
        assert refused.value.code == 489
    finally:
        client.admin.command("standInOverload", 0)
    with pytest.raises(OperationFailure, match="0 or more"):
        client.admin.command("standInOverload", -1)


def test_cosine_scores_hold_for_vectors_of_any_length_and_a_zero_query_is_refused(searchable):
    # Cosine vectors are normalized before Lucene compares them: lengths must not matter.
    coll = searchable
    long_query = {"index": "s", "path": "v", "queryVector": [300.0, 0.0], "limit": 3}
    hits = list(coll.aggregate([{"$vectorSearch": {**long_query, "numCandidates": 10}},
                                {"$set": {"score": {"$meta": "vectorSearchScore"}}}]))  # fmt: skip
    assert [hit["_id"] for hit in hits] == [0, 1, 2]
    for hit in hits:
        assert hit["score"] == pytest.approx(atlas_cosine([1, 0], hit["v"]), abs=1e-6)
    zero = {**long_query, "queryVector": [0.0, 0.0], "exact": True}
    with pytest.raises(OperationFailure, match="no direction"):
        list(coll.aggregate([{"$vectorSearch": zero}]))
