"""Profile EMBED in a real job: the bench's embeddings case with py-spy on every process.

Runs one `embeddings` case of the bench (real Flink job, real Python worker processes, the
load server in its own process) while py-spy samples the UDF worker(s) and the load server,
and writes one text summary per process next to the raw stacks:

    python -m flink_rag_bench.profile_embed --rows 20000 --concurrency 16 --out docs/profile
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from flink_rag_bench.contenders import DIMENSIONS
from flink_rag_bench.profiling import Sampler, summarize
from flink_rag_bench.runner import measure
from flink_rag_bench.scenarios import PROFILES, Case
from flink_rag_bench.server_process import LoadServerProcess


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--out", type=Path, default=Path("docs/profile"))
    p.add_argument("--keep-raw", action="store_true", help="keep py-spy's raw stacks")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="extra flink-rag.embed.* or Flink option for the EMBED job (repeatable)",
    )  # fmt: skip
    args = p.parse_args(argv)
    provider = PROFILES["full"].embed_provider
    case = Case("embeddings", "ours", args.rows, args.concurrency, provider)
    extra = dict(kv.split("=", 1) for kv in args.set)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with LoadServerProcess(dimensions=DIMENSIONS) as server:
        assert server.pid is not None
        raw_dir = args.out / "raw"
        started = time.monotonic()
        with Sampler(raw_dir, fixed={"load-server": server.pid}) as sampler:
            result = measure(case, server, extra=extra)
        seconds = time.monotonic() - started
    head = {
        "case": case.label,
        "rows/s": result.rows_per_s,
        # GIL seconds in the summaries span the whole run (imports, JVM start): compare them
        # with this window, first provider call to last answer
        "provider window s": result.rows / result.rows_per_s if result.rows_per_s else None,
        "calls": result.calls,
        "failed": result.failed,
        "wrong": result.wrong,
        "status": result.status,
        "load average at start": load,
        "load average at end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "options": extra,
    }
    print(json.dumps(head))
    for name, path in sampler.files.items():
        if not path.is_file():
            print(f"{name}: py-spy wrote nothing (attach refused?)")
            continue
        summary = summarize(path.read_text(encoding="utf-8").splitlines())
        text = summary.text(f"{name} during `{case.label}` (EMBED)", seconds)
        out = args.out / f"embed_{name}.txt"
        out.write_text(json.dumps(head) + "\n\n" + text, encoding="utf-8")
        print(text)
        if not args.keep_raw:
            path.unlink()
    if not args.keep_raw and raw_dir.is_dir() and not any(raw_dir.iterdir()):
        raw_dir.rmdir()
    return 0 if result.status == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
