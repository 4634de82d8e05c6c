"""The Atlas Vector Search path, against the local stand-in and against real Atlas.

Every test runs twice with the same assertions: on the local MongoDB stand-in (`integration`
tier, always) and on the server behind MONGODB_URI (Atlas, or Community + mongot; `live` tier,
skipped unless it is set). Creates a throw-away collection with synthetic vectors, a
`vectorSearch` index with filter fields, waits until READY, then checks `$vectorSearch` results
and scores against numpy. The collection (and with it the search index) is dropped at the end.
The URI is never printed.
"""

from __future__ import annotations

import os
import time
import uuid

import numpy as np
import pymongo
import pytest

from flink_rag.connectors.errors import DimensionMismatchError, FilterError
from flink_rag.connectors.mongodb_index import (
    create_vector_index,
    search_supported,
    wait_until_ready,
)
from flink_rag.connectors.mongodb_store import VectorStore
from flink_rag.connectors.settings import StoreSettings, secret
from flink_rag.local.session import shared_stack

BACKENDS = [
    pytest.param(
        "stand-in",
        marks=[
            pytest.mark.integration,
            # With MONGODB_URI set the local stack defers to that server: the atlas case runs.
            pytest.mark.skipif(bool(secret("MONGODB_URI")), reason="MONGODB_URI is set"),
        ],
    ),
    pytest.param(
        "atlas",
        marks=[
            pytest.mark.live,
            pytest.mark.skipif(not secret("MONGODB_URI"), reason="MONGODB_URI is not set"),
        ],
    ),
]

DIMS = 16
N_DOCS = 60
READY_TIMEOUT_S = 600
SYNC_TIMEOUT_S = 120  # the index lags writes: wait until it sees every document


@pytest.fixture(scope="module", params=BACKENDS)
def live(request):
    if request.param == "atlas":
        uri = secret("MONGODB_URI")
        assert uri
        yield from _live(uri)
    else:
        with shared_stack(["mongo"]) as endpoints:
            yield from _live(endpoints.mongodb_uri)


def _live(uri):
    database = os.environ.get("FLINK_RAG_MONGODB_DATABASE") or "flink_rag_live"
    name = f"live_{uuid.uuid4().hex[:8]}"
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=20_000)
    collection = client[database][name]
    if not search_supported(collection):
        client.close()
        pytest.skip("the server behind MONGODB_URI has no vector search")
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(N_DOCS, DIMS))
    docs = [
        {
            "_id": f"doc-{i}",
            "embedding": vectors[i].tolist(),
            "carrier": ("LH", "BA")[i % 2],
            "seats": i % 4,
            "content": f"document {i}",
        }
        for i in range(N_DOCS)
    ]
    collection.insert_many(docs)
    try:
        create_vector_index(
            collection,
            f"{name}_vector_index",
            "embedding",
            DIMS,
            "cosine",
            ("carrier", "seats"),
            mode="atlas",
        )
        wait_until_ready(collection, f"{name}_vector_index", READY_TIMEOUT_S, mode="atlas")
        settings = StoreSettings.from_options(
            name,
            {
                "database": database,
                "filter-fields": "carrier,seats",
                "fields": "carrier,seats",
                "mode": "auto",
                "timeout": "20",
            },
            {"MONGODB_URI": uri},
        )
        yield settings, docs, vectors
    finally:
        collection.drop()
        client.close()


def _expected(docs, vectors, query, keep, k):
    rows = []
    for doc, v in zip(docs, vectors, strict=True):
        if keep(doc):
            cos = float(v @ query / (np.linalg.norm(v) * np.linalg.norm(query)))
            rows.append((doc["_id"], (1 + cos) / 2))
    rows.sort(key=lambda r: -r[1])
    return rows[:k]


def _search_when_synced(store, query, k, flt, expected_len):
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    while True:
        hits = store.search(query, k, flt)
        if len(hits) >= expected_len or time.monotonic() > deadline:
            return hits
        time.sleep(2)


def test_atlas_search_with_filter_matches_numpy(live):
    settings, docs, vectors = live
    store = VectorStore(settings)
    info = store.open(expected_dimensions=DIMS)
    assert info.mode == "atlas"
    assert info.ready
    query = np.random.default_rng(9).normal(size=DIMS)
    expected = _expected(docs, vectors, query, lambda d: d["carrier"] == "BA", 5)
    hits = _search_when_synced(store, query, 5, '{"carrier": "BA"}', 5)
    assert [h.id for h in hits] == [doc_id for doc_id, _ in expected]
    assert [h.score for h in hits] == pytest.approx([s for _, s in expected], abs=1e-4)
    assert {h.metadata["carrier"] for h in hits} == {"BA"}
    store.close()


def test_atlas_exact_search_and_range_filter(live):
    settings, docs, vectors = live
    exact = StoreSettings.from_options(
        settings.name,
        {
            "database": settings.database,
            "fields": "carrier,seats",
            "exact": "true",
            "timeout": "20",
        },
        {"MONGODB_URI": settings.uri.get_secret_value()},
    )
    store = VectorStore(exact)
    store.open(DIMS)
    query = np.random.default_rng(10).normal(size=DIMS)
    keep = lambda d: d["seats"] >= 2  # noqa: E731
    expected = _expected(docs, vectors, query, keep, 4)
    hits = _search_when_synced(store, query, 4, {"seats": {"$gte": 2}}, 4)
    assert [h.id for h in hits] == [doc_id for doc_id, _ in expected]
    store.close()


def test_atlas_errors(live):
    settings, _, _ = live
    store = VectorStore(settings)
    with pytest.raises(DimensionMismatchError):
        store.open(expected_dimensions=DIMS * 2)
    store.open(DIMS)
    with pytest.raises(FilterError, match="'content'"):
        store.search([0.1] * DIMS, 3, {"content": "x"})
    with pytest.raises(DimensionMismatchError):
        store.search([0.1] * (DIMS + 1), 3)
    store.close()
