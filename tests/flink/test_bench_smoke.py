"""The benchmark's smoke profile completes and writes a well-formed report (never timings)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from flink_rag_bench.report import COLUMNS, parse_table
from flink_rag_bench.runner import expected_rows
from flink_rag_bench.scenarios import PROFILES

pytestmark = pytest.mark.flink

RUN_TIMEOUT_S = 900


def _number(cell: str) -> float | None:
    return None if cell == "-" else float(cell)


def _close(shown: str, a: float | None, b: float | None) -> bool:
    """A ratio cell agrees with the two numbers shown next to it (both rounded to 0.1)."""
    if a is None or not b:
        return shown == "-"
    return math.isclose(float(shown), a / b, rel_tol=0.01, abs_tol=0.006)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench")
    cmd = [
        sys.executable, "-m", "flink_rag_bench.cli", "--smoke",
        "--output", str(out / "BENCHMARKS.md"),
        "--chart", str(out / "throughput.png"),
        "--results-dir", str(out / "results"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    return {"proc": proc, "dir": out}


def test_smoke_run_completes_without_contender_errors(smoke_run: dict) -> None:
    proc = smoke_run["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_report_has_every_contender_row_with_parsable_numbers(smoke_run: dict) -> None:
    text = (smoke_run["dir"] / "BENCHMARKS.md").read_text(encoding="utf-8")
    rows = parse_table(text)
    assert [(r["case"], r["contender"]) for r in rows] == expected_rows(PROFILES["smoke"])
    by_case = {(r["case"], r["contender"]): r for r in rows}
    for row in rows:
        assert set(row) == set(COLUMNS)
        for col in ("rows", "failed", "wrong", "calls", "429s", "peak in-flight"):
            assert int(row[col]) >= 0, (col, row)
        rate, limit = _number(row["rows/s"]), _number(row["limit/s"])
        if row["status"] == "ok":
            assert int(row["rows"]) > 0, row
            if row["contender"] != "VECTOR_LOOKUP" and not row["contender"].endswith("replay"):
                assert rate is not None and rate > 0, row
        else:
            assert row["status"].startswith("skipped: "), row
        assert _close(row["vs limit"], rate, limit), row
        native = by_case.get((row["case"], "ML_PREDICT"))
        if native is not None and row["contender"] != "ML_PREDICT":
            assert _close(row["vs native"], rate, _number(native["rows/s"])), row
        else:
            assert row["vs native"] == "-", row


def test_every_answer_belongs_to_its_own_row_and_none_is_lost(smoke_run: dict) -> None:
    rows = parse_table((smoke_run["dir"] / "BENCHMARKS.md").read_text(encoding="utf-8"))
    measured = [r for r in rows if r["status"] == "ok"]
    assert any(r["contender"] == "ML_PREDICT" for r in measured)
    for row in measured:
        assert row["wrong"] == "0", row
        # Under a rate limit, rows failing after retries is a measured result, not a defect
        # of the report; everywhere else a failed row is.
        if row["contender"] != "VECTOR_LOOKUP" and "rpm=" not in row["case"]:
            assert row["failed"] == "0", row
        if row["contender"].endswith("replay"):
            assert row["calls"] == "0", row  # answered from the cache


def test_targets_chart_and_raw_results_are_written(smoke_run: dict) -> None:
    out: Path = smoke_run["dir"]
    text = (out / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert "## Targets" in text
    assert text.count("| replay makes no calls |") == 1
    assert (out / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](throughput.png)" in text
    (raw,) = (out / "results").glob("*-smoke.json")
    results = json.loads(raw.read_text(encoding="utf-8"))["results"]
    assert len(results) == len(expected_rows(PROFILES["smoke"]))
