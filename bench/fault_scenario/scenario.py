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
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flink_rag_bench.fault_scenario.report import AFTER_LLM, NOT_A_PASSENGER, Fault, Report
from flink_rag_bench.fault_scenario.timeline import Timeline

DEFAULT_REPORT = Path("docs") / "FAULTS.md"
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


@dataclass
class Plan:
    """What one run writes and reads: its flights, topics and database (all private)."""

    run_id: str
    data: Any
    cancelled: list[dict]
    expected: int  # affected passengers
    names: dict[str, str]  # CRM topics
    events_topic: str
    recs_topic: str
    dead_topic: str
    database: str


def _plan(args: argparse.Namespace) -> Plan:
    from flink_rag.airline import dataset

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
    return Plan(
        run_id, data, cancelled, expected, names, events_topic, recs_topic, dead_topic,
        f"flink_rag_faults_{run_id}",
    )  # fmt: skip


def _new_report(args: argparse.Namespace, plan: Plan, faults: list[Fault]) -> Report:
    session = args.cluster == "session"
    report = Report(plan.expected, len(plan.cancelled), args.fault_seconds, faults)
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
    return report


def _load(plan: Plan, bootstrap: str, mongodb_uri: str) -> None:
    from flink_rag.airline import kafka_io
    from flink_rag_bench import contenders
    from flink_rag_bench.fault_scenario.documents import load_documents

    load_documents(mongodb_uri, plan.database, plan.data, contenders.DIMENSIONS)
    kafka_io.load_dataset(
        bootstrap,
        plan.data,
        topics=tuple(plan.names),
        names={
            **plan.names,
            "flight_events": plan.events_topic,
            "rebooking_recommendations": plan.recs_topic,
            "rebooking_dead_letter": plan.dead_topic,
        },
    )


def _job_options(
    args: argparse.Namespace, plan: Plan, server: Any, llm: Any, cache_dir: str
) -> dict[str, str]:
    """The job's flink-rag options: embeddings straight from the load server (the cuts are
    the LLM's), the LLM through its proxy, both stores scanned in the run's database."""
    from flink_rag_bench import contenders

    return {
        "flink-rag.embed.provider": "openai",
        "flink-rag.embed.base-url": server.base_url,
        "flink-rag.embed.model": contenders.EMBED_MODEL,
        "flink-rag.embed.cache-dir": cache_dir,
        "flink-rag.llm.base-url": f"http://{llm.listen}/v1",
        "flink-rag.llm.model": contenders.CHAT_MODEL,
        "flink-rag.llm.concurrency": str(args.concurrency),
        "flink-rag.llm.timeout": "10",
        "flink-rag.llm.cache-dir": cache_dir,
        "flink-rag.store.flights.database": plan.database,
        "flink-rag.store.flights.mode": "scan",
        "flink-rag.store.flights.timeout": "5",
        "flink-rag.store.policies.database": plan.database,
        "flink-rag.store.policies.mode": "scan",
        "flink-rag.store.policies.timeout": "5",
    }


def _sql_params(plan: Plan, bootstrap: str) -> dict[str, object]:
    from flink_rag.airline import rebooking

    return rebooking.sql_params(
        bootstrap,
        group_id=f"g{plan.run_id}",
        topics={
            "EVENT_TOPIC": plan.events_topic,
            "BOOKING_TOPIC": plan.names["bookings"],
            "CUSTOMER_TOPIC": plan.names["customers"],
            "FLIGHT_TOPIC": plan.names["flight_inventory"],
            "RECOMMENDATION_TOPIC": plan.recs_topic,
            "DEAD_LETTER_TOPIC": plan.dead_topic,
        },
    )


def _fill(report: Report, out: Any, stats: dict, started: float) -> Report:
    """The counts of the report from what the reader folded and the load server saw."""
    report.recommendations = len(out.recommendations)
    report.dead_letters = Counter(d["reason"] for d in out.dead_letters.values())
    answered = report.recommendations + sum(report.dead_letters[r] for r in AFTER_LLM)
    passengers_out = report.recommendations + sum(
        n for r, n in report.dead_letters.items() if r not in NOT_A_PASSENGER
    )
    report.lost = max(0, report.passengers - passengers_out)
    report.records = out.records
    report.tombstones = len(out.tombstones)
    report.rewritten_keys = len(out.keys_written_twice)
    report.duplicated_keys = len(out.keys_changed)
    chat = stats["requests"].get("/v1/chat/completions", {})
    report.llm_calls = int(chat.get("200", 0))
    report.extra_llm_calls = report.llm_calls - answered
    report.wall_s = time.monotonic() - started
    return report


Note = Callable[[str, "Callable[[], str] | str"], None]


def run_scenario(args: argparse.Namespace, note: Note = lambda *_: None) -> Report:
    """Run the schedule and count; raises if a fault could not be applied or undone.

    `note(title, text)` receives what explains a failed run while it can still be read: the
    report as it stands, the load server's request counts, the job's exception history (read
    before the cluster stops). A test prints them when it fails; the command ignores them."""
    from flink_rag.airline import dataset, kafka_io, rebooking
    from flink_rag.airline.events import make_event
    from flink_rag.local.session import shared_stack
    from flink_rag_bench.fault_scenario.actions import lift
    from flink_rag_bench.fault_scenario.cluster import session_cluster
    from flink_rag_bench.fault_scenario.documents import drop
    from flink_rag_bench.fault_scenario.toxiproxy import Toxiproxy
    from flink_rag_bench.server_process import LoadServerProcess

    started = time.monotonic()
    plan = _plan(args)
    faults = _schedule(args)
    report = _new_report(args, plan, faults)
    note("scenario report (as far as it got)", report.markdown)
    with contextlib.ExitStack() as resources:
        # Phase 1: the stack, the proxies, the data.
        endpoints = resources.enter_context(shared_stack(["kafka", "mongo"]))
        server = resources.enter_context(LoadServerProcess(latency_ms=20))
        toxiproxy = resources.enter_context(Toxiproxy())
        cache_dir = resources.enter_context(
            tempfile.TemporaryDirectory(prefix="flink-rag-faults-cache-")
        )
        llm = toxiproxy.proxy("llm", f"127.0.0.1:{server.port}")
        mongo = toxiproxy.proxy("mongo", urlsplit(endpoints.mongodb_uri).netloc)
        bootstrap = endpoints.kafka_bootstrap
        _load(plan, bootstrap, endpoints.mongodb_uri)
        resources.callback(_restore_env, {k: os.environ.get(k) for k in _ENV_SET})
        # The workers read the store's URI from the environment: the proxy's. A session
        # cluster's TaskManagers take this environment when they start, so it is set first.
        os.environ["MONGODB_URI"] = f"mongodb://{mongo.listen}/?directConnection=true"
        _say(started, "stack up, data loaded")
        cluster = (
            resources.enter_context(session_cluster(args.taskmanagers, args.slots, args.logs))
            if args.cluster == "session"
            else None
        )
        # Phase 2: the job.
        server.reset()
        table_options = cluster.job_options(args.parallelism) if cluster else None
        job = rebooking.submit(
            _sql_params(plan, bootstrap),
            options=_job_options(args, plan, server, llm, cache_dir),
            table_options=table_options,
        )
        job_id = str(job.get_job_id())
        if cluster is not None:
            cluster.wait_until("the job RUNNING", lambda: cluster.all_running(job_id), 300)
        _say(started, f"job {job_id} running")

        # Phase 3: waves and faults beside the job, while its outputs are read.
        def write_wave(wave: list[dict]) -> None:
            events = [make_event(f"EV-{f['flight_id']}", f) for f in wave]
            kafka_io.produce(
                bootstrap, plan.events_topic, [(None, dataset.dumps(e)) for e in events]
            )

        timeline = Timeline(
            faults=faults,
            waves=[plan.cancelled[i :: args.waves] for i in range(args.waves)],
            write_wave=write_wave,
            say=lambda what: _say(started, what),
            llm=llm, mongo=mongo, server=server, cluster=cluster, job_id=job_id,
        )  # fmt: skip
        timeline.start()
        try:
            reader = rebooking.output_reader(
                bootstrap, f"r{plan.run_id}", plan.recs_topic, plan.dead_topic
            )
            with reader as rd:
                finished = rd.wait_for(
                    lambda o: (
                        (o.total() >= plan.expected and not timeline.running())
                        or bool(timeline.errors)
                    ),
                    args.timeout,
                )
                if not finished:
                    note(
                        "timeout",
                        f"after {args.timeout:.0f} s, {rd.outputs.total()} of {plan.expected} "
                        "passengers were answered or dead-lettered: the job or its inputs "
                        "stalled (see the exception history and the TaskManager logs below)",
                    )
                rd.wait_for(lambda o: bool(timeline.errors), 10.0)
                out = rd.outputs
            if cluster is not None:
                report.restarts = cluster.restarts(job_id)
                bounds = [*timeline.restores_at, report.restarts]
                for fault, low, high in zip(faults, bounds, bounds[1:], strict=False):
                    fault.window_restores = high - low
        finally:
            # Phase 4: undo everything, whatever happened.
            timeline.finish()
            for fault in faults:
                lift(fault, llm, mongo, server)
            # Read now: the load server and the cluster are gone when a failure is reported.
            with contextlib.suppress(Exception):  # explanations must not mask the run's error
                note("load server requests (path -> status -> count)", repr(server.stats()))
            if cluster is not None:
                with contextlib.suppress(Exception):
                    note("job exception history", cluster.exception_history(job_id))
            job.cancel().result()
            drop(endpoints.mongodb_uri, plan.database)
        stats = server.stats()
    if timeline.errors:
        raise timeline.errors[0]
    _recoveries(faults, out.written_s)
    return _fill(report, out, stats, started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flink-rag faults", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
