"""The airline rebooking demo: data -> Kafka -> streaming ingestion (Flink SQL -> Kafka ->
Kafka Connect -> MongoDB) -> rebooking job -> a cancellation -> recommendations printed as
they arrive -> clean exit with a summary.

Local defaults (Kafka, MongoDB stand-in, MiniLM embeddings, the local LLM); with
OPENAI_API_KEY, MONGODB_URI or KAFKA_BOOTSTRAP_SERVERS set, the same run uses those. This
module is the command (stack, providers, data, summary); the run's phases are scenario.py's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from flink_rag.airline import checks, dataset
from flink_rag.airline.scenario import DEFAULT_TIMEOUT_S, announce, run_scenario


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=dataset.DEFAULT_SEED, help="data seed")
    parser.add_argument(
        "--bookings-per-flight",
        type=int,
        default=dataset.DEFAULT_BOOKINGS_PER_FLIGHT,
        help="scale knob: bookings (= passengers affected by the cancellation) per flight",
    )
    parser.add_argument("--days", type=int, default=dataset.DEFAULT_DAYS, help="days of flights")
    parser.add_argument("--flight", help="flight id to cancel (default: one with alternatives)")
    parser.add_argument("--data-dir", type=Path, help="where to write the JSONL files")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds to wait for outputs"
    )
    parser.add_argument(
        "--skip-ingest",
        action="store_true",
        help="do not start the ingestion job; reuse the MongoDB collections as they are",
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the local stack running at the end"
    )
    parser.add_argument(
        "--sql-client",
        action="store_true",
        help="submit the rebooking job with sql-client.sh to the local session cluster",
    )


def _configure_providers(llm_base_url: str, cache_dir: Path) -> None:
    """Point the UDFs at the local LLM and embeddings unless the environment chose others.

    Set before the first Flink job: the Python workers inherit this environment."""
    if os.environ.get("OPENAI_API_KEY"):
        os.environ.setdefault("FLINK_RAG_EMBED_PROVIDER", "openai")
        return
    os.environ.setdefault("FLINK_RAG_EMBED_PROVIDER", "local")
    os.environ.setdefault("FLINK_RAG_CACHE_DIR", str(cache_dir))
    os.environ.setdefault("FLINK_RAG_LLM_BASE_URL", llm_base_url)
    os.environ.setdefault("FLINK_RAG_LLM_MODEL", "smollm2")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run(args: argparse.Namespace) -> int:
    from flink_rag.local.endpoints import endpoints
    from flink_rag.local.session import shared_stack
    from flink_rag.local.stack import Stack

    t0 = time.monotonic()
    names = ["kafka", "mongo", "connect"] + ([] if os.environ.get("OPENAI_API_KEY") else ["llm"])
    names += ["flink"] if args.sql_client else []
    announce(
        f"starting the local stack ({', '.join(names)}; services set in the env are used as is)"
    )
    if args.keep_running:
        stack = Stack()
        for line in stack.up(names, owner="cli"):  # as `flink-rag local up`: stays up
            announce(line)
        context: Any = contextlib.nullcontext(endpoints(stack.config))
    else:
        # A lease on the shared stack: nobody stops it under us, and on exit what was
        # started for this run is stopped unless another session still uses it.
        context = shared_stack(names)
    with context as ep:
        _configure_providers(ep.llm_base_url, Stack().config.home / "cache")
        data = dataset.generate(args.seed, args.bookings_per_flight, args.days)
        data_dir = args.data_dir or Stack().config.home / "airline-data"
        dataset.write_files(data, data_dir)
        announce(
            f"generated {len(data.flights)} flights, {len(data.customers)} customers, "
            f"{len(data.bookings)} bookings, {len(data.policies)} policy sections -> {data_dir}"
        )
        flight = data.flight(args.flight) if args.flight else checks.pick_flight(data)
        summary = run_scenario(
            ep.kafka_bootstrap,
            ep.mongodb_uri,
            data,
            flight,
            timeout_s=args.timeout,
            skip_ingest=args.skip_ingest,
            sql_client=args.sql_client,
        )
    announce(
        f"summary: {summary.affected} affected passengers on {summary.flight_id}: "
        f"{summary.grounded} grounded recommendations, {summary.dead_lettered} dead-lettered "
        f"{summary.dead_letter_reasons or ''}; first answer {summary.first_s or 0:.1f} s and last "
        f"{summary.pipeline_s:.1f} s after the cancellation, {summary.elapsed_s:.1f} s after "
        f"setup, {time.monotonic() - t0:.1f} s total"
    )
    for problem in summary.not_grounded:
        announce(f"NOT GROUNDED {problem}")
    for problem in summary.unreadable:
        announce(f"UNREADABLE {problem}")
    if summary.duplicates:
        announce(f"DUPLICATED keys: {', '.join(summary.duplicates)}")
    return 0 if summary.complete else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flink-rag demo", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
