"""The Atlas path of VECTOR_LOOKUP on the local stand-in: lookups/s and recall@10 vs exact.

    python -m flink_rag_bench.vector_search --docs 10000,100000 [--latency-ms 20]

For each size: load synthetic 384-dim documents (a Gaussian mixture, like clustered sentence
embeddings) into a private stand-in, create the `vectorSearch` index and time it to READY, then
run lookups through `VectorStore.search` from a bounded thread pool — unfiltered and filtered
(one category of 10, a 10% pre-filter) — and score recall@10 against exact top-10 computed in
numpy from the loaded vectors. With --latency-ms, lookups also go through a proxy that delays
every read by that much (toxiproxy is not installed by setup; the proxy is `latency_proxy.py`),
reported against in-flight ÷ latency. Prints one JSON line per measurement.

The machine is shared, so wall-clock rates move with the load average (printed with each line);
CPU seconds do not: each line also gives the stand-in's CPU per lookup (server side: driver
message, Lucene HNSW, hits read from the index) and this process's (client side:
VectorStore, pymongo, BSON), and the index build's CPU seconds beside its wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psutil
from pydantic import SecretStr

from flink_rag_bench.latency_proxy import LatencyProxy
from flink_rag_bench.lookups import LookupBench

DIMS = 384
K = 10
CATEGORIES = 10
CLUSTERS = 200
CENTERS_SEED = 1  # documents and queries share the clusters, as texts and questions of a topic do
INSERT_BATCH = 1000
READY_TIMEOUT_S = 15 * 60
WARMUP = 100


def vectors(n: int, seed: int = 7) -> np.ndarray:
    """n unit vectors around the same fixed cluster centers; `seed` draws the points."""
    centers = np.random.default_rng(CENTERS_SEED).normal(size=(CLUSTERS, DIMS))
    rng = np.random.default_rng(seed)
    v = centers[rng.integers(0, CLUSTERS, n)] + 0.6 * rng.normal(size=(n, DIMS))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def load(
    uri: str, n: int, data: np.ndarray, jvm: psutil.Process
) -> tuple[str, float, float, float]:
    import pymongo

    from flink_rag.connectors.mongodb_index import create_vector_index, wait_until_ready

    client: pymongo.MongoClient = pymongo.MongoClient(uri)
    coll = client["flink_rag"][f"bench_atlas_{n}"]
    coll.drop()
    t0 = time.perf_counter()
    for start in range(0, n, INSERT_BATCH):
        stop = min(n, start + INSERT_BATCH)
        coll.insert_many(
            [
                {"_id": i, "category": i % CATEGORIES, "embedding": data[i].tolist()}
                for i in range(start, stop)
            ]
        )
    insert_s = time.perf_counter() - t0
    name = f"{coll.name}_vector_index"
    t1, cpu1 = time.perf_counter(), cpu_s(jvm)
    create_vector_index(coll, name, "embedding", DIMS, "cosine", ["category"], mode="atlas")
    wait_until_ready(coll, name, READY_TIMEOUT_S, mode="atlas")
    build_s, build_cpu_s = time.perf_counter() - t1, cpu_s(jvm) - cpu1
    client.close()
    return coll.name, insert_s, build_s, build_cpu_s


def exact_top(data: np.ndarray, queries: np.ndarray, keep: np.ndarray | None) -> list[set[int]]:
    scores = queries @ data.T
    if keep is not None:
        scores[:, ~keep] = -np.inf
    return [set(np.argsort(-row)[:K].tolist()) for row in scores]


def measure(store, queries, flt, truth, concurrency, warmup=WARMUP, jvm=None):
    """(lookups/s, recall@10, server and client CPU ms per lookup) with `concurrency` in flight."""

    def one(i: int) -> set[int]:
        return {int(h.id) for h in store.search(queries[i], K, flt)}

    me = psutil.Process()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(min(warmup, len(queries)))))  # connections, the server's JIT
        server0, client0 = (cpu_s(jvm) if jvm else 0.0), cpu_s(me)
        t0 = time.perf_counter()
        found = list(pool.map(one, range(len(queries))))
        elapsed = time.perf_counter() - t0
        server_ms = ((cpu_s(jvm) - server0) if jvm else 0.0) * 1000 / len(queries)
        client_ms = (cpu_s(me) - client0) * 1000 / len(queries)
    recall = float(np.mean([len(f & t) / K for f, t in zip(found, truth, strict=True)]))
    return len(queries) / elapsed, recall, server_ms, client_ms


def scan_mode(uri, name, settings, data, queries, n):
    """Today's fallback on the same data: the scan-mode descriptor, exact search in the worker."""
    import pymongo

    from flink_rag.connectors.mongodb_index import create_vector_index
    from flink_rag.connectors.mongodb_store import VectorStore

    client: pymongo.MongoClient = pymongo.MongoClient(uri)
    index = f"{name}_scan_index"
    create_vector_index(client["flink_rag"][name], index, "embedding", DIMS, "cosine",
                        ["category"], mode="scan")  # fmt: skip
    client.close()
    store = VectorStore(settings.model_copy(update={"index": index, "mode": "scan"}))
    store.open(DIMS)
    truth = exact_top(data, queries, None)
    rate, recall, _, _ = measure(store, queries, None, truth, 1, warmup=1)
    print(json.dumps({"docs": n, "case": "scan mode, unfiltered", "concurrency": 1,
                      "lookups_per_s": round(rate, 2), "recall_at_10": round(recall, 4),
                      "load_avg": os.getloadavg()[0]}), flush=True)  # fmt: skip
    store.close()


def main(argv: list[str] | None = None) -> None:
    from flink_rag.connectors.mongodb_store import VectorStore
    from flink_rag.connectors.settings import StoreSettings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default="10000,100000")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--latency-concurrency", type=int, default=32)
    parser.add_argument("--scan-queries", type=int, default=0, help="also time scan mode")
    parser.add_argument("--scan-max-docs", type=int, default=10_000, help="scan only up to this")
    args = parser.parse_args(argv)
    bench = LookupBench().start()
    try:
        # The component's pid is its supervisor; the stand-in's JVM is that process's child.
        supervisor = psutil.Process(bench._component.pids()[0])
        jvm = next(iter(supervisor.children()), supervisor)
        for n in [int(x) for x in args.docs.split(",")]:
            data = vectors(n)
            name, insert_s, build_s, build_cpu_s = load(bench.uri, n, data, jvm)
            queries = vectors(args.queries, seed=n + 1)
            categories = np.arange(n) % CATEGORIES
            cases = [("unfiltered", None, None), ("filtered", {"category": 3}, categories == 3)]
            settings = StoreSettings.from_options(
                "bench", {"collection": name, "index": f"{name}_vector_index",
                          "filter-fields": "category", "content-field": "",
                          "timeout": "30"},
                {"MONGODB_URI": bench.uri},
            )  # fmt: skip
            store = VectorStore(settings)
            store.open(DIMS)
            for label, flt, keep in cases:
                truth = exact_top(data, queries, keep)
                rate, recall, server_ms, client_ms = measure(
                    store, queries, flt, truth, args.concurrency, jvm=jvm
                )
                print(json.dumps({"docs": n, "case": label, "concurrency": args.concurrency,
                                  "lookups_per_s": round(rate, 1), "recall_at_10": round(recall, 4),
                                  "server_cpu_ms": round(server_ms, 2),
                                  "client_cpu_ms": round(client_ms, 2),
                                  "insert_s": round(insert_s, 1), "build_s": round(build_s, 1),
                                  "build_cpu_s": round(build_cpu_s, 1),
                                  "stand_in_rss_mb": round(jvm.memory_info().rss / 2**20),
                                  "load_avg": os.getloadavg()[0]}), flush=True)  # fmt: skip
            store.close()
            if args.scan_queries and n <= args.scan_max_docs:
                scan_mode(bench.uri, name, settings, data, queries[: args.scan_queries], n)
            if args.latency_ms > 0:
                with LatencyProxy(bench.uri, args.latency_ms / 1000.0) as proxy:
                    slow = VectorStore(settings.model_copy(update={"uri": SecretStr(proxy.uri)}))
                    slow.open(DIMS)
                    c = args.latency_concurrency
                    truth = exact_top(data, queries, None)
                    rate, recall, _, _ = measure(slow, queries, None, truth, c)
                    ideal = c / (args.latency_ms / 1000.0)
                    print(json.dumps({"docs": n, "case": f"+{args.latency_ms:g} ms",
                                      "concurrency": c, "lookups_per_s": round(rate, 1),
                                      "in_flight_over_latency": round(ideal, 1),
                                      "ratio": round(rate / ideal, 3),
                                      "recall_at_10": round(recall, 4),
                                      "load_avg": os.getloadavg()[0]}), flush=True)  # fmt: skip
                    slow.close()
    finally:
        bench.close()


if __name__ == "__main__":
    main()
