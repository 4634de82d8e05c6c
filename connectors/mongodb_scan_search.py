"""Mode "scan" (servers without search): the server picks the matching ids, the worker scores
their vectors exactly, on Atlas's score scale.

Scan is for development and small collections. Each lookup lists every matching `_id` and
needs each one's vector (cached per process, refetched when the cache is full): at 1M documents
x 384 dimensions that is gigabytes per lookup. So it is bounded: a collection above
MAX_SCAN_DOCUMENTS is refused when the store opens, and a lookup whose filter matches more than
that is an error on its row; both errors name `mode=atlas` and `flink-rag index create`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from pymongo.collection import Collection

from .errors import ConfigError, ProviderError
from .mongodb_atlas_search import Runner, ToHit
from .mongodb_index import IndexInfo
from .settings import StoreSettings
from .vector_cache import VectorCache, key
from .vector_hits import Hit, get_path
from .vector_pipeline import projected_fields
from .vector_scoring import scores, top_k

# Above this many documents a scan costs more per lookup (id list, vectors, exact scoring in
# Python) than a worker should spend on one row; a search index answers in milliseconds.
MAX_SCAN_DOCUMENTS = 100_000


def too_large(s: StoreSettings, count: int, what: str) -> str:
    return (
        f"store {s.name!r}: {what} {count:,} documents, more than scan mode handles "
        f"({MAX_SCAN_DOCUMENTS:,}); create a search index with `flink-rag index create --store "
        f"{s.name} --dimensions N` on a server with Atlas Search and set "
        f"'flink-rag.store.{s.name}.mode' = 'atlas'"
    )


def check_scan_size(s: StoreSettings, collection: Collection) -> None:
    """ConfigError when the collection is too large for scan mode (estimated count: cheap)."""
    count = collection.estimated_document_count()
    if count > MAX_SCAN_DOCUMENTS:
        raise ConfigError(too_large(s, count, f"{s.database}.{s.collection} holds"))


def scan_search(
    s: StoreSettings,
    info: IndexInfo,
    cache: VectorCache,
    collection: Collection,
    run: Runner,
    to_hit: ToHit,
    vector: np.ndarray,
    k: int,
    mql: dict[str, Any] | None,
) -> list[Hit]:
    # 1. the server picks the matching ids (exact filter semantics, sees inserts/deletes),
    #    at most one more than the bound;
    # 2. their vectors come from the per-process cache, unseen ones from the server;
    # 3. content and fields are read only for the k winners.
    batch = batch_size(info.dimensions)

    def matching_ids(c: Any) -> list[Any]:
        cursor = c.find(mql or {}, {"_id": 1}, batch_size=10 * batch)
        return [d["_id"] for d in cursor.limit(MAX_SCAN_DOCUMENTS + 1)]

    ids = run(matching_ids)
    if len(ids) > MAX_SCAN_DOCUMENTS:
        # Not retryable and not the job's failure: a narrower filter on another row still works.
        raise ProviderError(too_large(s, len(ids) - 1, "the filter matches more than"))
    if not ids:
        return []
    kept, matrix = run(
        lambda c: cache.vectors_for(ids, lambda chunk: _vectors(collection, info, chunk))
    )
    if not kept:
        return []
    values = scores(vector, matrix, info.similarity)
    best = top_k(values, k, s.min_score)
    if best.size == 0:
        return []
    winners = [kept[i] for i in best]
    projection = {name: 1 for name in projected_fields(s.fields, s.content_field)}
    projection["_id"] = 1
    docs = run(lambda c: list(c.find({"_id": {"$in": winners}}, projection)))
    by_id = {key(d["_id"]): d for d in docs}
    hits = []
    for i in best:
        doc = by_id.get(key(kept[i]))
        if doc is not None:  # deleted between the reads
            hits.append(to_hit(doc, float(values[i])))
    return hits


def _vectors(collection: Collection, info: IndexInfo, ids: list[Any]) -> Iterator[tuple[Any, Any]]:
    """(id, vector) for `ids`, in chunks: one reply must stay under the wire-message limit."""
    batch = batch_size(info.dimensions)
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        cursor = collection.find({"_id": {"$in": chunk}}, {info.path: 1}, batch_size=batch)
        for doc in cursor:
            yield doc["_id"], get_path(doc, info.path)


def batch_size(dimensions: int) -> int:
    """Documents per reply so one reply of vectors stays near 8 MB."""
    return max(10, min(1000, 600_000 // max(1, dimensions)))
