"""Hybrid (vector + full-text) lookups: the `$rankFusion` pipeline and reciprocal rank fusion.

Pure functions. The server-side form is MongoDB's `$rankFusion` over two named input
pipelines, "vector" (`$vectorSearch` with the row's filter inside it) and "text" (`$search`
on the store's Atlas Search index, then a `$match` with the same filter, then `$limit`):
`$match` is a selection stage `$rankFusion` allows, and it applies the row's MQL filter with
exactly the semantics `$vectorSearch` gives it. A server without `$rankFusion` gets the two
pipelines one by one and `reciprocal_rank_fusion` here does what the server would: each
document's score is the sum over the inputs that return it of weight / (60 + rank).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .vector_pipeline import SCORE_FIELD, project_stage, vector_search_stage

RANK_CONSTANT = 60  # MongoDB's $rankFusion constant (and the RRF paper's)
VECTOR, TEXT = "vector", "text"
DETAILS_FIELD = "scoreDetails"
RRF_DESCRIPTION = (
    "value output by reciprocal rank fusion algorithm, computed as sum of (weight * (1 / (60 + "
    "rank))) across input pipelines from which this document is output, from:"
)


@dataclass(frozen=True)
class Fused:
    """One fused document: its id, RRF score and how each input ranked it."""

    id: Any
    score: float
    details: dict[str, Any]


def text_search_stage(index: str, query: str, paths: Sequence[str]) -> dict[str, Any]:
    """`$search` with the `text` operator over the store's text paths."""
    path: str | list[str] = paths[0] if len(paths) == 1 else list(paths)
    return {"$search": {"index": index, "text": {"query": query, "path": path}}}


def text_pipeline(
    index: str, query: str, paths: Sequence[str], limit: int, filter: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The "text" input pipeline: $search → $match (the row's filter) → $limit."""
    stages = [text_search_stage(index, query, paths)]
    if filter:
        stages.append({"$match": dict(filter)})
    stages.append({"$limit": limit})
    return stages


def rank_fusion_pipeline(
    *,
    vector_index: str,
    path: str,
    query_vector: Sequence[float],
    text_index: str,
    text: str,
    text_paths: Sequence[str],
    k: int,
    per_input: int,
    weights: Mapping[str, float],
    filter: Mapping[str, Any] | None = None,
    num_candidates: int | None = None,
    exact: bool = False,
    fields: Iterable[str] = (),
    content_field: str | None = "content",
) -> list[dict[str, Any]]:
    """$rankFusion(vector, text) → $limit k → $project (fields, score, scoreDetails)."""
    vector = vector_search_stage(
        vector_index, path, query_vector, per_input, num_candidates, filter, exact
    )
    project = project_stage(fields, content_field)
    project["$project"][SCORE_FIELD] = {"$meta": "score"}
    project["$project"][DETAILS_FIELD] = {"$meta": "scoreDetails"}
    return [
        {
            "$rankFusion": {
                "input": {
                    "pipelines": {
                        VECTOR: [vector],
                        TEXT: text_pipeline(text_index, text, text_paths, per_input, filter),
                    }
                },
                "combination": {"weights": dict(weights)},
                "scoreDetails": True,
            }
        },
        {"$limit": k},
        project,
    ]


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[Any]], weights: Mapping[str, float], k: int
) -> list[Fused]:
    """The top k of the rankings (ids, best first) fused as $rankFusion does. A document repeated
    within one ranking counts once, at its best rank; ties keep the order of first appearance."""
    scores: dict[Any, float] = {}
    parts: dict[Any, list[dict[str, Any]]] = {}
    for name, ids in rankings.items():
        weight = float(weights.get(name, 1.0))
        seen: set[Any] = set()
        rank = 0
        for doc_id in ids:
            if doc_id in seen:
                continue
            seen.add(doc_id)
            rank += 1
            scores[doc_id] = scores.get(doc_id, 0.0) + weight / (RANK_CONSTANT + rank)
            parts.setdefault(doc_id, []).append(
                {"inputPipelineName": name, "rank": rank, "weight": weight}
            )
    order = sorted(scores, key=lambda d: -scores[d])  # stable: ties keep first appearance
    return [
        Fused(
            doc_id,
            scores[doc_id],
            {"value": scores[doc_id], "description": RRF_DESCRIPTION, "details": parts[doc_id]},
        )
        for doc_id in order[:k]
    ]
