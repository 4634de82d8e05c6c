"""VECTOR_LOOKUP lookups/s on a private MongoDB stand-in (Atlas path: `$vectorSearch` on its
Lucene HNSW index), with and without a filter.

The stand-in runs on a free port with its own data directory, so the benchmark never touches
the local stack's data; MONGODB_URI must point at it before the first JVM starts (Python
workers inherit the environment of the JVM), hence `LookupBench.start()` before the run.
"""

from __future__ import annotations

import json
import math
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from flink_rag_bench import contenders
from flink_rag_bench.flink_env import table_env
from flink_rag_bench.proc_tree import PeakRss
from flink_rag_bench.runner import Result, _empty
from flink_rag_bench.scenarios import Case
from flink_rag_bench.server_process import LoadServerProcess

STORE = "bench"
DIMENSIONS = 64
CATEGORIES = 100  # the filter selects one category: 1% of the documents
K = 5
BUNDLE_ROWS = 1  # each answer flushed at once, so the rate can be read off the stream
INSERT_BATCH = 2000
READY_TIMEOUT_S = 15 * 60


def doc_vector(i: int) -> list[float]:
    v = [math.sin(i * 0.37 + d) for d in range(DIMENSIONS)]
    return [round(x, 6) for x in v]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LookupBench:
    def __init__(self) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._component: Any = None
        self.uri = ""
        self.loaded: set[int] = set()

    def start(self) -> LookupBench:
        from flink_rag.local.config import LocalConfig
        from flink_rag.local.mongo import MongoStandIn
        from flink_rag.local.state import StateDir

        self._tmp = tempfile.TemporaryDirectory(prefix="flink-rag-bench-mongo-")
        home = Path(self._tmp.name)
        config = LocalConfig(home=home, mongo_port=_free_port())
        state = StateDir(home)
        state.ensure()
        self._component = MongoStandIn(config, state)
        self._component.check_prereqs()
        self._component.prepare()
        self._component.start("flink-rag bench")
        self.uri = f"mongodb://127.0.0.1:{config.mongo_port}/"
        deadline = time.monotonic() + 60
        while True:
            try:
                self._component.probe(timeout=2.0)
                break
            except ConnectionError:
                if time.monotonic() > deadline:
                    self.close()
                    raise
                time.sleep(0.5)
        os.environ["MONGODB_URI"] = self.uri
        return self

    def close(self) -> None:
        if self._component is not None:
            self._component.stop()
            self._component = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def load(self, docs: int) -> str:
        """Collection `bench_<docs>` with a READY search index; returns its name."""
        import pymongo

        from flink_rag.connectors.mongodb_index import create_vector_index, wait_until_ready

        name = f"bench_{docs}"
        if docs in self.loaded:
            return name
        client: pymongo.MongoClient = pymongo.MongoClient(self.uri)
        try:
            coll = client["flink_rag"][name]
            coll.drop()
            for start in range(0, docs, INSERT_BATCH):
                coll.insert_many(
                    [
                        {
                            "_id": f"d{i}",
                            "content": f"document {i}",
                            "category": i % CATEGORIES,
                            "embedding": doc_vector(i),
                        }
                        for i in range(start, min(docs, start + INSERT_BATCH))
                    ]
                )
            create_vector_index(
                coll, f"{name}_vector_index", "embedding", DIMENSIONS, "cosine",
                ["category"], mode="atlas",
            )  # fmt: skip
            wait_until_ready(coll, f"{name}_vector_index", READY_TIMEOUT_S, mode="atlas")
        finally:
            client.close()
        self.loaded.add(docs)
        return name

    def measure(self, case: Case, server: LoadServerProcess) -> list[Result]:
        why = contenders.udfs_available()
        if why:
            return [_empty(case, f"skipped: {why}")]
        t0 = time.time()
        collection = self.load(case.docs)
        options = {
            f"flink-rag.store.{STORE}.collection": collection,
            f"flink-rag.store.{STORE}.index": f"{collection}_vector_index",
            f"flink-rag.store.{STORE}.mode": "atlas",
            f"flink-rag.store.{STORE}.filter-fields": "category",
            f"flink-rag.store.{STORE}.fields": "category",
            f"flink-rag.store.{STORE}.dimensions": str(DIMENSIONS),
        }
        t_env = table_env(
            conf={
                "python.fn-execution.bundle.size": str(BUNDLE_ROWS),
                "python.fn-execution.arrow.batch.size": str(BUNDLE_ROWS),
            }
        )
        contenders.register_functions(t_env, options)
        vec = ", ".join(f"CAST(SIN(id * 0.37 + {d}) AS FLOAT)" for d in range(DIMENSIONS))
        t_env.execute_sql(
            "CREATE TEMPORARY TABLE q_src (id BIGINT) WITH ('connector' = 'datagen', "
            f"'number-of-rows' = '{case.rows}', 'fields.id.kind' = 'sequence', "
            f"'fields.id.start' = '1', 'fields.id.end' = '{case.rows}')"
        )
        flt = (
            f"JSON_OBJECT('category' VALUE JSON_OBJECT('$eq' VALUE CAST(id % {CATEGORIES} AS INT)))"
            if case.filtered
            else "CAST(NULL AS STRING)"
        )
        query = (
            "SELECT q.id, h.doc_id, h.metadata, h.error FROM "
            f"(SELECT id, ARRAY[{vec}] AS v, {flt} AS f FROM q_src) AS q "
            f"LEFT JOIN LATERAL TABLE(VECTOR_LOOKUP('{STORE}', q.v, {K}, q.f)) "
            "AS h(doc_id, score, content, metadata, error) ON TRUE"
        )
        ids: set[int] = set()
        failed: set[int] = set()
        wrong: set[int] = set()
        stamps: list[tuple[float, int]] = []
        status = "ok"
        with PeakRss(exclude=[server.pid] if server.pid else []) as mem:
            submitted = time.time()
            try:
                with t_env.execute_sql(query).collect() as rows:
                    for qid, doc_id, metadata, error in rows:
                        if qid not in ids:
                            ids.add(qid)
                            stamps.append((time.time(), len(ids)))
                        if error or doc_id is None:
                            failed.add(qid)
                        elif case.filtered and _category(metadata) != qid % CATEGORIES:
                            wrong.add(qid)
            except Exception as err:  # a failing contender is a result
                status = f"error: {type(err).__name__}: {str(err)[:200]}"
        rate = None
        if len(stamps) > 2:
            (t_first, n_first), (t_last, n_last) = stamps[0], stamps[-1]
            rate = (n_last - n_first) / (t_last - t_first) if t_last > t_first else None
        result = _empty(case, status)
        result.rows = len(ids)
        result.rows_per_s = rate
        result.failed = len(failed)
        result.wrong = len(wrong - failed)
        result.start_s = (stamps[0][0] - submitted) if stamps else None
        result.wall_s = time.time() - t0
        result.peak_rss_mb = mem.peak_mb
        result.extra = f"k={K}, {DIMENSIONS} dims" + (
            f", filter selects 1/{CATEGORIES} of the documents" if case.filtered else ", no filter"
        )
        return [result]


def _category(metadata: str | None) -> Any:
    try:
        return json.loads(metadata or "{}").get("category")
    except (ValueError, AttributeError):
        return None


def handlers(bench: LookupBench | None) -> dict[str, Any]:
    """Groups that need the private MongoDB stand-in; without it they report `skipped`."""
    if bench is None:
        return {}
    from flink_rag_bench.paced import measure_paced
    from flink_rag_bench.pipeline import measure_pipeline

    return {"lookup": bench.measure, "pipeline": measure_pipeline, "paced": measure_paced}
