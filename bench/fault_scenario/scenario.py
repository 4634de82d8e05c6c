"""`flink-rag faults`: the rebooking job through a schedule of real faults, with a report.

The job (sql/rebooking.sql) runs on a private Flink session cluster (2 TaskManagers x 2
slots, parallelism 2; `--cluster mini` runs it on a local mini-cluster at parallelism 1) and
reads the local stack's Kafka; its LLM calls go through toxiproxy to the deterministic
OpenAI-compatible load server, its vector lookups through toxiproxy to the MongoDB stand-in.
Cancellations are written in waves while the faults run, one after the other:

    LLM cut -> TaskManager SIGKILL (restore from the last checkpoint) -> MongoDB cut
      -> Kafka broker restart -> LLM latency + connection resets -> 429 storm

Reported: events, passengers, recommendations, dead letters by reason, lost passengers,
records a plain consumer reads, keys whose answer a table reader would see change (the
duplicates that matter for an upsert topic), LLM calls beyond one per answered passenger,
job restarts, and per fault the time from it to the next output.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flink_rag_bench.fault_scenario.report import AFTER_LLM, NOT_A_PASSENGER, Fault, Report

DEFAULT_REPORT = Path("docs") / "FAULTS.md"
GAP_S = 10.0  # between two faults
FIRST_FAULT_S = 5.0  # after the job runs (and, on a session cluster, has a checkpoint)
INSTANT_SLOT_S = 20.0  # how long the schedule plans for a kill or a restart
# key -> (name, seconds applied; None: --fault-seconds, 0: instant)
FAULTS: dict[str, tuple[str, float | None]] = {
    "llm-cut": ("LLM endpoint cut", None),
    "tm-kill": ("TaskManager SIGKILL mid-burst", 0.0),
    "mongo-cut": ("MongoDB cut", None),
    "broker-restart": ("Kafka broker stop + start", 0.0),
    "llm-latency": ("LLM latency 300 ms + resets (10 %)", 20.0),
    "429-storm": ("429 storm (every 2nd request)", 20.0),
}
SESSION_ONLY = ("tm-kill",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--passengers", type=int, default=10_000, help="affected passengers")
    parser.add_argument("--fault-seconds", type=float, default=30.0, help="length of each cut")
    parser.add_argument("--waves", type=int, default=8, help="bursts of cancellations")
    parser.add_argument("--concurrency", type=int, default=64, help="LLM calls in flight")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up after (s)")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="markdown report")
    parser.add_argument(
        "--cluster", choices=("session", "mini"), default="session",
        help="a private session cluster (default) or a local mini-cluster (parallelism 1)",
    )  # fmt: skip
    parser.add_argument("--taskmanagers", type=int, default=2, help="session cluster TMs")
    parser.add_argument("--slots", type=int, default=2, help="slots per TaskManager")
    parser.add_argument("--parallelism", type=int, default=2, help="job parallelism (session)")
    parser.add_argument("--logs", type=Path, help="keep the session cluster's logs here")
    parser.add_argument(
        "--faults", default=",".join(FAULTS),
        help=f"comma-separated, run in this order; from {', '.join(FAULTS)}",
    )  # fmt: skip


def _schedule(args: argparse.Namespace) -> list[Fault]:
    faults = []
    for key in [k.strip() for k in args.faults.split(",") if k.strip()]:
        if key not in FAULTS:
            raise SystemExit(f"unknown fault {key!r}; choose from {', '.join(FAULTS)}")
        if key in SESSION_ONLY and args.cluster != "session":
            continue  # a mini-cluster has no TaskManager process to kill
        name, seconds = FAULTS[key]
        faults.append(Fault(key, name, args.fault_seconds if seconds is None else seconds))
    return faults


_ENV_SET = ("MONGODB_URI", "FLINK_RAG_BENCH_API_KEY")  # contenders.API_KEY_ENV


def _restore_env(saved: dict[str, str | None]) -> None:
    """Put back what the run set for its workers (a caller's later jobs must not use it)."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _say(started: float, what: str) -> None:
    print(f"[{time.monotonic() - started:6.1f} s] {what}", file=sys.stderr, flush=True)


def _span(faults: list[Fault]) -> float:
    """The planned length of the schedule, over which the waves are spread."""
    return FIRST_FAULT_S + sum((f.seconds or INSTANT_SLOT_S) + GAP_S for f in faults)


def _recoveries(faults: list[Fault], written_s: list[float]) -> None:
    """Per fault, the time from its end to the first record written after it (Kafka
    timestamps: records written before a kill but read later do not count)."""
    stamps = sorted(written_s)
    for f in faults:
        if f.ended_wall is None:
            continue
        later = next((t for t in stamps if t > f.ended_wall), None)
        f.recovered_s = None if later is None else later - f.ended_wall


def run(args: argparse.Namespace) -> int:
    report = run_scenario(args)
    text = report.markdown()
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text, encoding="utf-8")
    print(text)
    return 0 if report.ok() else 1


def run_scenario(args: argparse.Namespace) -> Report:
    """Run the schedule and count; raises if a fault could not be applied or undone."""
    from flink_rag.airline import dataset, kafka_io, rebooking
    from flink_rag.airline.events import make_event
    from flink_rag.local.session import shared_stack
    from flink_rag_bench import contenders
    from flink_rag_bench.fault_scenario.actions import lift, perform
    from flink_rag_bench.fault_scenario.cluster import session_cluster
    from flink_rag_bench.fault_scenario.documents import drop, load_documents
    from flink_rag_bench.fault_scenario.toxiproxy import Toxiproxy
    from flink_rag_bench.server_process import LoadServerProcess

    started = time.monotonic()
    run_id = uuid.uuid4().hex[:8]
    data = dataset.generate(seed=23, bookings_per_flight=4, days=max(3, args.passengers // 1000))
    by_flight = Counter(b["flight_id"] for b in data.bookings if b.get("status") == "CONFIRMED")
    cancelled, expected = [], 0
    for f in data.flights:
        if expected >= args.passengers:
            break
        if by_flight.get(f["flight_id"]):
            cancelled.append(f)
            expected += by_flight[f["flight_id"]]
    names = {k: f"faults{run_id}_{k}" for k in ("customers", "bookings", "flight_inventory")}
    events_topic, recs_topic, dead_topic = (f"faults{run_id}_{k}" for k in ("ev", "recs", "dead"))
    database = f"flink_rag_faults_{run_id}"
    faults = _schedule(args)
    session = args.cluster == "session"
    report = Report(expected, len(cancelled), args.fault_seconds, faults)
    report.cluster = (
        f"session cluster, {args.taskmanagers} TaskManagers x {args.slots} slots, "
        f"parallelism {args.parallelism}"
        if session
        else "local mini-cluster, parallelism 1"
    )
    report.command = (
        f"flink-rag faults --passengers {args.passengers} --fault-seconds {args.fault_seconds:g}"
        + (" --cluster mini" if not session else "")
        + (f" --faults {args.faults}" if args.faults != ",".join(FAULTS) else "")
    )
    with contextlib.ExitStack() as resources:
        endpoints = resources.enter_context(shared_stack(["kafka", "mongo"]))
        server = resources.enter_context(LoadServerProcess(latency_ms=20))
        toxiproxy = resources.enter_context(Toxiproxy())
        cache_dir = resources.enter_context(
            tempfile.TemporaryDirectory(prefix="flink-rag-faults-cache-")
        )
        llm = toxiproxy.proxy("llm", f"127.0.0.1:{server.port}")
        mongo = toxiproxy.proxy("mongo", urlsplit(endpoints.mongodb_uri).netloc)
        load_documents(endpoints.mongodb_uri, database, data, contenders.DIMENSIONS)
        bootstrap = endpoints.kafka_bootstrap
        kafka_io.load_dataset(
            bootstrap,
            data,
            topics=tuple(names),
            names={
                **names,
                "flight_events": events_topic,
                "rebooking_recommendations": recs_topic,
                "rebooking_dead_letter": dead_topic,
            },
        )
        resources.callback(_restore_env, {k: os.environ.get(k) for k in _ENV_SET})
        os.environ.setdefault(contenders.API_KEY_ENV, contenders.DUMMY_API_KEY)
        # The workers read the store's URI from the environment: the proxy's. A session
        # cluster's TaskManagers take this environment when they start, so it is set first.
        os.environ["MONGODB_URI"] = f"mongodb://{mongo.listen}/?directConnection=true"
        _say(started, "stack up, data loaded")
        cluster = (
            resources.enter_context(session_cluster(args.taskmanagers, args.slots, args.logs))
            if session
            else None
        )
        options = {
            "flink-rag.embed.provider": "openai",
            "flink-rag.embed.base-url": server.base_url,  # direct: the cuts are the LLM's
            "flink-rag.embed.model": contenders.EMBED_MODEL,
            "flink-rag.embed.api-key-env": contenders.API_KEY_ENV,
            "flink-rag.embed.cache-dir": cache_dir,
            "flink-rag.llm.base-url": f"http://{llm.listen}/v1",
            "flink-rag.llm.model": contenders.CHAT_MODEL,
            "flink-rag.llm.api-key-env": contenders.API_KEY_ENV,
            "flink-rag.llm.concurrency": str(args.concurrency),
            "flink-rag.llm.timeout": "10",
            "flink-rag.llm.cache-dir": cache_dir,
            "flink-rag.store.flights.database": database,
            "flink-rag.store.flights.mode": "scan",
            "flink-rag.store.flights.timeout": "5",
            "flink-rag.store.policies.database": database,
            "flink-rag.store.policies.mode": "scan",
            "flink-rag.store.policies.timeout": "5",
        }
        params = rebooking.sql_params(
            bootstrap,
            group_id=f"g{run_id}",
            topics={
                "EVENT_TOPIC": events_topic,
                "BOOKING_TOPIC": names["bookings"],
                "CUSTOMER_TOPIC": names["customers"],
                "FLIGHT_TOPIC": names["flight_inventory"],
                "RECOMMENDATION_TOPIC": recs_topic,
                "DEAD_LETTER_TOPIC": dead_topic,
            },
        )
        server.reset()
        table_options = cluster.job_options(args.parallelism) if cluster else None
        job = rebooking.submit(params, options=options, table_options=table_options)
        job_id = str(job.get_job_id())
        if cluster is not None:
            cluster.wait_until("the job RUNNING", lambda: cluster.all_running(job_id), 300)
        t0 = time.monotonic()
        _say(started, f"job {job_id} running")
        stop = threading.Event()
        errors: list[BaseException] = []
        restores_at: list[int] = []  # the restore count at each fault's start

        def at(seconds: float) -> bool:
            """Sleep until `seconds` after t0; False if the run is stopping."""
            while time.monotonic() - t0 < seconds:
                if stop.wait(0.2):
                    return False
            return True

        def produce_waves() -> None:
            waves = [cancelled[i :: args.waves] for i in range(args.waves)]
            span = _span(faults)
            for n, wave in enumerate(waves):
                if not at(span * n / args.waves):
                    return
                events = [make_event(f"EV-{f['flight_id']}", f) for f in wave]
                kafka_io.produce(
                    bootstrap, events_topic, [(None, dataset.dumps(e)) for e in events]
                )

        def run_faults() -> None:
            next_at = FIRST_FAULT_S
            for f in faults:
                if not at(next_at):
                    return
                f.start_s = time.monotonic() - t0
                if cluster is not None:
                    restores_at.append(cluster.restarts(job_id))
                _say(started, f"fault {f.key}")
                perform(f, llm, mongo, server, cluster, job_id, stop)
                _say(started, f"fault {f.key} over {f.note}")
                next_at = time.monotonic() - t0 + GAP_S

        def guarded(target: Any) -> Any:
            def body() -> None:
                try:
                    target()
                except BaseException as err:  # reported after the run, never lost
                    errors.append(err)

            return body

        threads = [
            threading.Thread(target=guarded(t), daemon=True) for t in (produce_waves, run_faults)
        ]
        for t in threads:
            t.start()
        try:
            with rebooking.OutputReader(bootstrap, f"r{run_id}", recs_topic, dead_topic) as rd:
                rd.wait_for(
                    lambda o: (
                        (o.total() >= expected and not any(t.is_alive() for t in threads))
                        or bool(errors)
                    ),
                    args.timeout,
                )
                rd.wait_for(lambda o: bool(errors), 10.0)
                out = rd.outputs
            if cluster is not None:
                report.restarts = cluster.restarts(job_id)
                bounds = [*restores_at, report.restarts]
                for fault, low, high in zip(faults, bounds, bounds[1:], strict=False):
                    fault.window_restores = high - low
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
            for fault in faults:
                lift(fault, llm, mongo, server)
            job.cancel().result()
            drop(endpoints.mongodb_uri, database)
        stats = server.stats()
    if errors:
        raise errors[0]
    _recoveries(faults, out.written_s)
    report.recommendations = len(out.recommendations)
    report.dead_letters = Counter(d["reason"] for d in out.dead_letters.values())
    answered = report.recommendations + sum(report.dead_letters[r] for r in AFTER_LLM)
    passengers_out = report.recommendations + sum(
        n for r, n in report.dead_letters.items() if r not in NOT_A_PASSENGER
    )
    report.lost = max(0, expected - passengers_out)
    report.records = out.records
    report.tombstones = len(out.tombstones)
    report.rewritten_keys = len(out.keys_written_twice)
    report.duplicated_keys = len(out.keys_changed)
    chat = stats["requests"].get("/v1/chat/completions", {})
    report.llm_calls = int(chat.get("200", 0))
    report.extra_llm_calls = report.llm_calls - answered
    report.wall_s = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flink-rag faults", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
