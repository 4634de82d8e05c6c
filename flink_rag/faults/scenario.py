"""`flink-rag faults`: the rebooking job through a schedule of real faults, with a report.

The job (sql/rebooking.sql on a local mini-cluster) reads the local stack's Kafka; its LLM
calls go through toxiproxy to the deterministic OpenAI-compatible load server, and its vector
lookups go through toxiproxy to the MongoDB stand-in. Cancellations are written in waves
while the schedule runs:

    LLM cut (proxy disabled) -> MongoDB cut -> LLM latency + connection resets -> 429 storm

Reported: events, passengers, recommendations, dead letters by reason, lost passengers,
keys written twice for the same event (a table reader's duplicates), LLM calls beyond one
per answered passenger, and per fault the time from its end to the next output. Not in this
scenario (they need a session cluster and a broker restart): a TaskManager kill and a Kafka
broker restart.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_REPORT = Path("docs") / "FAULTS.md"
# Dead-letter reasons that come after the LLM call (each such passenger cost one call).
AFTER_LLM = {
    "llm_error",
    "no_recommendation",
    "not_a_candidate",
    "unknown_recommended_flight",
    "wrong_route",
    "not_later",
    "no_seat",
}


@dataclass
class Fault:
    name: str
    start_s: float
    seconds: float
    ended_at: float | None = None
    recovered_s: float | None = None  # from the fault's end to the next output record


@dataclass
class Report:
    passengers: int
    events: int
    fault_seconds: float
    faults: list[Fault]
    recommendations: int = 0
    dead_letters: Counter = field(default_factory=Counter)
    lost: int = 0
    duplicated_keys: int = 0
    llm_calls: int = 0
    extra_llm_calls: int = 0
    wall_s: float = 0.0

    def markdown(self) -> str:
        when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            "# Fault scenario: rebooking job",
            "",
            f"Run {when} with `flink-rag faults --passengers {self.passengers} "
            f"--fault-seconds {self.fault_seconds:g}` on 2 cores (local mini-cluster, "
            "parallelism 1; LLM = deterministic load server behind toxiproxy, vector store = "
            "MongoDB stand-in behind toxiproxy).",
            "",
            "| figure | value |",
            "|---|---|",
            f"| disruption events | {self.events} |",
            f"| affected passengers | {self.passengers} |",
            f"| recommendations | {self.recommendations} |",
            f"| dead letters | {sum(self.dead_letters.values())} |",
            f"| lost passengers | {self.lost} |",
            f"| keys written twice for one event | {self.duplicated_keys} |",
            f"| LLM calls | {self.llm_calls} |",
            f"| extra LLM calls | {self.extra_llm_calls} |",
            f"| wall time | {self.wall_s:.0f} s |",
            "",
            "Dead letters by reason: "
            + (", ".join(f"`{r}` {n}" for r, n in sorted(self.dead_letters.items())) or "none"),
            "",
            "| fault | starts at | lasts | next output after its end |",
            "|---|---|---|---|",
        ]
        for f in self.faults:
            rec = "-" if f.recovered_s is None else f"{f.recovered_s:.1f} s"
            lines.append(f"| {f.name} | {f.start_s:g} s | {f.seconds:g} s | {rec} |")
        lines += [
            "",
            "`-`: no output was pending when the fault ended. Extra LLM calls are requests "
            "the server answered (HTTP 200) whose answer never reached the client (a reset "
            "cut it off), so the row asked again; the answer cache cannot absorb those.",
            "",
            "Not covered here: a TaskManager kill with restore from a checkpoint and a Kafka "
            "broker restart (both need a session cluster / a restartable broker).",
            "",
        ]
        return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--passengers", type=int, default=10_000, help="affected passengers")
    parser.add_argument("--fault-seconds", type=float, default=30.0, help="length of each cut")
    parser.add_argument("--waves", type=int, default=8, help="bursts of cancellations")
    parser.add_argument("--concurrency", type=int, default=64, help="LLM calls in flight")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up after (s)")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="markdown report")


def _schedule(cut: float) -> list[Fault]:
    gap = 10.0
    faults, t = [], 5.0
    for name, seconds in (
        ("LLM endpoint cut", cut),
        ("MongoDB cut", cut),
        ("LLM latency 300 ms + resets (10 %)", 20.0),
        ("429 storm (every 2nd request)", 20.0),
    ):
        faults.append(Fault(name, t, seconds))
        t += seconds + gap
    return faults


def _apply(fault: Fault, llm: Any, mongo: Any, server: Any, on: bool) -> None:
    if fault.name.startswith("LLM endpoint"):
        llm.disable() if on else llm.enable()
    elif fault.name.startswith("MongoDB"):
        mongo.disable() if on else mongo.enable()
    elif fault.name.startswith("LLM latency"):
        if on:
            llm.toxic("latency", latency=300, jitter=100)
            llm.toxic("reset_peer", toxicity=0.1, timeout=0)
        else:
            llm.untoxic("latency_downstream")
            llm.untoxic("reset_peer_downstream")
    else:
        server.configure(faults=["429:every=2"] if on else [])


def run(args: argparse.Namespace) -> int:
    from flink_rag.airline import dataset, kafka_io, rebooking
    from flink_rag.airline.events import make_event
    from flink_rag.faults.documents import drop, load_documents
    from flink_rag.faults.toxiproxy import Toxiproxy
    from flink_rag.local.session import shared_stack
    from flink_rag_bench import contenders
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
    faults = _schedule(args.fault_seconds)
    report = Report(expected, len(cancelled), args.fault_seconds, faults)
    with (
        shared_stack(["kafka", "mongo"]) as endpoints,
        LoadServerProcess(latency_ms=20) as server,
        Toxiproxy() as toxiproxy,
        tempfile.TemporaryDirectory(prefix="flink-rag-faults-cache-") as cache_dir,
    ):
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
        os.environ.setdefault(contenders.API_KEY_ENV, contenders.DUMMY_API_KEY)
        # The workers read the store's URI from the environment: the proxy's.
        os.environ["MONGODB_URI"] = f"mongodb://{mongo.listen}/?directConnection=true"
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
        job = rebooking.submit(params, options=options)
        t0 = time.monotonic()
        last_output = [t0]
        stop = threading.Event()

        def run_schedule() -> None:
            waves = [cancelled[i :: args.waves] for i in range(args.waves)]
            span = faults[-1].start_s + faults[-1].seconds
            plan: list[tuple[float, str, Any]] = sorted(
                [(span * n / args.waves, "wave", w) for n, w in enumerate(waves)]
                + [(f.start_s, "on", f) for f in faults]
                + [(f.start_s + f.seconds, "off", f) for f in faults],
                key=lambda p: p[0],
            )
            for at, kind, what in plan:
                while time.monotonic() - t0 < at:
                    if stop.wait(0.2):
                        return
                if kind == "wave":
                    events = [make_event(f"EV-{f['flight_id']}", f) for f in what]
                    kafka_io.produce(
                        bootstrap, events_topic, [(None, dataset.dumps(e)) for e in events]
                    )
                else:
                    _apply(what, llm, mongo, server, kind == "on")
                    if kind == "off":
                        what.ended_at = time.monotonic()

        def on_record(topic: str, key: str, value: dict | None) -> None:
            now = time.monotonic()
            last_output[0] = now
            for f in faults:
                if f.ended_at is not None and f.recovered_s is None:
                    f.recovered_s = now - f.ended_at

        schedule = threading.Thread(target=run_schedule, daemon=True)
        schedule.start()
        try:
            with rebooking.OutputReader(bootstrap, f"r{run_id}", recs_topic, dead_topic) as rd:
                rd.wait_for(
                    lambda o: o.total() >= expected and not schedule.is_alive(),
                    args.timeout,
                    on_record,
                )
                rd.wait_for(lambda o: False, 10.0, on_record)
                out = rd.outputs
        finally:
            stop.set()
            schedule.join(timeout=30)
            for fault in faults:
                _apply(fault, llm, mongo, server, False)
            job.cancel().result()
            drop(endpoints.mongodb_uri, database)
        stats = server.stats()
    report.recommendations = len(out.recommendations)
    report.dead_letters = Counter(d["reason"] for d in out.dead_letters.values())
    answered = report.recommendations + sum(report.dead_letters[r] for r in AFTER_LLM)
    passengers_out = report.recommendations + sum(
        n for r, n in report.dead_letters.items() if r not in ("bad_json", "bad_crm_record")
    )
    report.lost = max(0, expected - passengers_out)
    report.duplicated_keys = len(out.keys_written_twice)
    chat = stats["requests"].get("/v1/chat/completions", {})
    report.llm_calls = int(chat.get("200", 0))
    report.extra_llm_calls = report.llm_calls - answered
    report.wall_s = time.monotonic() - started
    text = report.markdown()
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text, encoding="utf-8")
    print(text)
    ok = report.lost == 0 and report.duplicated_keys == 0 and report.extra_llm_calls == 0
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flink-rag faults", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
