"""The stand-in's Atlas Search surface for hybrid lookups, through pymongo.

`type: "search"` indexes beside the vector index, `$search` (text with fuzzy, compound, equals,
range) scored by BM25, and `$rankFusion` over `$vectorSearch` and `$search` sub-pipelines with
reciprocal rank fusion (k = 60), weights and scoreDetails; the refusals MongoDB documents for
`$rankFusion` input pipelines. Expected rankings are computed here from the definitions, not
read back from the server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pymongo
import pytest
from pymongo.errors import OperationFailure
from pymongo.operations import SearchIndexModel
from test_standin_clients import ready, wait_for

from flink_rag.local.session import shared_stack

pytestmark = pytest.mark.integration

DIMS = 8
CODES = ["LH400", "BA117", "AF023", "LH401", "KL642", "UA901"]


def unit(i: int) -> list[float]:
    """Document i's vector: a fixed random direction (seeded), so rankings are reproducible."""
    v = np.random.default_rng(i).normal(size=DIMS)
    return (v / np.linalg.norm(v)).tolist()


CITIES = ("Berlin", "London")
DOCS = [
    {
        "_id": f"d{i}",
        "content": f"Flight {code} rebooking policy for passengers of {CITIES[i % 2]}",
        "code": code,
        "carrier": code[:2],
        "seats": i * 10,
        "embedding": unit(i),
    }
    for i, code in enumerate(CODES)
]


@pytest.fixture(scope="module")
def client() -> Iterator[pymongo.MongoClient]:
    with shared_stack(["mongo"]) as endpoints:
        mongo: pymongo.MongoClient = pymongo.MongoClient(
            endpoints.mongodb_uri, serverSelectionTimeoutMS=5000
        )
        yield mongo
        mongo.close()


@pytest.fixture(scope="module")
def coll(client):
    name = f"flink_rag_hybrid_{uuid.uuid4().hex[:8]}"
    collection = client[name]["docs"]
    collection.insert_many([dict(d) for d in DOCS])
    collection.create_search_indexes(
        [
            SearchIndexModel(
                name="vec",
                type="vectorSearch",
                definition={
                    "fields": [
                        {
                            "type": "vector",
                            "path": "embedding",
                            "numDimensions": DIMS,
                            "similarity": "cosine",
                        },
                        {"type": "filter", "path": "carrier"},
                    ]
                },
            ),
            SearchIndexModel(
                name="text",
                type="search",
                definition={
                    "mappings": {
                        "dynamic": False,
                        "fields": {
                            "content": {"type": "string"},
                            "code": [{"type": "string"}, {"type": "token"}],
                            "carrier": {"type": "token"},
                            "seats": {"type": "number"},
                        },
                    }
                },
            ),
        ]
    )
    wait_for(lambda: ready(collection, "vec") and ready(collection, "text"), "both indexes READY")
    yield collection
    client.drop_database(name)


def search(coll, operator: dict, *later: dict) -> list[dict]:
    stage = {"$search": {"index": "text", **operator}}
    return list(coll.aggregate([stage, {"$project": {"score": {"$meta": "searchScore"}}}, *later]))


def test_list_search_indexes_shows_both_types(coll):
    found = {i["name"]: i for i in coll.list_search_indexes()}
    assert found["text"]["type"] == "search" and found["vec"]["type"] == "vectorSearch"
    assert found["text"]["latestDefinition"]["mappings"]["fields"]["carrier"] == {"type": "token"}


def test_text_finds_the_exact_code_first_and_scores_by_bm25(coll):
    hits = search(coll, {"text": {"query": "LH401", "path": "content"}})
    assert [h["_id"] for h in hits] == ["d3"]  # the analyzer keeps "lh401" one token
    assert hits[0]["score"] > 0
    both = search(coll, {"text": {"query": "LH401 Berlin", "path": ["content"]}})
    ids = [h["_id"] for h in both]
    assert ids[0] == "d3"  # the rare code outweighs the common city (BM25's idf)
    assert set(ids) == {"d0", "d2", "d3", "d4"}  # any term matches: Berlin is docs 0, 2, 4
    scores = [h["score"] for h in both]
    assert scores == sorted(scores, reverse=True)


def test_fuzzy_and_match_criteria(coll):
    assert search(coll, {"text": {"query": "LH402", "path": "content"}}) == []
    fuzzy = search(coll, {"text": {"query": "LH402", "path": "content", "fuzzy": {"maxEdits": 1}}})
    assert {h["_id"] for h in fuzzy} == {"d0", "d3"}  # lh400, lh401: one edit away
    strict = search(
        coll, {"text": {"query": "BA117 Berlin", "path": "content", "matchCriteria": "all"}}
    )
    assert strict == []  # BA117 is a London flight


def test_compound_with_token_equals_range_and_must_not(coll):
    hits = search(
        coll,
        {
            "compound": {
                "should": [{"text": {"query": "policy", "path": "content"}}],
                "filter": [
                    {"equals": {"path": "carrier", "value": "LH"}},
                    {"range": {"path": "seats", "gte": 0, "lt": 40}},
                ],
                "mustNot": [{"text": {"query": "LH400", "path": "code"}}],
            }
        },
    )
    assert [h["_id"] for h in hits] == ["d3"]
    assert search(coll, {"equals": {"path": "carrier", "value": "BA"}})[0]["_id"] == "d1"


def test_search_refuses_what_it_cannot_answer(coll):
    for bad, words in [
        ({"text": {"path": "content"}}, "query"),
        ({"text": {"query": "x", "path": "content", "fuzzy": {"maxEdits": 3}}}, "maxEdits"),
        ({"text": {"query": "x", "path": "content"}, "equals": {"path": "a", "value": 1}}, "one"),
        ({"phrase": {"query": "x", "path": "content"}}, "phrase"),
        ({"compound": {}}, "must"),
    ]:
        with pytest.raises(OperationFailure) as refused:
            search(coll, bad)
        assert words in str(refused.value)
    with pytest.raises(OperationFailure, match="does not exist"):
        list(coll.aggregate([{"$search": {"index": "nope", "text": {"query": "x", "path": "a"}}}]))
    with pytest.raises(OperationFailure, match="first stage"):
        list(coll.aggregate([{"$match": {}}, {"$search": {"text": {"query": "x", "path": "a"}}}]))


def fusion(query_vector, text: str, weights=None, details=True, k=6) -> list[dict]:
    spec: dict = {
        "input": {
            "pipelines": {
                "vector": [
                    {
                        "$vectorSearch": {
                            "index": "vec",
                            "path": "embedding",
                            "queryVector": query_vector,
                            "numCandidates": 50,
                            "limit": k,
                        }
                    },
                ],
                "text": [
                    {"$search": {"index": "text", "text": {"query": text, "path": "content"}}},
                    {"$limit": k},
                ],
            }
        },
        "scoreDetails": details,
    }
    if weights:
        spec["combination"] = {"weights": weights}
    project = {"score": {"$meta": "score"}}
    if details:
        project["details"] = {"$meta": "scoreDetails"}
    return [spec, project]


def run_fusion(coll, *args, **kwargs) -> list[dict]:
    spec, project = fusion(*args, **kwargs)
    return list(coll.aggregate([{"$rankFusion": spec}, {"$project": project}]))


def expected_rrf(rankings: dict[str, list[str]], weights: dict[str, float]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for name, ids in rankings.items():
        for rank, doc_id in enumerate(ids, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + weights.get(name, 1.0) / (60 + rank)
    return scores


def test_rank_fusion_is_reciprocal_rank_fusion_of_the_two_rankings(coll):
    query = unit(5)  # nearest to d5 (UA901)
    vector_ids = [
        d["_id"]
        for d in coll.aggregate(
            [{"$vectorSearch": {"index": "vec", "path": "embedding", "queryVector": query,
                                "numCandidates": 50, "limit": 6}}]
        )
    ]  # fmt: skip
    text_ids = [h["_id"] for h in search(coll, {"text": {"query": "LH401", "path": "content"}})]
    assert vector_ids[0] == "d5" and text_ids == ["d3"]
    for weights in (None, {"vector": 0.5, "text": 3.0}, {"text": 0.0}):
        hits = run_fusion(coll, query, "LH401", weights=weights)
        want = expected_rrf({"vector": vector_ids, "text": text_ids}, weights or {})
        assert {h["_id"] for h in hits} == set(want)  # each document once
        for h in hits:
            assert h["score"] == pytest.approx(want[h["_id"]], rel=1e-9)
        assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
        if weights == {"vector": 0.5, "text": 3.0}:
            assert hits[0]["_id"] == "d3"  # the exact code wins when text weighs more
    top = run_fusion(coll, query, "LH401")[0]
    details = top["details"]
    assert details["value"] == pytest.approx(top["score"])
    parts = {p["inputPipelineName"]: p for p in details["details"]}
    for name, ids in {"vector": vector_ids, "text": text_ids}.items():
        if top["_id"] in ids:
            assert parts[name]["rank"] == ids.index(top["_id"]) + 1
            assert parts[name]["weight"] == 1.0
            assert parts[name]["value"] > 0


def test_rank_fusion_filters_the_same_way_on_both_sides(coll):
    spec, _ = fusion(unit(1), "policy", details=False)
    spec["input"]["pipelines"]["vector"][0]["$vectorSearch"]["filter"] = {"carrier": "LH"}
    spec["input"]["pipelines"]["text"].insert(1, {"$match": {"carrier": "LH"}})
    hits = list(coll.aggregate([{"$rankFusion": spec}]))
    assert {h["_id"] for h in hits} == {"d0", "d3"}
    assert all("__score" not in h and "__searchScore" not in h for h in hits)


def test_rank_fusion_refusals(coll):
    good, _ = fusion(unit(0), "x", details=False)
    cases = [
        ({**good, "extra": 1}, "extra"),
        ({"input": {"pipelines": {}}}, "at least one"),
        ({"input": {"pipelines": {"$bad": good["input"]["pipelines"]["vector"]}}}, "'$'"),
        ({"input": {"pipelines": {"a.b": good["input"]["pipelines"]["vector"]}}}, "'.'"),
        ({"input": {"pipelines": {"p": [{"$match": {}}]}}}, "ranked stage"),
        (
            {
                "input": {
                    "pipelines": {
                        "p": [*good["input"]["pipelines"]["text"], {"$project": {"a": 1}}]
                    }
                }
            },
            "modify",
        ),
        ({**good, "combination": {"weights": {"nope": 1}}}, "not an input pipeline"),
        ({**good, "combination": {"weights": {"text": -1}}}, "non-negative"),
    ]
    for spec, words in cases:
        with pytest.raises(OperationFailure) as refused:
            list(coll.aggregate([{"$rankFusion": spec}]))
        assert words in str(refused.value)
    with pytest.raises(OperationFailure, match="vectorSearchScore"):  # not after a fusion
        list(
            coll.aggregate([{"$rankFusion": good}, {"$set": {"s": {"$meta": "vectorSearchScore"}}}])
        )
    with pytest.raises(OperationFailure, match="scoreDetails"):
        list(
            coll.aggregate([{"$rankFusion": good}, {"$project": {"d": {"$meta": "scoreDetails"}}}])
        )


def test_text_index_follows_writes_and_drops(coll):
    coll.insert_one({"_id": "new", "content": "Flight ZZ999 added later", "carrier": "ZZ"})
    try:
        assert [
            h["_id"] for h in search(coll, {"text": {"query": "zz999", "path": "content"}})
        ] == ["new"]
        coll.update_one({"_id": "new"}, {"$set": {"content": "Flight YY111 instead"}})
        assert search(coll, {"text": {"query": "zz999", "path": "content"}}) == []
        assert search(coll, {"text": {"query": "YY111", "path": "content"}})[0]["_id"] == "new"
    finally:
        coll.delete_one({"_id": "new"})
    assert search(coll, {"text": {"query": "YY111", "path": "content"}}) == []


def test_bad_search_index_definitions_create_nothing(coll):
    for definition, words in [
        ({"mappings": {"dynamic": False}}, "dynamic"),
        ({"mappings": {"fields": {"a": {"type": "geo"}}}}, "geo"),
        ({"mappings": {"dynamic": True}, "analyzer": "lucene.english"}, "lucene.standard"),
    ]:
        with pytest.raises(OperationFailure) as refused:
            coll.create_search_index(
                SearchIndexModel(name="bad", type="search", definition=definition)
            )
        assert words in str(refused.value)
    with pytest.raises(OperationFailure, match="already exists"):
        coll.create_search_index(
            SearchIndexModel(name="vec", type="search", definition={"mappings": {"dynamic": True}})
        )
    assert "bad" not in {i["name"] for i in coll.list_search_indexes()}


def test_updating_a_search_index_rebuilds_it_with_the_new_definition(coll):
    def on(path: str) -> dict:
        return {"mappings": {"dynamic": False, "fields": {path: {"type": "string"}}}}

    coll.create_search_index(SearchIndexModel(name="upd", type="search", definition=on("content")))
    wait_for(lambda: ready(coll, "upd"), "index upd READY")

    def find(path: str) -> list[str]:
        stage = {"$search": {"index": "upd", "text": {"query": "LH401", "path": path}}}
        return [d["_id"] for d in coll.aggregate([stage])]

    try:
        assert find("content") == ["d3"] and find("code") == []
        coll.update_search_index("upd", on("code"))
        wait_for(lambda: ready(coll, "upd"), "index upd READY again")
        listed = next(iter(coll.list_search_indexes("upd")))
        assert listed["latestDefinitionVersion"]["version"] == 1
        assert listed["latestDefinition"] == on("code")
        assert find("content") == [] and find("code") == ["d3"]
    finally:
        coll.drop_search_index("upd")
    assert "upd" not in {i["name"] for i in coll.list_search_indexes()}
