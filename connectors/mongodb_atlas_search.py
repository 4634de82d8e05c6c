"""Mode "atlas": a lookup is one `$vectorSearch` aggregation; the server ranks and filters."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .mongodb_index import IndexInfo
from .settings import StoreSettings
from .vector_hits import Hit
from .vector_pipeline import SCORE_FIELD, search_pipeline

# run(call): call(collection) with the store's outage handling and error translation.
Runner = Callable[[Callable[[Any], Any]], Any]
ToHit = Callable[[Mapping[str, Any], float], Hit]


def atlas_search(
    s: StoreSettings,
    info: IndexInfo,
    run: Runner,
    to_hit: ToHit,
    vector: np.ndarray,
    k: int,
    mql: dict[str, Any] | None,
) -> list[Hit]:
    pipeline = search_pipeline(
        info.name,
        info.path,
        vector.tolist(),
        k,
        num_candidates=s.num_candidates,
        filter=mql,
        exact=s.exact,
        fields=s.fields,
        content_field=s.content_field,
        min_score=s.min_score,
    )
    docs = run(lambda c: list(c.aggregate(pipeline)))
    return [to_hit(doc, float(doc.get(SCORE_FIELD, math.nan))) for doc in docs]
