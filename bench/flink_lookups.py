"""VECTOR_LOOKUP_JSON in a Flink job at 100k documents: lookups/s and recall@10 vs exact.

    python -m flink_rag_bench.flink_lookups --docs 100000 --rows 6000 --concurrency 8,16 \
        [--cases unfiltered,filtered] [--py-spy profile.txt]

Loads the documents of `vector_search.py` (synthetic 384-dim vectors, same `load` and exact
top-10) into a private stand-in, then per case (no filter, or one category of 10) and store
concurrency runs one PyFlink job on a mini-cluster:
a bounded filesystem JSON source of `--rows` query vectors, VECTOR_LOOKUP_JSON(store, v, 10,
filter) in bundles of `--bundle` rows (bundles.bundle_settings, the jobs' setting) with
`flink-rag.store.bench.concurrency` lookups of a bundle in flight, and a collecting sink.

The rate is the steady part of the job: the rows after the first full bundle, over the time
from that bundle's last row to the job's last row, so the job's start, the worker's start and
the store's opening (index check) are excluded; the whole job's time is printed beside it.
CPU per lookup over the same span: the stand-in's JVM, the Python worker(s) that run the UDF,
and the JVM running the mini-cluster. With --py-spy PATH the last job's Python worker is sampled
by py-spy over the steady part (flame-graph-ready `raw` format, plus the top functions printed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import psutil

from flink_rag.jobs.bundles import bundle_settings
from flink_rag_bench.flink_env import table_env
from flink_rag_bench.lookups import LookupBench
from flink_rag_bench.vector_search import (
    CATEGORIES,
    DIMS,
    K,
    cpu_s,
    exact_top,
    load,
    measure,
    vectors,
)

STORE = "bench"
FILTERED_CATEGORY = 3
PY_SPY = str(Path(sys.executable).with_name("py-spy"))  # installed with the bench
WORKER_MARKERS = ("pyflink.fn_execution", "beam_sdk_worker", "beam_boot")


def write_queries(path: Path, queries: np.ndarray) -> None:
    """One JSON object per line, `{"id": i, "v": [...]}`: what the JSON format reads."""
    with path.open("w", encoding="utf-8") as f:
        for i, v in enumerate(queries):
            f.write(json.dumps({"id": i, "v": [float(x) for x in v]}) + "\n")


def hit_ids(answer: str) -> tuple[list[int], str | None]:
    """The ids of a VECTOR_LOOKUP_JSON answer and its error (ids are the loaded `_id`s)."""
    parsed = json.loads(answer)
    return [int(h["id"]) for h in parsed.get("hits") or []], parsed.get("error")


def recall_at_k(found: dict[int, list[int]], truth: Sequence[set[int]], k: int = K) -> float:
    """Mean share of each query's exact top-k among its returned ids; a missing row counts 0."""
    if not truth:
        return 0.0
    return float(np.mean([len(set(found.get(i, [])[:k]) & t) / k for i, t in enumerate(truth)]))


def steady_rate(stamps: Sequence[float], skip: int) -> float | None:
    """Rows/s after the first `skip` rows: (rows after row `skip`) / (last row - row `skip`).

    `stamps` are the arrival times of the output rows in order. Rows leave the Python worker a
    bundle at a time, so `skip` is the bundle size: the time to the first full bundle holds the
    job's and the worker's start, not the lookups. None when fewer than two bundles arrived.
    """
    if skip < 1 or len(stamps) <= skip:
        return None
    span = stamps[-1] - stamps[skip - 1]
    return (len(stamps) - skip) / span if span > 0 else None


def worker_processes(
    root: psutil.Process, exclude: Iterable[int], since: float = 0.0
) -> list[psutil.Process]:
    """The Python processes under `root` (not excluded) that run Flink's Python functions,
    started at or after `since` (epoch s): a previous job's worker may not have ended yet."""
    skip = set(exclude)
    found = []
    for p in root.children(recursive=True):
        try:
            if p.pid in skip or any(a.pid in skip for a in p.parents()) or p.create_time() < since:
                continue
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            continue
        if any(m in cmd for m in WORKER_MARKERS):
            found.append(p)
    return found


def flink_jvms(root: psutil.Process, exclude: Iterable[int]) -> list[psutil.Process]:
    """The JVMs under `root` but the excluded ones: the gateway JVM running the mini-cluster."""
    skip = set(exclude)
    found = []
    for p in root.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if p.pid not in skip and "java" in p.name().lower():
                found.append(p)
    return found


def cpu_snapshot(processes: Iterable[psutil.Process]) -> dict[psutil.Process, float]:
    """Each live process's CPU seconds so far."""
    snap = {}
    for p in processes:
        with contextlib.suppress(psutil.Error):
            snap[p] = cpu_s(p)
    return snap


def cpu_used(since: dict[psutil.Process, float]) -> float:
    """CPU seconds the processes of `since` used after it; one that ended is left out (its CPU
    can no longer be read; subtracting its start would count negative time)."""
    used = 0.0
    for p, start in since.items():
        with contextlib.suppress(psutil.Error):
            used += cpu_s(p) - start
    return used


def busiest(processes: Sequence[psutil.Process]) -> psutil.Process:
    """The process that has used the most CPU (the Python worker, not its launcher)."""
    return max(processes, key=lambda p: sum(cpu_snapshot([p]).values()))


def top_functions(raw: Path, n: int = 15, inclusive: bool = False) -> list[tuple[str, float]]:
    """py-spy's raw (collapsed-stack) output: the functions' shares of the samples, as the leaf
    (where the CPU is spent) or, `inclusive`, anywhere on the stack (what it is spent for)."""
    counts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        frames = stack.split(";")
        for frame in set(frames) if inclusive else frames[-1:]:
            counts[frame] += int(count)
    ranked = sorted(counts.items(), key=lambda fc: (-fc[1], fc[0]))[:n]  # ties by name
    return [(f, round(c / total, 3)) for f, c in ranked] if total else []


def run_job(args, collection, qfile, truth, filtered, concurrency, stand_in, py_spy) -> dict:
    from flink_rag_bench.contenders import register_functions

    options = {
        f"flink-rag.store.{STORE}.collection": collection,
        f"flink-rag.store.{STORE}.index": f"{collection}_vector_index",
        f"flink-rag.store.{STORE}.mode": "atlas",
        f"flink-rag.store.{STORE}.filter-fields": "category",
        f"flink-rag.store.{STORE}.content-field": "",
        f"flink-rag.store.{STORE}.dimensions": str(DIMS),
        f"flink-rag.store.{STORE}.timeout": "60",
        f"flink-rag.store.{STORE}.concurrency": str(concurrency),
    }
    t_env = table_env(conf=bundle_settings(args.bundle))
    register_functions(t_env, options)
    t_env.execute_sql(
        f"CREATE TEMPORARY TABLE queries (id INT, v ARRAY<FLOAT>) WITH ('connector' = "
        f"'filesystem', 'path' = '{qfile.as_uri()}', 'format' = 'json')"
    )
    flt = (
        f'\'{{"category": {{"$eq": {FILTERED_CATEGORY}}}}}\''
        if filtered
        else "CAST(NULL AS STRING)"
    )
    query = f"SELECT id, VECTOR_LOOKUP_JSON('{STORE}', v, {K}, {flt}) FROM queries"
    me = psutil.Process()
    stamps: list[float] = []
    found: dict[int, list[int]] = {}
    errors: Counter[str] = Counter()
    snaps: dict[str, dict[psutil.Process, float]] = {}
    used: dict[str, float] = {}
    load0 = 0.0
    workers: list[psutil.Process] = []
    jvms: list[psutil.Process] = []
    spy = None
    submitted, submitted_epoch = time.perf_counter(), time.time()
    with t_env.execute_sql(query).collect() as rows:
        for qid, answer in rows:
            stamps.append(time.perf_counter())
            ids, error = hit_ids(answer)
            found[int(qid)] = ids
            if error:
                errors[error[:120]] += 1
            if len(stamps) == args.bundle:  # the steady part starts: snapshot the CPU
                workers = worker_processes(me, [stand_in.pid], submitted_epoch - 1)
                jvms = flink_jvms(me, [stand_in.pid])
                snaps = {"stand_in": cpu_snapshot([stand_in]), "worker": cpu_snapshot(workers),
                         "flink": cpu_snapshot(jvms)}  # fmt: skip
                load0 = os.getloadavg()[0]
                if py_spy and workers:
                    spy = subprocess.Popen(
                        [PY_SPY, "record", "--pid", str(busiest(workers).pid), "--format", "raw",
                         "--rate", "50", "--output", py_spy, "--nonblocking"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )  # fmt: skip
            if len(stamps) == args.rows and snaps:  # before the worker ends with the job
                used = {key: cpu_used(snap) for key, snap in snaps.items()}
    wall = time.perf_counter() - submitted
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        spy.wait(timeout=60)
    steady = len(stamps) - args.bundle

    def per(key: str) -> float | None:
        if steady <= 0 or key not in used:
            return None
        return round(used[key] * 1000 / steady, 2)

    result = {
        "docs": args.docs, "case": "filtered" if filtered else "unfiltered",
        "rows": len(stamps), "bundle_rows": args.bundle, "store_concurrency": concurrency,
        "lookups_per_s": round(r, 1) if (r := steady_rate(stamps, args.bundle)) else None,
        "whole_job_rows_per_s": round(len(stamps) / wall, 1),
        "first_row_s": round(stamps[0] - submitted, 1) if stamps else None,
        "recall_at_10": round(recall_at_k(found, truth), 4),
        "row_errors": dict(errors),
        "stand_in_cpu_ms": per("stand_in"), "python_worker_cpu_ms": per("worker"),
        "flink_jvm_cpu_ms": per("flink"), "python_workers": len(workers),
        "load_avg": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }  # fmt: skip
    if spy is not None and Path(py_spy).is_file():
        result["py_spy_leaf"] = top_functions(Path(py_spy))
        result["py_spy_inclusive"] = top_functions(Path(py_spy), 25, inclusive=True)
    return result


def side_by_side(args, collection, queries, truth, keep, concurrency, stand_in) -> None:
    """The same lookups without Flink, through `VectorStore` from `concurrency` threads (the
    pool search_many uses), on the same stand-in and data just before the job."""
    from flink_rag.connectors.mongodb_store import VectorStore
    from flink_rag.connectors.settings import StoreSettings

    settings = StoreSettings.from_options(
        STORE, {"collection": collection, "index": f"{collection}_vector_index",
                "filter-fields": "category", "content-field": "", "timeout": "60"},
        {"MONGODB_URI": os.environ["MONGODB_URI"]},
    )  # fmt: skip
    store = VectorStore(settings)
    store.open(DIMS)
    flt = {"category": FILTERED_CATEGORY} if keep is not None else None
    try:
        rate, recall, server_ms, client_ms = measure(
            store, queries, flt, truth, concurrency, jvm=stand_in
        )
    finally:
        store.close()
    print(json.dumps({"docs": args.docs, "case": ("filtered" if flt else "unfiltered") +
                      ", VectorStore (no Flink)", "rows": len(queries),
                      "threads": concurrency, "lookups_per_s": round(rate, 1),
                      "recall_at_10": round(recall, 4), "stand_in_cpu_ms": round(server_ms, 2),
                      "client_cpu_ms": round(client_ms, 2),
                      "load_avg": os.getloadavg()[0]}), flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=6000, help="query vectors (rows) per job")
    parser.add_argument("--bundle", type=int, default=1000, help="rows per Python bundle")
    parser.add_argument("--concurrency", default="8,16", help="store concurrency, one job each")
    parser.add_argument(
        "--cases", default="unfiltered", help=f"unfiltered,filtered (category {FILTERED_CATEGORY})"
    )
    parser.add_argument(
        "--vector-store",
        action="store_true",
        help="first, the same lookups through VectorStore.search_many's pool (vector_search.py)",
    )
    parser.add_argument(
        "--py-spy", default="", help="sample the last job's Python worker into this file"
    )
    args = parser.parse_args(argv)
    if args.rows <= args.bundle:
        parser.error("--rows must exceed --bundle: the first bundle is excluded as start-up")
    if not set(args.cases.split(",")) <= {"unfiltered", "filtered"}:
        parser.error(f"--cases takes unfiltered and/or filtered, not {args.cases!r}")
    # Before the first JVM: the Python workers inherit MONGODB_URI (see lookups.py).
    bench = LookupBench().start()
    try:
        supervisor = psutil.Process(bench._component.pids()[0])
        stand_in = next(iter(supervisor.children()), supervisor)
        data = vectors(args.docs)
        collection, insert_s, build_s, _ = load(bench.uri, args.docs, data, stand_in)
        print(json.dumps({"docs": args.docs, "insert_s": round(insert_s, 1),
                          "build_s": round(build_s, 1), "load_avg": os.getloadavg()[0]}),
              flush=True)  # fmt: skip
        queries = vectors(args.rows, seed=args.docs + 1)
        keeps = {
            "unfiltered": None,
            "filtered": np.arange(args.docs) % CATEGORIES == FILTERED_CATEGORY,
        }
        with tempfile.TemporaryDirectory(prefix="flink-rag-bench-queries-") as tmp:
            qfile = Path(tmp) / "queries.json"
            write_queries(qfile, queries)
            jobs = [
                (case, int(c))
                for case in args.cases.split(",")
                for c in args.concurrency.split(",")
            ]
            for i, (case, c) in enumerate(jobs):
                keep = keeps[case]
                # In slices: 6000 queries x 100k documents at once is a 2.4 GB score matrix.
                truth = [
                    t
                    for s in range(0, args.rows, 500)
                    for t in exact_top(data, queries[s : s + 500], keep)
                ]
                if args.vector_store:
                    side_by_side(args, collection, queries, truth, keep, c, stand_in)
                # py-spy samples only the last job, so the others run without it.
                spy = args.py_spy if i == len(jobs) - 1 else ""
                result = run_job(args, collection, qfile, truth, keep is not None, c, stand_in, spy)
                print(json.dumps(result), flush=True)
    finally:
        bench.close()


if __name__ == "__main__":
    main()
