"""A small run of the retrieval-quality bench (bench/retrieval_quality.py): the labelled set's
queries through VectorStore with the real local embedding against the stand-in. Hybrid must
find at least what vector-only finds in the top 5, rank the relevant document higher on
average, and rank alike whether the server or the worker fuses."""

from __future__ import annotations

import uuid

import pytest

from flink_rag.local.session import shared_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def report():
    from flink_rag_bench.retrieval_quality import measure

    with shared_stack(["mongo"]) as endpoints:
        name = f"quality_{uuid.uuid4().hex[:8]}"
        try:
            yield measure(
                endpoints.mongodb_uri, coll_name=name, docs_per_kind=32, queries_per_kind=8
            )
        finally:
            import pymongo

            with pymongo.MongoClient(endpoints.mongodb_uri) as client:
                client["flink_rag"].drop_collection(name)


def test_hybrid_finds_what_vector_only_finds_and_ranks_it_higher(report):
    modes = report["modes"]
    vector, hybrid = modes["vector-only"], modes["hybrid ($rankFusion)"]
    assert report["queries"] == 4 * 8 + 8
    assert hybrid["recall@5"] >= vector["recall@5"], (hybrid["recall@5"], vector["recall@5"])
    assert hybrid["mrr"] > vector["mrr"], (hybrid["mrr"], vector["mrr"])
    # exact codes: full text alone finds every coded record first or nearly
    assert modes["text-only"]["recall@5 by kind"]["booking"] == 1.0


def test_worker_fusion_ranks_as_the_server_does(report):
    modes = report["modes"]
    assert (
        modes["hybrid (fused in the worker)"]["rankings"]
        == modes["hybrid ($rankFusion)"]["rankings"]
    )
