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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flink_rag_bench.fault_scenario.plan import Plan, job_options, load, make_plan, sql_params
from flink_rag_bench.fault_scenario.report import Fault, Report, fill, recoveries
from flink_rag_bench.fault_scenario.timeline import FAULTS, Timeline, schedule

DEFAULT_REPORT = Path("docs") / "FAULTS.md"


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


def run(args: argparse.Namespace) -> int:
    report = run_scenario(args)
    text = report.markdown()
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text, encoding="utf-8")
    print(text)
    return 0 if report.ok() else 1


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


Note = Callable[[str, "Callable[[], str] | str"], None]


def run_scenario(args: argparse.Namespace, note: Note = lambda *_: None) -> Report:
    """Run the schedule and count; raises if a fault could not be applied or undone.

    `note(title, text)` receives what explains a failed run while it can still be read: the
    report as it stands, the load server's request counts, the job's exception history (read
    before the cluster stops). A test prints them when it fails; the command ignores them."""
    started = time.monotonic()
    plan = make_plan(args)
    faults = schedule(args.faults, args.fault_seconds, args.cluster == "session")
    report = _new_report(args, plan, faults)
    note("scenario report (as far as it got)", report.markdown)
    with contextlib.ExitStack() as resources:
        rig = _bring_up(resources, args, plan, started)
        job, job_id = _start_job(rig, args, plan, started)
        timeline = _timeline(rig, args, plan, faults, job_id, started)
        timeline.start()
        try:
            out = _read_outputs(rig, args, plan, timeline, note)
            if rig.cluster is not None:
                _count_restarts(rig.cluster, job_id, report, faults, timeline)
        finally:
            _undo(rig, faults, timeline, job, job_id, plan, note)
        stats = rig.server.stats()
    if timeline.errors:
        raise timeline.errors[0]
    recoveries(faults, out.written_s)
    return fill(report, out, stats, time.monotonic() - started)


@dataclass
class Rig:
    """What phase 1 brings up around the job; the run's ExitStack takes it down."""

    endpoints: Any  # the local stack's Kafka and MongoDB
    server: Any  # the deterministic OpenAI-compatible load server
    llm: Any  # toxiproxy's proxy to the load server
    mongo: Any  # toxiproxy's proxy to MongoDB
    cache_dir: str
    cluster: Any  # the private session cluster, or None on a mini-cluster

    @property
    def bootstrap(self) -> str:
        return str(self.endpoints.kafka_bootstrap)


# -- phase 1: the stack, the proxies, the data ------------------------------------------------


def _bring_up(
    resources: contextlib.ExitStack, args: argparse.Namespace, plan: Plan, started: float
) -> Rig:
    from flink_rag.local.session import shared_stack
    from flink_rag_bench.fault_scenario.cluster import session_cluster
    from flink_rag_bench.fault_scenario.toxiproxy import Toxiproxy
    from flink_rag_bench.server_process import LoadServerProcess

    endpoints = resources.enter_context(shared_stack(["kafka", "mongo"]))
    server = resources.enter_context(LoadServerProcess(latency_ms=20))
    toxiproxy = resources.enter_context(Toxiproxy())
    cache_dir = resources.enter_context(
        tempfile.TemporaryDirectory(prefix="flink-rag-faults-cache-")
    )
    llm = toxiproxy.proxy("llm", f"127.0.0.1:{server.port}")
    mongo = toxiproxy.proxy("mongo", urlsplit(endpoints.mongodb_uri).netloc)
    load(plan, endpoints.kafka_bootstrap, endpoints.mongodb_uri)
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
    return Rig(endpoints, server, llm, mongo, cache_dir, cluster)


# -- phase 2: the job -------------------------------------------------------------------------


def _start_job(rig: Rig, args: argparse.Namespace, plan: Plan, started: float) -> tuple[Any, str]:
    from flink_rag.airline import rebooking

    rig.server.reset()
    cluster = rig.cluster
    table_options = cluster.job_options(args.parallelism) if cluster else None
    job = rebooking.submit(
        sql_params(plan, rig.bootstrap),
        options=job_options(args, plan, rig.server, rig.llm, rig.cache_dir),
        table_options=table_options,
    )
    job_id = str(job.get_job_id())
    if cluster is not None:
        cluster.wait_until("the job RUNNING", lambda: cluster.all_running(job_id), 300)
    _say(started, f"job {job_id} running")
    return job, job_id


# -- phase 3: waves and faults beside the job, while its outputs are read ---------------------


def _timeline(
    rig: Rig,
    args: argparse.Namespace,
    plan: Plan,
    faults: list[Fault],
    job_id: str,
    started: float,
) -> Timeline:
    from flink_rag.airline import dataset, kafka_io
    from flink_rag.airline.events import make_event

    def write_wave(wave: list[dict]) -> None:
        events = [make_event(f"EV-{f['flight_id']}", f) for f in wave]
        kafka_io.produce(
            rig.bootstrap, plan.events_topic, [(None, dataset.dumps(e)) for e in events]
        )

    return Timeline(
        faults=faults,
        waves=[plan.cancelled[i :: args.waves] for i in range(args.waves)],
        write_wave=write_wave,
        say=lambda what: _say(started, what),
        llm=rig.llm, mongo=rig.mongo, server=rig.server, cluster=rig.cluster, job_id=job_id,
    )  # fmt: skip


def _read_outputs(
    rig: Rig, args: argparse.Namespace, plan: Plan, timeline: Timeline, note: Note
) -> Any:
    """The outputs, once every passenger is answered and the schedule is over (or a fault
    failed, or the timeout)."""
    from flink_rag.airline import rebooking

    reader = rebooking.output_reader(
        rig.bootstrap, f"r{plan.run_id}", plan.recs_topic, plan.dead_topic
    )
    with reader as rd:
        finished = rd.wait_for(
            lambda o: (
                (o.total() >= plan.expected and not timeline.running()) or bool(timeline.errors)
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
        return rd.outputs


def _count_restarts(
    cluster: Any, job_id: str, report: Report, faults: list[Fault], timeline: Timeline
) -> None:
    """The job's restarts, in all and in each fault's window."""
    report.restarts = cluster.restarts(job_id)
    bounds = [*timeline.restores_at, report.restarts]
    for fault, low, high in zip(faults, bounds, bounds[1:], strict=False):
        fault.window_restores = high - low


# -- phase 4: undo everything, whatever happened ----------------------------------------------


def _undo(
    rig: Rig,
    faults: list[Fault],
    timeline: Timeline,
    job: Any,
    job_id: str,
    plan: Plan,
    note: Note,
) -> None:
    from flink_rag_bench.fault_scenario.actions import lift
    from flink_rag_bench.fault_scenario.documents import drop

    timeline.finish()
    for fault in faults:
        lift(fault, rig.llm, rig.mongo, rig.server)
    # Read now: the load server and the cluster are gone when a failure is reported.
    with contextlib.suppress(Exception):  # explanations must not mask the run's error
        note("load server requests (path -> status -> count)", repr(rig.server.stats()))
    if rig.cluster is not None:
        with contextlib.suppress(Exception):
            note("job exception history", rig.cluster.exception_history(job_id))
    job.cancel().result()
    drop(rig.endpoints.mongodb_uri, plan.database)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flink-rag faults", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
