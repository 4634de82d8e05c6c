"""Token budget bench: rows arrive in batches at a model profile with a tokens-per-minute
budget, against the load server; reports the most tokens the server saw in any 60 s window
against the budget, and rows answered / dead-lettered (`budget_exhausted`) / lost.

    python -m flink_rag_bench.budget --mode dead-letter
    python -m flink_rag_bench.budget --mode wait

`dead-letter` sets budget-wait 0: a row that finds the budget spent gets its error at once.
`wait` lets rows wait (budget-wait, within a deadline long enough for the whole run), so every
row is answered, at the budget's pace. The server's counters are sampled every 0.1 s; the
window maximum is over those samples (at most one sample's calls off).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flink_rag.connectors.openai_chat import ChatClient, Completion
from flink_rag.connectors.settings import LlmSettings
from flink_rag_bench.load_server import LoadServer

SAMPLE_S = 0.1


def _sampler(server: LoadServer, samples: list[tuple[float, int]], stop: threading.Event) -> None:
    while not stop.is_set():
        stats = server.stats()
        samples.append((time.monotonic(), stats["prompt_tokens"] + stats["completion_tokens"]))
        stop.wait(SAMPLE_S)


def max_in_window(samples: list[tuple[float, int]], window_s: float = 60.0) -> int:
    """The most tokens added in any `window_s`: from the last sample at least `window_s`
    before a sample to it (a little over the window: errs on the side of seeing more)."""
    best, j = 0, 0
    for t, total in samples:
        while samples[j][0] <= t - window_s:
            j += 1
        base = samples[j - 1][1] if j > 0 else 0
        best = max(best, total - base)
    return best


def run(args: argparse.Namespace) -> dict[str, Any]:
    options = {
        "model": "bench",
        "max-tokens": str(args.max_tokens),
        "tokens-per-minute": str(args.budget),
        "budget-wait": "0" if args.mode == "dead-letter" else str(args.budget_wait),
        "outage-wait": str(max(args.budget_wait, 1.0)),
        "concurrency": str(args.concurrency),
        "cache-dir": "off",
    }
    with LoadServer(latency_ms=args.latency_ms) as server:
        options["base-url"] = server.base_url
        settings = LlmSettings.from_options(options, env={})
        samples: list[tuple[float, int]] = []
        stop = threading.Event()
        sampler = threading.Thread(target=_sampler, args=(server, samples, stop), daemon=True)
        sampler.start()
        started = time.monotonic()
        with ChatClient(settings, profile="bench") as client:
            futures = []
            with ThreadPoolExecutor(max_workers=args.batches) as arrivals:
                for b in range(args.batches):
                    prompts = [
                        f"batch {b} row {i}: rebook passenger P{b * 1000 + i:05d}"
                        for i in range(args.batch_size)
                    ]
                    futures.append(arrivals.submit(client.complete_many, prompts))
                    if b + 1 < args.batches:
                        time.sleep(args.every_s)
                results: list[Completion] = [c for f in futures for c in f.result()]
        elapsed = time.monotonic() - started
        time.sleep(2 * SAMPLE_S)
        stop.set()
        sampler.join()
        stats = server.stats()
    sent = args.batches * args.batch_size
    answered = sum(1 for c in results if c.error is None and c.text)
    refused = sum(1 for c in results if c.error and c.error.startswith("budget_exhausted"))
    return {
        "mode": args.mode,
        "budget_tokens_per_minute": args.budget,
        "rows": sent,
        "answered": answered,
        "dead_lettered": refused,
        "other_errors": len(results) - answered - refused,
        "lost": sent - len(results),
        "server_calls": stats["requests"].get("/v1/chat/completions", {}),
        "server_tokens": stats["prompt_tokens"] + stats["completion_tokens"],
        "server_max_tokens_in_60s": max_in_window(samples),
        "elapsed_s": round(elapsed, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flink_rag_bench.budget", description=__doc__)
    parser.add_argument("--mode", choices=("dead-letter", "wait"), default="dead-letter")
    parser.add_argument("--budget", type=int, default=600, help="tokens per minute")
    parser.add_argument("--budget-wait", type=float, default=240.0, help="seconds (wait mode)")
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--every-s", type=float, default=15.0, help="seconds between batches")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    report = run(parser.parse_args(argv))
    print(json.dumps(report))
    return 0 if report["lost"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
