"""$vectorSearch stage and pipeline builders."""

from __future__ import annotations

import pytest

from flink_rag.connectors.errors import InputError
from flink_rag.connectors.vector_pipeline import (
    MAX_NUM_CANDIDATES,
    num_candidates_for,
    project_stage,
    projected_fields,
    search_pipeline,
    vector_search_stage,
)

pytestmark = pytest.mark.unit

VECTOR = [0.1, 0.2, 0.3]


@pytest.mark.parametrize(
    ("limit", "requested", "expected"),
    [
        (5, None, 100),  # 20 × limit
        (1, None, 20),
        (500, None, 10_000),  # capped
        (10_000, None, 10_000),
        (5, 50, 50),  # explicit value kept
        (5, 3, 5),  # never below limit
        (5, 50_000, 10_000),  # never above the cap
    ],
)
def test_num_candidates_rules(limit, requested, expected):
    assert num_candidates_for(limit, requested) == expected


@pytest.mark.parametrize("limit", [0, -1, 10_001, 2.5, True, "5"])
def test_bad_limit_is_an_input_error(limit):
    with pytest.raises(InputError, match="k \\(limit\\)"):
        vector_search_stage("idx", "embedding", VECTOR, limit)


def test_stage_approximate():
    stage = vector_search_stage("idx", "embedding", VECTOR, 5)
    assert stage == {
        "$vectorSearch": {
            "index": "idx",
            "path": "embedding",
            "queryVector": [0.1, 0.2, 0.3],
            "limit": 5,
            "numCandidates": 100,
        }
    }


def test_stage_exact_omits_num_candidates():
    spec = vector_search_stage("idx", "embedding", VECTOR, 5, num_candidates=50, exact=True)[
        "$vectorSearch"
    ]
    assert spec["exact"] is True
    assert "numCandidates" not in spec


def test_stage_carries_filter_inside_vector_search():
    spec = vector_search_stage("idx", "embedding", VECTOR, 3, filter={"carrier": "LH"})[
        "$vectorSearch"
    ]
    assert spec["filter"] == {"carrier": "LH"}


def test_empty_filter_is_omitted():
    spec = vector_search_stage("idx", "embedding", VECTOR, 3, filter={})["$vectorSearch"]
    assert "filter" not in spec


def test_query_vector_is_plain_floats():
    import numpy as np

    spec = vector_search_stage("idx", "e", np.array([1, 2], dtype=np.float32), 1)["$vectorSearch"]
    assert spec["queryVector"] == [1.0, 2.0]
    assert all(type(x) is float for x in spec["queryVector"])


def test_projection_has_fields_content_and_score_meta():
    assert project_stage(["carrier", "departure"], "content") == {
        "$project": {
            "_id": 1,
            "carrier": 1,
            "content": 1,
            "departure": 1,
            "score": {"$meta": "vectorSearchScore"},
        }
    }


def test_projection_drops_duplicates_and_child_paths():
    assert projected_fields(["a.b", "a", "content", "_id", "c.d"], "content") == [
        "a",
        "c.d",
        "content",
    ]


def test_projection_without_content():
    assert project_stage([], None) == {
        "$project": {"_id": 1, "score": {"$meta": "vectorSearchScore"}}
    }


def test_pipeline_order_search_project_then_min_score():
    pipeline = search_pipeline(
        "idx",
        "embedding",
        VECTOR,
        4,
        filter={"origin": "FRA"},
        fields=["carrier"],
        min_score=0.7,
    )
    assert [next(iter(stage)) for stage in pipeline] == ["$vectorSearch", "$project", "$match"]
    assert pipeline[0]["$vectorSearch"]["filter"] == {"origin": "FRA"}
    assert pipeline[0]["$vectorSearch"]["numCandidates"] == 80
    assert pipeline[2] == {"$match": {"score": {"$gte": 0.7}}}


def test_pipeline_has_no_limit_or_match_without_min_score():
    pipeline = search_pipeline("idx", "embedding", VECTOR, 4, filter={"origin": "FRA"})
    assert [next(iter(stage)) for stage in pipeline] == ["$vectorSearch", "$project"]


def test_cap_constant():
    assert MAX_NUM_CANDIDATES == 10_000
