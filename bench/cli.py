"""`flink-rag bench`: measure ours vs Flink's native ML_PREDICT vs the provider limit.

flink-rag bench --quick          # under 5 minutes
flink-rag bench                  # full profile
flink-rag bench --smoke --output /tmp/B.md --chart /tmp/b.png   # CI: tiny sizes
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from flink_rag.local.config import repo_root
from flink_rag_bench import document
from flink_rag_bench.chart import write_chart
from flink_rag_bench.contenders import DIMENSIONS, udfs_available
from flink_rag_bench.lookups import LookupBench, handlers
from flink_rag_bench.report import text_table
from flink_rag_bench.runner import Result, run_profile
from flink_rag_bench.scenarios import PROFILES
from flink_rag_bench.server_process import LoadServerProcess


def add_arguments(parser: argparse.ArgumentParser) -> None:
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the quick profile (< 5 minutes)")
    size.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument(
        "--output", type=Path, help="where to write the report (default: BENCHMARKS.md)"
    )
    parser.add_argument(
        "--chart", type=Path, help="PNG chart path (default: docs/bench_throughput.png)"
    )
    parser.add_argument(
        "--results-dir", type=Path, help="raw JSON results (default: bench/results/)"
    )
    parser.add_argument(
        "--from-results",
        type=Path,
        help="re-render the report and chart from a raw results file instead of measuring",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=[
            "embeddings",
            "completions",
            "completions-rpm",
            "completions-tpm",
            "cache",
            "lookup",
            "pipeline",
            "paced",
        ],
        help="run only these groups (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING)
    root = repo_root()
    output = args.output or root / "BENCHMARKS.md"
    chart = args.chart or root / "docs" / "bench_throughput.png"
    if args.from_results:
        raw = json.loads(args.from_results.read_text(encoding="utf-8"))
        results = [Result(**r) for r in raw["results"]]
        profile = replace(PROFILES[raw["profile"]], groups=None)
        started = datetime.fromisoformat(raw["started"])
        _write(results, profile, raw["machine"], raw["command"], started, output, chart)
        return 0
    profile = PROFILES["smoke" if args.smoke else "quick" if args.quick else "full"]
    results_dir = args.results_dir or root / "bench" / "results"
    machine = document.machine()  # load average before we add ours
    started = datetime.now(UTC)
    if args.only:
        profile = replace(profile, groups=frozenset(args.only))
    needs_store = any(c.group in ("lookup", "pipeline", "paced") for c in profile.cases())
    lookup = None
    if needs_store and udfs_available() is None:
        lookup = LookupBench().start()  # before the first JVM: workers inherit MONGODB_URI
    try:
        with LoadServerProcess(dimensions=DIMENSIONS) as server:
            results = run_profile(profile, server, extra=handlers(lookup), progress=_progress)
    finally:
        if lookup is not None:
            lookup.close()
    print(text_table(results))
    command = _command(sys.argv[2:] if sys.argv[1:2] == ["bench"] else sys.argv[1:])
    _write(results, profile, machine, command, started, output, chart)
    results_dir.mkdir(parents=True, exist_ok=True)
    raw_file = results_dir / f"{started:%Y%m%dT%H%M%S}-{profile.name}.json"
    raw_doc = {
        "profile": profile.name,
        "started": started.isoformat(),
        "command": command,
        "machine": machine,
        "results": [r.as_dict() for r in results],
    }
    raw_file.write_text(json.dumps(raw_doc, indent=1), encoding="utf-8")
    print(f"raw results: {raw_file}")
    errors = [r for r in results if r.status.startswith("error")]
    return 1 if errors else 0


def _write(results, profile, machine, command, started, output: Path, chart: Path) -> None:
    written = write_chart(results, chart, f"flink-rag bench ({profile.name})")
    chart_ref = _relative(written, output.parent) if written else None
    text = document.render(results, profile, machine, command, chart_ref, started)
    if output.is_file():  # sections written by other tools survive a regeneration
        text += document.kept_sections(output.read_text(encoding="utf-8"))
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}" + (f", {written}" if written else ""))


PATH_OPTIONS = ("--output", "--chart", "--results-dir", "--from-results")


def _command(argv: list[str]) -> str:
    """The command as run, minus output paths (they change nothing measured)."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in PATH_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{o}=" for o in PATH_OPTIONS)):
            kept.append(arg)
    return ("flink-rag bench " + shlex.join(kept)).strip()


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def _progress(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flink-rag bench", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
