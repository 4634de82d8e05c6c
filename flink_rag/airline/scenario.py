"""The demo's scenario, in the order it runs: load the topics, start ingestion, start the
rebooking job, send the cancellation, collect the answers, check them. Both jobs are cancelled
before it returns. `flink-rag demo` (demo.py) runs it on the local stack, the integration tests
on theirs; what it prints is the demo's output.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flink_rag.airline import checks, chunking, dataset, ingestion, kafka_io, rebooking
from flink_rag.airline.events import make_event
from flink_rag.jobs.bundles import bundle_settings

DEFAULT_TIMEOUT_S = 900.0
SETTLE_S = 20.0  # after the job runs: time to read the CRM tables before the event
# Deterministic, short answers: a replay after a restart asks the same question and, with
# the response cache, gets the same answer.
JOB_OPTIONS = {"flink-rag.llm.temperature": "0", "flink-rag.llm.max-tokens": "200"}
# A Python function's results leave its worker when its bundle ends: with bundles of one row
# (finished by the timer every 100 ms) the passengers' answers leave one by one instead of all
# with the last. The local llama.cpp server answers one request at a time, so more calls in
# flight would only make every answer wait for the slowest; with a provider that serves calls
# in parallel, size the bundle to that parallelism (BENCHMARKS.md, "A burst of messages").
FLINK_SETTINGS = bundle_settings(1)

Say = Callable[[str], None]


def announce(msg: str) -> None:
    """One line of the demo's progress, with the time of day."""
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


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


def run_scenario(
    kafka_bootstrap: str,
    mongodb_uri: str,
    data: dataset.Dataset,
    flight: dict,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    skip_ingest: bool = False,
    say: Say = announce,
    options: dict[str, str] | None = None,
    sql_client: bool = False,
) -> Summary:
    """Load, start ingestion, start the job, cancel `flight`, collect outputs; both jobs are
    cancelled before returning. The ingestion job keeps running next to the rebooking job,
    so seat changes in flight_inventory reach MongoDB while recommendations are made."""
    started = time.monotonic()
    _load_topics(kafka_bootstrap, data, say)
    ingest_job = None
    ingested: dict[str, int] = {}
    if not skip_ingest:  # phase 2 is ingestion.start: sinks, job, caught-up collections, indexes
        ingest_job, ingested = ingestion.start(kafka_bootstrap, mongodb_uri, data, say, options)
    run_id = uuid.uuid4().hex[:8]
    job = _start_job(kafka_bootstrap, run_id, options, sql_client, say)
    summary = Summary(flight["flight_id"], len(data.bookings_on(flight["flight_id"])))
    summary.ingested = ingested
    try:
        _wait_running(job, timeout_s)
        time.sleep(SETTLE_S)
        recs, dead = _cancel_and_collect(
            kafka_bootstrap, data, flight, summary, run_id, timeout_s, say
        )
    finally:
        _stop_jobs(job, ingest_job, say)
    _check(summary, recs, dead, data)
    summary.elapsed_s = time.monotonic() - started
    return summary


# -- phase 1: the data set into Kafka ---------------------------------------------------------


def _load_topics(kafka_bootstrap: str, data: dataset.Dataset, say: Say) -> None:
    counts = kafka_io.load_dataset(kafka_bootstrap, data)
    say(f"loaded Kafka topics: {counts}")


# -- phase 3: the rebooking job --------------------------------------------------------------


def _start_job(
    kafka_bootstrap: str, run_id: str, options: dict[str, str] | None, sql_client: bool, say: Say
) -> Any:
    """The job, reading flight events from now on with a consumer group of its own."""
    params = rebooking.sql_params(
        kafka_bootstrap,
        group_id=f"flink-rag-demo-{run_id}",
        events_startup_mode="timestamp",
        events_startup_timestamp=int(time.time() * 1000),
    )
    return _submit(params, options, sql_client, say)


def _submit(
    params: dict[str, object], options: dict[str, str] | None, sql_client: bool, say: Say
) -> Any:
    """The rebooking job on the mini-cluster, or with sql-client.sh on the session cluster."""
    say("starting the rebooking job")
    options = {**JOB_OPTIONS, **(options or {})}
    if not sql_client:
        return rebooking.submit(params, options=options, table_options=FLINK_SETTINGS)
    from flink_rag.jobs import sql_client as client

    say("submitting it with sql-client.sh to the session cluster")
    job = client.submit(rebooking.SQL_FILE, params, options=options, settings=FLINK_SETTINGS)
    say(f"job {job.job_id} submitted from {job.script}")
    return job


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


# -- phase 4: the cancellation and its answers ------------------------------------------------


def _cancel_and_collect(
    kafka_bootstrap: str,
    data: dataset.Dataset,
    flight: dict,
    summary: Summary,
    run_id: str,
    timeout_s: float,
    say: Say,
) -> tuple[list[dict], list[dict]]:
    """Cancel `flight` and read the answers of its passengers until all are in (or the
    timeout); fills the summary's timing and duplicates."""
    event = make_event(f"DEMO-{run_id}", flight, reason="technical fault on the aircraft")
    event_id = event["event_id"]
    booked = {b["booking_id"] for b in data.bookings_on(flight["flight_id"])}
    # The reader is positioned before the event is written: no answer can be missed.
    with rebooking.output_reader(kafka_bootstrap, f"flink-rag-demo-reader-{run_id}") as reader:
        injected = _send_cancellation(kafka_bootstrap, flight, event, summary, say)
        _collect(reader, event_id, booked, summary, timeout_s, say, injected, data.policies)
        summary.pipeline_s = time.monotonic() - injected
        return _answers(reader.outputs, data, flight, event_id, booked, summary, say)


def _send_cancellation(
    kafka_bootstrap: str, flight: dict, event: dict, summary: Summary, say: Say
) -> float:
    """Write the cancellation to flight_events; when it was written (time.monotonic)."""
    injected = time.monotonic()
    kafka_io.produce(
        kafka_bootstrap, "flight_events", [(flight["flight_id"], dataset.dumps(event))]
    )
    say(
        f"cancelled {flight['flight_id']} ({flight['origin']}->{flight['destination']}, "
        f"{flight['departure_time']}): {summary.affected} passengers affected"
    )
    return injected


def _collect(
    reader: Any,
    event_id: str,
    booked: set[str],
    summary: Summary,
    timeout_s: float,
    say: Say,
    injected: float,
    policies: list[dict],
) -> None:
    """Print this data set's answers to the event as they arrive, until every passenger has
    one (or the timeout)."""
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
        _print_output(topic, key, value, event_id, policies)
        if value is None:
            answered.discard(key)
        else:
            answered.add(key)
        say(f"progress: {len(answered)}/{summary.affected} passengers answered")

    reader.wait_for(done, timeout_s, on_record)


def _answers(
    out: rebooking.Outputs,
    data: dataset.Dataset,
    flight: dict,
    event_id: str,
    booked: set[str],
    summary: Summary,
    say: Say,
) -> tuple[list[dict], list[dict]]:
    """This data set's recommendations and dead letters of the event; counts the outputs of
    other data and the keys written twice into the summary."""
    recs, dead, summary.others = _of_event(out, event_id, booked)
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
        for key, written_for in out.keys_written_twice
        if written_for == event_id and key in ours
    ]
    return recs, dead


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


def _print_output(
    topic: str, key: str, value: dict | None, event_id: str, policies: list[dict]
) -> None:
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
        for line in citation_lines(value, policies):
            print(line, flush=True)
    else:
        detail = value.get("error") or (value.get("raw_answer") or "")[:100]
        print(f"  DEAD LETTER {key}: {value.get('reason')} {detail}", flush=True)


def citation_lines(rec: dict, policies: list[dict]) -> list[str]:
    """One line per policy passage a recommendation cites: its id, the score its lookup gave
    it, the section it comes from and the start of that section's text."""
    provenance = rec.get("provenance") or {}
    scores = dict(zip(provenance.get("ids") or [], provenance.get("scores") or [], strict=False))
    lines = []
    for cited in rec.get("citations") or []:
        section = chunking.section_of(str(cited), policies)
        score = scores.get(cited)
        shown = f"(score {score:.3f}) " if isinstance(score, float) else ""
        if section is None:
            lines.append(f"    cites [{cited}] {shown}not a section of the policy documents")
            continue
        where = " / ".join(dict.fromkeys((section["title"], section["section"])))
        text = " ".join(section["text"].split())
        snippet = text if len(text) <= 70 else text[:70].rsplit(" ", 1)[0] + " ..."
        lines.append(f'    cites [{cited}] {shown}{where}: "{snippet}"')
    return lines or ["    cites no policy passage"]


# -- phase 5: both jobs stopped, whatever happened --------------------------------------------


def _stop_jobs(job: Any, ingest_job: Any, say: Say) -> None:
    say("cancelling the rebooking job")
    job.cancel().result()
    if ingest_job is not None:
        say("cancelling the ingestion job")
        ingest_job.cancel().result()


# -- phase 6: the checks ----------------------------------------------------------------------


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
