"""Aggregation stages for Atlas Vector Search, built by pure functions.

Atlas rules encoded here: `$vectorSearch` is the first stage; `numCandidates` is at least
`limit` and at most 10000 (about 20×limit is the usual advice) and is omitted for exact (ENN)
search; the filter goes inside `$vectorSearch` (pre-filtering) so a selective filter never
empties the result the way a `$match` after `limit` would. Only the minimum-score cut runs
after the search, because the score exists only there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import InputError

CANDIDATE_FACTOR = 20
MAX_NUM_CANDIDATES = 10_000
MAX_LIMIT = MAX_NUM_CANDIDATES  # Atlas: limit <= numCandidates <= 10000
SCORE_FIELD = "score"
SCORE_META = {"$meta": "vectorSearchScore"}


def num_candidates_for(limit: int, requested: int | None = None) -> int:
    """numCandidates for `limit`: the requested value or 20×limit, kept within [limit, 10000]."""
    _check_limit(limit)
    wanted = requested if requested is not None else CANDIDATE_FACTOR * limit
    return max(limit, min(wanted, MAX_NUM_CANDIDATES))


def vector_search_stage(
    index: str,
    path: str,
    query_vector: Sequence[float],
    limit: int,
    num_candidates: int | None = None,
    filter: Mapping[str, Any] | None = None,
    exact: bool = False,
) -> dict[str, Any]:
    """The `$vectorSearch` stage; `filter` must already be validated (see vector_filters)."""
    _check_limit(limit)
    spec: dict[str, Any] = {
        "index": index,
        "path": path,
        "queryVector": [float(x) for x in query_vector],
        "limit": limit,
    }
    if exact:
        spec["exact"] = True
    else:
        spec["numCandidates"] = num_candidates_for(limit, num_candidates)
    if filter:
        spec["filter"] = dict(filter)
    return {"$vectorSearch": spec}


def projected_fields(fields: Iterable[str], content_field: str | None) -> list[str]:
    """Fields to return, without duplicates or paths that collide with a parent already kept."""
    wanted = [*([content_field] if content_field else []), *fields]
    kept: list[str] = []
    for name in sorted(set(wanted), key=lambda n: (n.count("."), n)):
        if name in ("_id", SCORE_FIELD):
            continue
        if any(name.startswith(parent + ".") for parent in kept):
            continue
        kept.append(name)
    return sorted(kept)


def project_stage(fields: Iterable[str], content_field: str | None) -> dict[str, Any]:
    """`$project` of _id, content, the selected fields and the search score."""
    spec: dict[str, Any] = {"_id": 1}
    spec.update({name: 1 for name in projected_fields(fields, content_field)})
    spec[SCORE_FIELD] = SCORE_META
    return {"$project": spec}


def min_score_stage(min_score: float) -> dict[str, Any]:
    return {"$match": {SCORE_FIELD: {"$gte": float(min_score)}}}


def search_pipeline(
    index: str,
    path: str,
    query_vector: Sequence[float],
    limit: int,
    *,
    num_candidates: int | None = None,
    filter: Mapping[str, Any] | None = None,
    exact: bool = False,
    fields: Iterable[str] = (),
    content_field: str | None = "content",
    min_score: float | None = None,
) -> list[dict[str, Any]]:
    """$vectorSearch → $project (fields, content, score) → optional $match on the minimum score."""
    pipeline = [
        vector_search_stage(index, path, query_vector, limit, num_candidates, filter, exact),
        project_stage(fields, content_field),
    ]
    if min_score is not None:
        pipeline.append(min_score_stage(min_score))
    return pipeline


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"k (limit) must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
