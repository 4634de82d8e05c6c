"""The airline rebooking demo: data -> Kafka -> streaming ingestion (Flink SQL -> Kafka ->
Kafka Connect -> MongoDB) -> rebooking job -> a cancellation -> recommendations printed as
they arrive -> clean exit with a summary.

Local defaults (Kafka, MongoDB stand-in, MiniLM embeddings, the local LLM); with
OPENAI_API_KEY, MONGODB_URI or KAFKA_BOOTSTRAP_SERVERS set, the same run uses those.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flink_rag.airline import checks, dataset, ingestion, kafka_io, rebooking
from flink_rag.airline.events import make_event

DEFAULT_TIMEOUT_S = 900.0
SETTLE_S = 20.0  # after the job runs: time to read the CRM tables before the event
# Deterministic, short answers: a replay after a restart asks the same question and, with
# the response cache, gets the same answer.
JOB_OPTIONS = {"flink-rag.llm.temperature": "0", "flink-rag.llm.max-tokens": "200"}
# A Python function's results leave its worker when its bundle ends, and a bundle is at most
# this many rows: the passengers' answers leave one by one instead of all with the last. The
# local llama.cpp server answers one request at a time, so a bigger bundle (more calls in
# flight) would only make every answer wait for the slowest; with a provider that serves
# calls in parallel, size it to that parallelism (BENCHMARKS.md, "A burst of messages").
FLINK_SETTINGS = {
    "python.fn-execution.bundle.size": "1",
    "python.fn-execution.arrow.batch.size": "1",
}


@dataclass
class Summary:
    flight_id: str
    affected: int
    grounded: int = 0
    dead_lettered: int = 0
    not_grounded: list[str] = field(default_factory=list)  # recommendations failing checks
    unreadable: list[str] = field(default_factory=list)  # reasons that are not the sentence
    duplicates: list[str] = field(default_factory=list)  # keys written twice for the event
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    pipeline_s: float = 0.0  # from the injected event to the last output
    first_s: float | None = None  # from the injected event to the first output of ours
    ingested: dict[str, int] = field(default_factory=dict)  # store -> documents in MongoDB
    others: int = 0  # outputs of the event for bookings of other data sets on the stack

    @property
    def complete(self) -> bool:
        return (
            self.grounded + self.dead_lettered == self.affected
            and not self.not_grounded
            and not self.unreadable
            and not self.duplicates
        )


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


def _say(msg: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


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


def _print_output(topic: str, key: str, value: dict | None, event_id: str) -> None:
    if value is None:
        print(f"  retracted {key}", flush=True)
    elif value.get("event_id") != event_id:
        return  # an earlier run's record
    elif topic == rebooking.RECOMMENDATION_TOPIC:
        print(
            f"  passenger {key}: {value.get('reason')} Compensation "
            f"{value.get('compensation')}, priority {value.get('priority')}; alternatives: "
            f"{', '.join(value.get('alternatives') or []) or 'none'}.",
            flush=True,
        )
    else:
        detail = value.get("error") or (value.get("raw_answer") or "")[:100]
        print(f"  DEAD LETTER {key}: {value.get('reason')} {detail}", flush=True)


def _submit(
    params: dict[str, object], options: dict[str, str] | None, sql_client: bool, say: Callable
) -> Any:
    """The rebooking job on the mini-cluster, or with sql-client.sh on the session cluster."""
    say("starting the rebooking job")
    options = {**JOB_OPTIONS, **(options or {})}
    if not sql_client:
        return rebooking.submit(params, options=options, table_options=FLINK_SETTINGS)
    from flink_rag.jobs import sql_client as client

    say("submitting it with sql-client.sh to the session cluster")
    job = client.submit(rebooking.SQL_FILE, params, options=options)
    say(f"job {job.job_id} submitted from {job.script}")
    return job


def _of_event(
    out: rebooking.Outputs, event_id: str, booked: set[str]
) -> tuple[list[dict], list[dict], int]:
    """The recommendations and dead letters of one event for this data set's passengers, and
    how many outputs of the event went to other passengers. The topics are tables shared by
    everything that ran on the stack: bookings of another seed on the cancelled flight are
    rebooked too, and are not this run's to check."""
    recs = [v for v in out.recommendations.values() if v["event_id"] == event_id]
    dead = [v for v in out.dead_letters.values() if v.get("event_id") == event_id]
    ours_recs = [v for v in recs if v["booking_id"] in booked]
    ours_dead = [v for v in dead if v.get("booking_id") in booked]
    return ours_recs, ours_dead, len(recs) + len(dead) - len(ours_recs) - len(ours_dead)


def _cancel_and_collect(
    kafka_bootstrap: str,
    data: dataset.Dataset,
    flight: dict,
    summary: Summary,
    run_id: str,
    timeout_s: float,
    say: Callable[[str], None],
) -> tuple[list[dict], list[dict]]:
    """Cancel `flight` and read the answers of its passengers until all are in (or the
    timeout); fills the summary's timing and duplicates."""
    event = make_event(f"DEMO-{run_id}", flight, reason="technical fault on the aircraft")
    event_id = event["event_id"]
    with rebooking.output_reader(kafka_bootstrap, f"flink-rag-demo-reader-{run_id}") as reader:
        injected = time.monotonic()
        kafka_io.produce(
            kafka_bootstrap, "flight_events", [(flight["flight_id"], dataset.dumps(event))]
        )
        say(
            f"cancelled {flight['flight_id']} ({flight['origin']}->{flight['destination']}, "
            f"{flight['departure_time']}): {summary.affected} passengers affected"
        )
        booked = {b["booking_id"] for b in data.bookings_on(flight["flight_id"])}
        answered: set[str] = set()  # output keys of this event, as printed

        def done(out: rebooking.Outputs) -> bool:
            recs, dead, _ = _of_event(out, event_id, booked)
            return len(recs) + len(dead) >= summary.affected

        def on_record(topic: str, key: str, value: dict | None) -> None:
            if value is not None and value.get("event_id") != event_id:
                return  # an earlier run's record
            if value is not None and value.get("booking_id") not in booked:
                return  # a passenger of other data on the stack
            if value is None and event_id not in key and key not in booked:
                return
            if summary.first_s is None:
                summary.first_s = time.monotonic() - injected
            _print_output(topic, key, value, event_id)
            if value is None:
                answered.discard(key)
            else:
                answered.add(key)
            say(f"progress: {len(answered)}/{summary.affected} passengers answered")

        reader.wait_for(done, timeout_s, on_record)
        summary.pipeline_s = time.monotonic() - injected
        recs, dead, summary.others = _of_event(reader.outputs, event_id, booked)
        if summary.others:
            say(
                f"{summary.others} more outputs for this cancellation went to passengers of "
                "other data on the local stack (another seed or an earlier run); not checked"
            )
        ours = {r["booking_id"] for r in recs} | {
            f"booking@{b['booking_id']}@{event_id}" for b in data.bookings_on(flight["flight_id"])
        }
        summary.duplicates = [
            key
            for key, written_for in reader.outputs.keys_written_twice
            if written_for == event_id and key in ours
        ]
    return recs, dead


def _check(summary: Summary, recs: list[dict], dead: list[dict], data: dataset.Dataset) -> None:
    """Grounded answers and dead-letter reasons into the summary."""
    summary.grounded = len(recs)
    summary.dead_lettered = len(dead)
    for rec in recs:
        problems = checks.recommendation_problems(rec, data)
        if problems:
            summary.not_grounded.append(f"{rec['booking_id']}: {'; '.join(problems)}")
        unreadable = checks.reason_problem(rec)
        if unreadable:
            summary.unreadable.append(f"{rec['booking_id']}: {unreadable}")
    for d in dead:
        summary.dead_letter_reasons[d["reason"]] = (
            summary.dead_letter_reasons.get(d["reason"], 0) + 1
        )


def run_scenario(
    kafka_bootstrap: str,
    mongodb_uri: str,
    data: dataset.Dataset,
    flight: dict,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    skip_ingest: bool = False,
    say: Callable[[str], None] = _say,
    options: dict[str, str] | None = None,
    sql_client: bool = False,
) -> Summary:
    """Load, start ingestion, start the job, cancel `flight`, collect outputs; both jobs are
    cancelled before returning. The ingestion job keeps running next to the rebooking job,
    so seat changes in flight_inventory reach MongoDB while recommendations are made."""
    started = time.monotonic()
    counts = kafka_io.load_dataset(kafka_bootstrap, data)
    say(f"loaded Kafka topics: {counts}")
    ingest_job = None
    ingested: dict[str, int] = {}
    if not skip_ingest:
        ingest_job, ingested = _start_ingestion(kafka_bootstrap, mongodb_uri, data, say, options)

    run_id = uuid.uuid4().hex[:8]
    params = rebooking.sql_params(
        kafka_bootstrap,
        group_id=f"flink-rag-demo-{run_id}",
        events_startup_mode="timestamp",
        events_startup_timestamp=int(time.time() * 1000),
    )
    job = _submit(params, options, sql_client, say)
    summary = Summary(flight["flight_id"], len(data.bookings_on(flight["flight_id"])))
    summary.ingested = ingested
    try:
        _wait_running(job, timeout_s)
        time.sleep(SETTLE_S)
        recs, dead = _cancel_and_collect(
            kafka_bootstrap, data, flight, summary, run_id, timeout_s, say
        )
    finally:
        say("cancelling the rebooking job")
        job.cancel().result()
        if ingest_job is not None:
            say("cancelling the ingestion job")
            ingest_job.cancel().result()
    _check(summary, recs, dead, data)
    summary.elapsed_s = time.monotonic() - started
    return summary


def _start_ingestion(
    kafka_bootstrap: str,
    mongodb_uri: str,
    data: dataset.Dataset,
    say: Callable[[str], None],
    options: dict[str, str] | None,
) -> tuple[Any, dict[str, int]]:
    """Sinks (Kafka Connect), the streaming ingestion job, caught-up collections, indexes."""
    from pymongo import MongoClient

    from flink_rag.local.connect import connect_url

    minimum = {
        "policies": len(data.policies),  # at least one chunk per section
        "flights": sum(1 for f in data.flights if f["status"] == "SCHEDULED"),
    }
    settings = {store: ingestion.store_settings(store) for store in ingestion.STORES}
    for store, profile in settings.items():
        ingestion.create_sink(store, connect_url(), profile)
        say(f"sink connector for {store} is RUNNING ({store}_vectors -> MongoDB {store})")
    from flink_rag.stores import sink as store_sink

    before = {
        store: store_sink.topic_size(kafka_bootstrap, store_sink.vectors_topic(store)) or 0
        for store in settings
    }
    job = ingestion.submit(kafka_bootstrap, options=options)
    say(f"ingestion job {job.get_job_id()} started (policies, flights)")
    ingested: dict[str, int] = {}
    client: Any = MongoClient(mongodb_uri, serverSelectionTimeoutMS=10_000)
    try:
        for store, profile in settings.items():
            coll = client[profile.database][profile.collection]
            caught = ingestion.wait_caught_up(
                coll, kafka_bootstrap, store, minimum[store], before[store]
            )
            dims = ingestion.create_index(coll, profile, ingestion.INDEX_READY_TIMEOUT_S)
            ingested[store] = caught.documents
            say(f"{store}: {caught.documents} documents in MongoDB ({dims} dims), index READY")
    except BaseException:
        job.cancel().result()
        raise
    finally:
        client.close()
    return job, ingested


def _wait_running(job, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = job.get_job_status().result().name
        if status == "RUNNING":
            return
        if status in ("FAILED", "CANCELED", "FINISHED"):
            raise RuntimeError(f"the rebooking job is {status}; see the Flink log above")
        time.sleep(1.0)
    raise TimeoutError(f"the rebooking job did not reach RUNNING within {timeout_s:g} s")


def run(args: argparse.Namespace) -> int:
    from flink_rag.local.endpoints import endpoints
    from flink_rag.local.session import shared_stack
    from flink_rag.local.stack import Stack

    t0 = time.monotonic()
    names = ["kafka", "mongo", "connect"] + ([] if os.environ.get("OPENAI_API_KEY") else ["llm"])
    names += ["flink"] if args.sql_client else []
    _say(f"starting the local stack ({', '.join(names)}; services set in the env are used as is)")
    if args.keep_running:
        stack = Stack()
        for line in stack.up(names, owner="cli"):  # as `flink-rag local up`: stays up
            _say(line)
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
        _say(
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
    _say(
        f"summary: {summary.affected} affected passengers on {summary.flight_id}: "
        f"{summary.grounded} grounded recommendations, {summary.dead_lettered} dead-lettered "
        f"{summary.dead_letter_reasons or ''}; first answer {summary.first_s or 0:.1f} s and last "
        f"{summary.pipeline_s:.1f} s after the cancellation, {summary.elapsed_s:.1f} s after "
        f"setup, {time.monotonic() - t0:.1f} s total"
    )
    for problem in summary.not_grounded:
        _say(f"NOT GROUNDED {problem}")
    for problem in summary.unreadable:
        _say(f"UNREADABLE {problem}")
    if summary.duplicates:
        _say(f"DUPLICATED keys: {', '.join(summary.duplicates)}")
    return 0 if summary.complete else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flink-rag demo", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
