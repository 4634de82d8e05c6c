"""The Flink lookup bench, small: a real job on its own stand-in answers every row, finds the
exact neighbours, and sees the processes it reports CPU for (values only, never timings)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.flink

RUN_TIMEOUT_S = 600
ROWS, BUNDLE = 300, 100


def test_a_small_run_answers_every_row_with_its_exact_neighbours() -> None:
    cmd = [
        sys.executable, "-m", "flink_rag_bench.flink_lookups", "--docs", "2000",
        "--rows", str(ROWS), "--bundle", str(BUNDLE), "--concurrency", "4",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    loaded, job = lines[0], lines[-1]
    assert loaded["docs"] == 2000 and loaded["build_s"] > 0
    assert job["rows"] == ROWS and job["bundle_rows"] == BUNDLE
    assert job["store_concurrency"] == 4
    assert job["row_errors"] == {}
    # 2000 documents: HNSW with 200 candidates finds (nearly) the exact top 10.
    assert job["recall_at_10"] >= 0.95
    assert job["lookups_per_s"] > 0
    # The CPU columns are only meaningful if the bench found the worker and both JVMs.
    assert job["python_workers"] >= 1
    for key in ("stand_in_cpu_ms", "python_worker_cpu_ms", "flink_jvm_cpu_ms"):
        assert job[key] is not None and job[key] > 0, (key, job)
