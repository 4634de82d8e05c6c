"""A burst of chat messages through LLM_COMPLETE: when do the first and the last answer leave?

The README's customer-support job (a Kafka topic of questions, `LLM_COMPLETE(question, ...)`,
a Kafka topic of answers) on the local stack's real LLM. The job starts and answers one
warm-up message (Python worker start, function open), then N messages are written at once
and each answer's Kafka timestamp (the time the sink wrote it) is read back.

A Python function's results leave its worker when its bundle ends (Beam buffers them until
then), so `python.fn-execution.bundle.size` decides how answers leave: with PyFlink's default
(100 000 rows, or 1 s of arrival) a burst is one bundle and every answer waits for the last;
with a bundle of k rows they leave k at a time. k is also the most calls of one Python
operator in flight, so it should be the provider's useful concurrency: 1 for the local
llama.cpp server, which answers one request at a time.

    python -m flink_rag_bench.burst                      # 45 messages, default vs 1 vs 4
    python -m flink_rag_bench.burst --messages 10 --bundle 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from dataclasses import dataclass

from flink_rag.jobs.bundles import bundle_settings

DEFAULT = "default"
QUESTIONS = (
    "How do I change the name on my booking?",
    "Can I bring a second bag on a flight to Lisbon?",
    "My flight was cancelled; am I owed compensation?",
    "How early should I be at the airport for an international flight?",
    "Can I choose my seat after check-in?",
    "What happens to my connection if the first flight is delayed?",
    "How do I request wheelchair assistance?",
    "Can I get a refund for an unused return ticket?",
    "Is there wifi on board short flights?",
)
JOB_SQL = """
CREATE TEMPORARY TABLE messages (id STRING, question STRING) WITH (
    'connector' = 'kafka', 'topic' = '{inp}', 'properties.bootstrap.servers' = '{bs}',
    'scan.startup.mode' = 'earliest-offset', 'format' = 'json');
CREATE TEMPORARY TABLE answers (id STRING, answer STRING, error STRING) WITH (
    'connector' = 'kafka', 'topic' = '{out}', 'properties.bootstrap.servers' = '{bs}',
    'key.format' = 'raw', 'key.fields' = 'id', 'value.format' = 'json');
INSERT INTO answers
SELECT id, r.text, r.error
FROM (SELECT id, LLM_COMPLETE(question, 'Answer in one sentence.') AS r FROM messages) AS t;
"""


@dataclass
class BurstResult:
    bundle: str
    messages: int
    answered: int
    errors: int
    warmup_s: float  # job submitted -> warm-up answer written
    arrivals_s: list[float]  # each answer's write time after the burst was written, sorted

    @property
    def groups(self) -> int:
        """How many separate moments answers left at (writes more than 0.5 s apart)."""
        gaps = [b - a for a, b in zip(self.arrivals_s, self.arrivals_s[1:], strict=False)]
        return 1 + sum(1 for g in gaps if g > 0.5) if self.arrivals_s else 0

    def row(self) -> str:
        a = self.arrivals_s
        first, last = (a[0], a[-1]) if a else (float("nan"), float("nan"))
        median = statistics.median(a) if a else float("nan")
        return (
            f"| {self.bundle} | {self.messages} | {self.answered} | {self.errors} | "
            f"{first:.1f} | {median:.1f} | {last:.1f} | {self.groups} | {self.warmup_s:.1f} |"
        )


HEADER = (
    "| bundle.size | messages | answered | errors | first s | median s | last s "
    "| groups | warm-up s |\n|---|---|---|---|---|---|---|---|---|"
)


def run_burst(bootstrap: str, llm_base_url: str, messages: int, bundle: str) -> BurstResult:
    """One job with bundles of `bundle` rows (`bundle_settings`; DEFAULT: PyFlink's own)."""
    from flink_rag.airline import kafka_io
    from flink_rag.jobs import minicluster
    from flink_rag.jobs.output import OutputReader
    from flink_rag.sql.runner import execute_statements

    run = uuid.uuid4().hex[:8]
    inp, out = f"burst{run}_messages", f"burst{run}_answers"
    kafka_io.ensure_topics(
        bootstrap, [kafka_io.TopicSpec(inp, compact=False), kafka_io.TopicSpec(out, False)]
    )
    table_options = {} if bundle == DEFAULT else bundle_settings(int(bundle))
    options = {
        "flink-rag.llm.base-url": llm_base_url,
        "flink-rag.llm.model": "smollm2",
        "flink-rag.llm.max-tokens": "48",
        "flink-rag.llm.cache-dir": "off",  # every message is a call, none a replay
    }
    t_env = minicluster.table_env(options=table_options)
    minicluster.run_file(t_env, "functions.sql", {}, options)
    statements = [s.strip() for s in JOB_SQL.format(inp=inp, out=out, bs=bootstrap).split(";")]
    submitted = time.time()
    job = execute_statements(t_env, [s for s in statements if s]).get_job_client()
    try:
        with OutputReader(bootstrap, f"burst-reader-{run}", out, f"{out}_none") as reader:
            kafka_io.produce(bootstrap, inp, [("warmup", _message("warmup", 0))])
            reader.wait_for(lambda o: "warmup" in o.recommendations, 600.0)
            warmup_s = (reader.outputs.written_s or [time.time()])[-1] - submitted
            sent = time.time()
            kafka_io.produce(
                bootstrap, inp, [(f"m{i:03d}", _message(f"m{i:03d}", i)) for i in range(messages)]
            )
            reader.wait_for(lambda o: len(o.recommendations) > messages, 60.0 + 20.0 * messages)
            answers = {k: v for k, v in reader.outputs.recommendations.items() if k != "warmup"}
            arrivals = sorted(t - sent for t in reader.outputs.written_s[1:])
    finally:
        job.cancel().result()
    return BurstResult(
        bundle,
        messages,
        answered=sum(1 for v in answers.values() if v.get("answer")),
        errors=sum(1 for v in answers.values() if v.get("error")),
        warmup_s=warmup_s,
        arrivals_s=arrivals,
    )


def _message(key: str, i: int) -> str:
    return json.dumps({"id": key, "question": QUESTIONS[i % len(QUESTIONS)] + f" (#{i})"})


def main(argv: list[str] | None = None) -> int:
    from flink_rag.local.session import shared_stack

    parser = argparse.ArgumentParser(prog="python -m flink_rag_bench.burst", description=__doc__)
    parser.add_argument("--messages", type=int, default=45)
    parser.add_argument(
        "--bundle",
        action="append",
        help=f"python.fn-execution.bundle.size to try ('{DEFAULT}': PyFlink's); repeatable",
    )
    args = parser.parse_args(argv)
    bundles = args.bundle or [DEFAULT, "1", "4"]
    with shared_stack(["kafka", "llm"]) as endpoints:
        print(HEADER, flush=True)
        for bundle in bundles:
            result = run_burst(
                endpoints.kafka_bootstrap, endpoints.llm_base_url, args.messages, bundle
            )
            print(result.row(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
