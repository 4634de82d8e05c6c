"""Hybrid lookups: `$rankFusion` of `$vectorSearch` and `$search` on the server, or, on a server
without `$rankFusion` (MongoDB before 8.0, or one that refuses the stage), the two searches one
after the other fused here by reciprocal rank fusion, with the same scores and scoreDetails.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from pymongo.errors import OperationFailure

from .errors import ConfigError
from .hybrid_pipeline import (
    DETAILS_FIELD,
    TEXT,
    VECTOR,
    rank_fusion_pipeline,
    reciprocal_rank_fusion,
    text_pipeline,
)
from .mongodb_index import IndexInfo
from .settings import StoreSettings
from .vector_hits import Hit, json_safe
from .vector_pipeline import SCORE_FIELD, project_stage, search_pipeline

log = logging.getLogger(__name__)

Runner = Callable[[Callable[[Any], Any]], Any]
ToHit = Callable[[Mapping[str, Any], float], Hit]

# "Unrecognized pipeline stage name": a server before 8.0 (or a stand-in) without $rankFusion.
NO_RANK_FUSION_CODES = frozenset({40324})
HYBRID_FACTOR = 4  # each input pipeline returns this many times k before fusion
MAX_PER_INPUT = 1000


def per_input_limit(s: StoreSettings, k: int) -> int:
    """How many hits each input pipeline ranks: the store's hybrid-candidates or 4×k."""
    wanted = s.hybrid_candidates if s.hybrid_candidates is not None else HYBRID_FACTOR * k
    return max(k, min(wanted, MAX_PER_INPUT))


def weights_of(s: StoreSettings) -> dict[str, float]:
    return {VECTOR: s.vector_weight, TEXT: s.text_weight}


def text_paths(s: StoreSettings) -> tuple[str, ...]:
    paths = s.text_paths or ((s.content_field,) if s.content_field else ())
    if not paths:
        raise ConfigError(
            f"store {s.name!r} has no text path to search: set "
            f"'flink-rag.store.{s.name}.text-paths' (or content-field)"
        )
    return tuple(paths)


class HybridSearch:
    """One store's hybrid lookups; remembers when the server has no $rankFusion."""

    def __init__(self, settings: StoreSettings):
        self.settings = settings
        self.server_fusion = True

    def search(
        self,
        info: IndexInfo,
        run: Runner,
        to_hit: ToHit,
        vector: np.ndarray,
        k: int,
        mql: dict[str, Any] | None,
        text: str,
    ) -> list[Hit]:
        s = self.settings
        if not s.text_index:
            raise ConfigError(
                f"a hybrid lookup (query text given) needs a text index: set "
                f"'flink-rag.store.{s.name}.text-index' and run `flink-rag index create "
                f"--store {s.name}`"
            )
        if self.server_fusion:
            pipeline = rank_fusion_pipeline(
                vector_index=info.name,
                path=info.path,
                query_vector=vector.tolist(),
                text_index=s.text_index,
                text=text,
                text_paths=text_paths(s),
                k=k,
                per_input=per_input_limit(s, k),
                weights=weights_of(s),
                filter=mql,
                num_candidates=s.num_candidates,
                exact=s.exact,
                fields=s.fields,
                content_field=s.content_field,
            )
            try:
                docs = run(lambda c: list(c.aggregate(pipeline)))
            except OperationFailure as err:
                if err.code not in NO_RANK_FUSION_CODES:
                    raise
                log.warning(
                    "store %s: the server has no $rankFusion (error %s); fusing the vector and "
                    "text searches in the worker from now on", s.name, err.code,
                )  # fmt: skip
                self.server_fusion = False
            else:
                return [self._hit(to_hit, doc, doc.get(DETAILS_FIELD)) for doc in docs]
        return self._client_fusion(info, run, to_hit, vector, k, mql, text)

    def _client_fusion(
        self,
        info: IndexInfo,
        run: Runner,
        to_hit: ToHit,
        vector: np.ndarray,
        k: int,
        mql: dict[str, Any] | None,
        text: str,
    ) -> list[Hit]:
        s = self.settings
        per_input = per_input_limit(s, k)
        assert s.text_index
        vector_docs = run(
            lambda c: list(
                c.aggregate(
                    search_pipeline(
                        info.name,
                        info.path,
                        vector.tolist(),
                        per_input,
                        num_candidates=s.num_candidates,
                        filter=mql,
                        exact=s.exact,
                        fields=s.fields,
                        content_field=s.content_field,
                    )
                )
            )
        )
        text_stages = text_pipeline(s.text_index, text, text_paths(s), per_input, mql)
        project = project_stage(s.fields, s.content_field)
        project["$project"][SCORE_FIELD] = {"$meta": "searchScore"}
        text_docs = run(lambda c: list(c.aggregate([*text_stages, project])))
        docs: dict[Any, Mapping[str, Any]] = {}
        scores: dict[tuple[str, Any], Any] = {}
        rankings: dict[str, list[Any]] = {}
        for name, found in ((VECTOR, vector_docs), (TEXT, text_docs)):
            keys = rankings.setdefault(name, [])
            for doc in found:
                key = _key(doc.get("_id"))
                docs.setdefault(key, doc)
                scores.setdefault((name, key), doc.get(SCORE_FIELD))
                keys.append(key)
        hits = []
        for fused in reciprocal_rank_fusion(rankings, weights_of(s), k):
            for part in fused.details["details"]:
                value = scores.get((part["inputPipelineName"], fused.id))
                if value is not None:
                    part["value"] = value
                part["details"] = []
            doc = {**docs[fused.id], SCORE_FIELD: fused.score}
            hits.append(self._hit(to_hit, doc, fused.details))
        return hits

    @staticmethod
    def _hit(to_hit: ToHit, doc: Mapping[str, Any], details: Any) -> Hit:
        hit = to_hit(doc, float(doc.get(SCORE_FIELD, math.nan)))
        if details is not None:
            hit.metadata[DETAILS_FIELD] = json_safe(details)
        return hit


def _key(doc_id: Any) -> Any:
    try:
        hash(doc_id)
    except TypeError:
        return repr(doc_id)
    return doc_id
