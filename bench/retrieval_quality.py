"""Retrieval quality on the labelled set of quality_set.py: vector-only, text-only and hybrid
lookups against the MongoDB stand-in, with the real local embedding (all-MiniLM-L6-v2).

Vector-only and hybrid run through VectorStore.search, the call VECTOR_LOOKUP makes; hybrid
is `$rankFusion` on the server, and once more with the fusion done in the worker (the path of
a server without `$rankFusion`), which must rank alike. Text-only is the `$search` input
pipeline on its own. Each query has one relevant document: recall@k is the share of queries
that find it in the top k, MRR the mean of 1/rank (0 past the top 10).

    python -m flink_rag_bench.retrieval_quality [--mongodb-uri URI] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from flink_rag_bench.quality_set import Query, build

STORE = "quality"
TOP = 10
KS = (1, 5, 10)


def load(uri: str, docs: list[dict[str, Any]], vectors: list[list[float]], coll_name: str) -> None:
    """The documents with their vectors, a vector index and a text index, both READY."""
    import pymongo

    from flink_rag.connectors.mongodb_index import create_vector_index, wait_until_ready
    from flink_rag.connectors.mongodb_text_index import create_text_index, wait_text_index

    client: pymongo.MongoClient = pymongo.MongoClient(uri)
    try:
        coll = client["flink_rag"][coll_name]
        coll.drop()
        coll.insert_many([{**d, "embedding": v} for d, v in zip(docs, vectors, strict=True)])
        create_vector_index(coll, f"{coll_name}_vector_index", "embedding", len(vectors[0]),
                            "cosine", ["kind"], mode="atlas")  # fmt: skip
        create_text_index(coll, f"{coll_name}_text", ["content"], ["kind"])
        wait_until_ready(coll, f"{coll_name}_vector_index", 120, mode="atlas")
        wait_text_index(coll, f"{coll_name}_text", 120)
    finally:
        client.close()


def score(rankings: Sequence[Sequence[str]], queries: Sequence[Query]) -> dict[str, float]:
    """recall@k for KS and MRR@10 of rankings (ids, best first), one per query."""
    out: dict[str, float] = {}
    ranks = []
    for ranking, query in zip(rankings, queries, strict=True):
        top = list(ranking)[:TOP]
        ranks.append(top.index(query.relevant) + 1 if query.relevant in top else None)
    for k in KS:
        out[f"recall@{k}"] = sum(1 for r in ranks if r is not None and r <= k) / len(ranks)
    out["mrr"] = sum(1.0 / r for r in ranks if r is not None) / len(ranks)
    return out


def measure(uri: str, coll_name: str = "quality_bench", **set_options: Any) -> dict[str, Any]:
    """Every mode's scores (overall and recall@5 per query kind) on the labelled set."""
    import pymongo

    from flink_rag.connectors.embedders import create_embedder
    from flink_rag.connectors.mongodb_store import VectorStore
    from flink_rag.connectors.settings import EmbedSettings, StoreSettings

    docs, queries = build(**set_options)
    embedder = create_embedder(EmbedSettings.from_options({}, env={}, resolve=False))
    embedder.open()
    doc_vectors = embedder.embed_batch([d["content"] for d in docs])
    query_vectors = embedder.embed_batch([q.text for q in queries])
    load(uri, docs, doc_vectors, coll_name)

    options = {
        "collection": coll_name,
        "index": f"{coll_name}_vector_index",
        "text-index": f"{coll_name}_text",
        "mode": "atlas",
        "fields": "kind",
    }
    store = VectorStore(StoreSettings.from_options(STORE, options, env={"MONGODB_URI": uri}))
    store.open()
    client: pymongo.MongoClient = pymongo.MongoClient(uri)
    coll = client["flink_rag"][coll_name]

    def text_only(query: Query) -> list[str]:
        stage = {"$search": {"index": f"{coll_name}_text",
                             "text": {"query": query.text, "path": "content"}}}  # fmt: skip
        return [
            d["_id"] for d in coll.aggregate([stage, {"$limit": TOP}, {"$project": {"_id": 1}}])
        ]

    def via_store(hybrid: bool) -> Callable[[int, Query], list[str]]:
        def run(i: int, query: Query) -> list[str]:
            text = query.text if hybrid else None
            return [h.id for h in store.search(query_vectors[i], TOP, None, text)]

        return run

    modes: dict[str, Callable[[int, Query], list[str]]] = {
        "vector-only": via_store(False),
        "text-only": lambda i, q: text_only(q),
        "hybrid ($rankFusion)": via_store(True),
    }
    results: dict[str, Any] = {}
    try:
        for name, run in modes.items():
            results[name] = _scored(run, queries)
        store._hybrid.server_fusion = False  # the fallback path of a server without $rankFusion
        results["hybrid (fused in the worker)"] = _scored(via_store(True), queries)
    finally:
        store.close()
        client.close()
    return {"documents": len(docs), "queries": len(queries), "modes": results}


def _scored(run: Callable[[int, Query], list[str]], queries: list[Query]) -> dict[str, Any]:
    rankings = [run(i, q) for i, q in enumerate(queries)]
    kinds = sorted({q.kind for q in queries})
    by_kind = {
        kind: score([r for r, q in zip(rankings, queries, strict=True) if q.kind == kind],
                    [q for q in queries if q.kind == kind])["recall@5"]
        for kind in kinds
    }  # fmt: skip
    return {**score(rankings, queries), "recall@5 by kind": by_kind, "rankings": rankings}


def table(report: dict[str, Any]) -> str:
    """BENCHMARKS.md's table of the report."""
    modes = report["modes"]
    kinds = list(next(iter(modes.values()))["recall@5 by kind"])
    head = ["mode", *[f"recall@{k}" for k in KS], "MRR@10", *[f"r@5 {k}" for k in kinds]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, m in modes.items():
        cells = [name, *[f"{m[f'recall@{k}']:.2f}" for k in KS], f"{m['mrr']:.3f}",
                 *[f"{m['recall@5 by kind'][k]:.2f}" for k in kinds]]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flink_rag_bench.retrieval_quality")
    parser.add_argument("--mongodb-uri", help="default: a private stand-in started for the run")
    parser.add_argument("--json", help="write the full report (with rankings) here")
    parser.add_argument(
        "--family", type=int, default=8, help="near-identical codes per family (1-8, default 8)"
    )
    args = parser.parse_args(argv)
    bench = None
    uri = args.mongodb_uri
    if uri is None:
        from flink_rag_bench.lookups import LookupBench

        bench = LookupBench().start()
        uri = bench.uri
    os.environ["MONGODB_URI"] = uri
    try:
        report = measure(uri, family=args.family)
    finally:
        if bench is not None:
            bench.close()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=1)
    print(
        f"{report['documents']} documents, {report['queries']} queries, families of {args.family}",
        file=sys.stderr,
    )
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
