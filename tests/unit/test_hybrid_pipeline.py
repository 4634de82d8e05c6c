"""Hybrid lookups without a server: the $rankFusion pipeline, reciprocal rank fusion (property
tests against a brute-force definition), the store options, and the client-side fallback."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymongo.errors import OperationFailure

from flink_rag.connectors.errors import ConfigError
from flink_rag.connectors.hybrid_pipeline import (
    RANK_CONSTANT,
    rank_fusion_pipeline,
    reciprocal_rank_fusion,
    text_pipeline,
)
from flink_rag.connectors.mongodb_hybrid_search import HybridSearch, per_input_limit
from flink_rag.connectors.mongodb_index import ATLAS, IndexInfo
from flink_rag.connectors.mongodb_text_index import text_index_definition
from flink_rag.connectors.settings import StoreSettings
from flink_rag.connectors.vector_hits import Hit

pytestmark = pytest.mark.unit

ids = st.lists(st.integers(0, 30), max_size=25)
weights = st.floats(0, 10, allow_nan=False)


def brute_force(rankings: dict[str, list[int]], w: dict[str, float]) -> dict[int, float]:
    """RRF by its definition: first occurrence in a ranking is the rank, counted from 1."""
    scores: dict[int, float] = {}
    for name, ranking in rankings.items():
        deduped = list(dict.fromkeys(ranking))
        for position, doc in enumerate(deduped):
            scores[doc] = scores.get(doc, 0.0) + w[name] / (RANK_CONSTANT + position + 1)
    return scores


@given(ids, ids, weights, weights, st.integers(1, 40))
def test_fusion_matches_the_definition(vector, text, wv, wt, k):
    w = {"vector": wv, "text": wt}
    fused = reciprocal_rank_fusion({"vector": vector, "text": text}, w, k)
    want = brute_force({"vector": vector, "text": text}, w)
    assert len(fused) == min(k, len(want))
    assert len({f.id for f in fused}) == len(fused)
    for f in fused:
        assert f.score == pytest.approx(want[f.id])
        assert f.details["value"] == f.score
        assert {d["inputPipelineName"] for d in f.details["details"]} == {
            name for name, r in (("vector", vector), ("text", text)) if f.id in r
        }
    scores = [f.score for f in fused]
    assert scores == sorted(scores, reverse=True)
    # the top k are the k best of all: nothing left out scores higher than what was kept
    if fused:
        left_out = set(want) - {f.id for f in fused}
        assert all(want[d] <= fused[-1].score + 1e-12 for d in left_out)


@given(ids, ids, st.floats(0.01, 100))
def test_scaling_every_weight_keeps_the_order(vector, text, c):
    one = reciprocal_rank_fusion({"vector": vector, "text": text}, {"vector": 1, "text": 2}, 50)
    scaled = reciprocal_rank_fusion(
        {"vector": vector, "text": text}, {"vector": c, "text": 2 * c}, 50
    )
    assert [f.id for f in one] == [f.id for f in scaled]


@given(st.lists(st.integers(0, 30), unique=True, min_size=1), ids)
def test_a_zero_text_weight_keeps_the_vector_order(vector, text):
    fused = reciprocal_rank_fusion({"vector": vector, "text": text}, {"text": 0.0}, len(vector))
    assert [f.id for f in fused] == vector


def test_a_document_first_in_both_rankings_wins():
    fused = reciprocal_rank_fusion({"vector": [7, 1, 2], "text": [7, 3]}, {}, 3)
    assert fused[0].id == 7 and fused[0].score == pytest.approx(2 / 61)
    assert fused[0].details["details"][1] == {"inputPipelineName": "text", "rank": 1, "weight": 1.0}


def test_rank_fusion_pipeline_carries_the_filter_to_both_sides():
    f = {"origin": {"$eq": "FRA"}}
    pipeline = rank_fusion_pipeline(
        vector_index="v", path="embedding", query_vector=[0.1, 0.2], text_index="t",
        text="LH400", text_paths=["content"], k=5, per_input=20,
        weights={"vector": 1.0, "text": 2.0}, filter=f, fields=["origin"],
    )  # fmt: skip
    fusion = pipeline[0]["$rankFusion"]
    vector = fusion["input"]["pipelines"]["vector"]
    text = fusion["input"]["pipelines"]["text"]
    assert vector == [
        {"$vectorSearch": {"index": "v", "path": "embedding", "queryVector": [0.1, 0.2],
                           "limit": 20, "numCandidates": 400, "filter": f}}
    ]  # fmt: skip
    assert text == [
        {"$search": {"index": "t", "text": {"query": "LH400", "path": "content"}}},
        {"$match": f},
        {"$limit": 20},
    ]
    assert fusion["combination"] == {"weights": {"vector": 1.0, "text": 2.0}}
    assert fusion["scoreDetails"] is True
    assert pipeline[1] == {"$limit": 5}
    assert pipeline[2]["$project"] == {
        "_id": 1, "content": 1, "origin": 1,
        "score": {"$meta": "score"}, "scoreDetails": {"$meta": "scoreDetails"},
    }  # fmt: skip
    assert text_pipeline("t", "x", ["a", "b"], 3, None)[0]["$search"]["text"]["path"] == ["a", "b"]


def test_text_index_definition_declares_text_and_token_fields():
    assert text_index_definition(["content"], ["origin", "content"]) == {
        "mappings": {
            "dynamic": False,
            "fields": {
                "origin": {"type": "token"},
                "content": [{"type": "string"}, {"type": "token"}],
            },
        }
    }


def store(**options: str) -> StoreSettings:
    return StoreSettings.from_options("docs", options, env={}, resolve=False)


def test_store_options_for_hybrid_lookups():
    s = store(**{"text-index": "docs_text", "vector-weight": "0.5", "text-weight": "2",
                 "hybrid-candidates": "30", "text-paths": "content,title"})  # fmt: skip
    assert (s.text_index, s.vector_weight, s.text_weight) == ("docs_text", 0.5, 2.0)
    assert s.text_paths == ("content", "title")
    assert per_input_limit(s, 5) == 30 and per_input_limit(s, 50) == 50
    assert per_input_limit(store(), 5) == 20


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"text-weight": "-1"}, "text-weight"),
        ({"vector-weight": "nan"}, "vector-weight"),
        ({"vector-weight": "inf"}, "vector-weight"),
        ({"vector-weight": "0", "text-weight": "0"}, "both be 0"),
        ({"hybrid-candidates": "0"}, "hybrid-candidates"),
        ({"text-indx": "t"}, "text-index"),  # a typo names the closest key
        ({"hybrid-weights": "1,2"}, "hybrid-weights"),
    ],
)
def test_bad_hybrid_options_fail_naming_the_key(options, words):
    with pytest.raises(ConfigError) as refused:
        store(**options)
    assert words in str(refused.value)


# -- the client-side fallback ---------------------------------------------------------------


class FakeCollection:
    """A server without $rankFusion: the two searches answer from canned rankings."""

    def __init__(self, vector: list[str], text: list[str], code: int = 40324):
        self.vector, self.text, self.code = vector, text, code
        self.pipelines: list[list[dict[str, Any]]] = []

    def aggregate(self, pipeline):
        self.pipelines.append(pipeline)
        first = next(iter(pipeline[0]))
        if first == "$rankFusion":
            raise OperationFailure("Unrecognized pipeline stage name: '$rankFusion'", self.code)
        ranking = self.vector if first == "$vectorSearch" else self.text
        return [{"_id": d, "content": d, "score": 1.0 / (i + 1)} for i, d in enumerate(ranking)]


INFO = IndexInfo("v", "db", "docs", "embedding", 2, "cosine", (), ATLAS)


def to_hit(doc, score) -> Hit:
    return Hit(id=str(doc["_id"]), score=score, content=doc.get("content"), metadata={})


def test_without_rank_fusion_the_client_fuses_and_remembers():
    s = store(**{"text-index": "t", "text-weight": "3"})
    coll = FakeCollection(vector=["a", "b", "c"], text=["c", "d"])
    hybrid = HybridSearch(s)
    hits = hybrid.search(INFO, lambda call: call(coll), to_hit, np.ones(2), 3, {"x": 1}, "LH")
    want = reciprocal_rank_fusion(
        {"vector": ["a", "b", "c"], "text": ["c", "d"]}, {"vector": 1, "text": 3}, 3
    )
    assert [h.id for h in hits] == [f.id for f in want] == ["c", "d", "a"]
    assert [h.score for h in hits] == pytest.approx([f.score for f in want])
    details = hits[0].metadata["scoreDetails"]
    assert [(d["inputPipelineName"], d["rank"], d["value"]) for d in details["details"]] == [
        ("vector", 3, pytest.approx(1 / 3)),
        ("text", 1, 1.0),
    ]
    # both sides got the row's filter; the text side after its $search
    vector_stage = coll.pipelines[1][0]["$vectorSearch"]
    assert vector_stage["filter"] == {"x": 1}
    assert coll.pipelines[2][1] == {"$match": {"x": 1}}
    hybrid.search(INFO, lambda call: call(coll), to_hit, np.ones(2), 3, None, "LH")
    assert sum("$rankFusion" in p[0] for p in coll.pipelines) == 1  # asked once only


def test_other_server_errors_are_not_taken_for_a_missing_stage():
    coll = FakeCollection(vector=["a"], text=["a"], code=8)
    with pytest.raises(OperationFailure):
        HybridSearch(store(**{"text-index": "t"})).search(
            INFO, lambda call: call(coll), to_hit, np.ones(2), 3, None, "LH"
        )


def test_a_hybrid_lookup_without_a_text_index_says_what_to_set():
    with pytest.raises(ConfigError, match="text-index"):
        HybridSearch(store()).search(
            INFO, lambda call: call(None), to_hit, np.ones(2), 3, None, "LH"
        )


@given(
    st.text(min_size=1, max_size=200),
    st.dictionaries(st.sampled_from(["origin", "seats", "a.b"]), st.integers(), max_size=3),
    st.integers(1, 50),
    st.integers(1, 50),
)
def test_the_text_and_the_filter_reach_both_sides_verbatim(text, filter, k, extra):
    per_input = k + extra
    pipeline = rank_fusion_pipeline(
        vector_index="v", path="e", query_vector=[1.0], text_index="t", text=text,
        text_paths=["content"], k=k, per_input=per_input, weights={}, filter=filter or None,
    )  # fmt: skip
    inputs = pipeline[0]["$rankFusion"]["input"]["pipelines"]
    vector = inputs["vector"][0]["$vectorSearch"]
    stages = inputs["text"]
    assert stages[0]["$search"]["text"]["query"] == text
    assert vector["limit"] == per_input and stages[-1] == {"$limit": per_input}
    if filter:
        assert vector["filter"] == filter and stages[1] == {"$match": filter}
        assert (
            vector["filter"] is not stages[1]["$match"]
        )  # copies: one side cannot alter the other
    else:
        assert "filter" not in vector and len(stages) == 2
    assert pipeline[1] == {"$limit": k}


@given(st.floats(0, 1e6, allow_nan=False), st.floats(0, 1e6, allow_nan=False))
def test_weights_parse_as_the_numbers_they_spell(wv, wt):
    options = {"vector-weight": repr(wv), "text-weight": repr(wt)}
    if wv == 0 and wt == 0:
        with pytest.raises(ConfigError, match="both be 0"):
            store(**options)
        return
    s = store(**options)
    assert (s.vector_weight, s.text_weight) == (wv, wt)


@given(st.text(max_size=20).filter(lambda t: t.strip() not in ("",)))
def test_weights_that_are_not_non_negative_numbers_are_refused(raw):
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is not None and value >= 0 and value != float("inf"):
        return  # a valid weight; the property above covers it
    with pytest.raises(ConfigError, match="text-weight"):
        store(**{"text-weight": raw})
