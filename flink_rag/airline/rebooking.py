"""Submit `sql/rebooking.sql` as a streaming job, and read its two output topics.

The SQL holds the pipeline; this module fills its placeholders, submits it, and
gives the demo and the tests a consumer that folds the upsert topics into
"latest value per key" the way a table reader sees them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flink_rag.airline import flink_job
from flink_rag.sql import files as sql_files

SQL_FILE = "rebooking.sql"
RECOMMENDATION_TOPIC = "rebooking_recommendations"
DEAD_LETTER_TOPIC = "rebooking_dead_letter"
MIN_DELAY_MINUTES = 180
CANDIDATES = 5
CANDIDATE_BUDGET_TOKENS = 2400  # UTF-8 bytes: short prompts for small local models
POLICY_BUDGET_TOKENS = 700
# How long event-driven state lives without access (duplicate check, first-version filters).
STATE_HORIZON = "7 d"
# The joins' CRM and inventory sides: one row per key, kept (practically) for good.
TABLE_STATE_TTL = "3650 d"
# The answer's free-text `reason`: short enough that the JSON closes within max-tokens.
REASON_MAX_CHARS = 160


# placeholder -> topic
TOPICS: dict[str, str] = {
    "EVENT_TOPIC": "flight_events",
    "BOOKING_TOPIC": "bookings",
    "CUSTOMER_TOPIC": "customers",
    "FLIGHT_TOPIC": "flight_inventory",
    "RECOMMENDATION_TOPIC": RECOMMENDATION_TOPIC,
    "DEAD_LETTER_TOPIC": DEAD_LETTER_TOPIC,
}


def sql_params(
    kafka_bootstrap: str,
    *,
    group_id: str,
    events_startup_mode: str = "group-offsets",
    events_startup_timestamp: int = 0,
    candidates: int = CANDIDATES,
    topics: Mapping[str, str] | None = None,
    state_horizon: str = STATE_HORIZON,
) -> dict[str, object]:
    """Placeholder values of rebooking.sql. `events_startup_mode=timestamp` with a timestamp
    reads only events written from then on (the demo); `group-offsets` resumes a group.
    `topics` overrides entries of TOPICS (tests use their own topics); `state_horizon` is
    how long event-driven state is kept (a Flink duration such as '7 d')."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "GROUP_ID": group_id,
        "EVENTS_STARTUP_MODE": events_startup_mode,
        "EVENTS_STARTUP_TIMESTAMP": events_startup_timestamp,
        **TOPICS,
        **(topics or {}),
        "MIN_DELAY_MINUTES": MIN_DELAY_MINUTES,
        "CANDIDATES": candidates,
        "CANDIDATE_BUDGET_TOKENS": CANDIDATE_BUDGET_TOKENS,
        "POLICY_BUDGET_TOKENS": POLICY_BUDGET_TOKENS,
        "STATE_HORIZON": state_horizon,
        "TABLE_STATE_TTL": TABLE_STATE_TTL,
        "REASON_MAX_CHARS": REASON_MAX_CHARS,
    }


def submit(
    params: Mapping[str, object],
    *,
    register: Callable[[Any], None] | None = None,
    options: Mapping[str, str] | None = None,
    table_options: Mapping[str, str] | None = None,
) -> Any:
    """Start the job on a local mini-cluster; returns its JobClient (cancel it to stop).

    `options` (e.g. `flink-rag.llm.cache-dir`) apply before the file's own `SET`s;
    `table_options` are Flink settings of the environment (e.g. `execution.target: remote`
    with `rest.address`/`rest.port` submits to a session cluster instead)."""
    t_env = flink_job.table_env(options=table_options)
    if register is None:
        flink_job.run_file(t_env, "functions.sql", {}, options)
    else:
        register(t_env)
    result = flink_job.run_file(t_env, SQL_FILE, params, options)
    return result.get_job_client()


def explain(
    params: Mapping[str, object],
    *,
    register: Callable[[Any], None] | None = None,
    options: Mapping[str, str] | None = None,
) -> str:
    """The optimized plan of the job's statement set, with each node's changelog mode."""
    t_env = flink_job.table_env()
    if register is None:
        flink_job.run_file(t_env, "functions.sql", {}, options)
    else:
        register(t_env)
    statements = sql_files.statements(SQL_FILE, params)
    flink_job.run_statements(t_env, statements[:-1], options)
    statement_set = statements[-1]
    if not statement_set.upper().startswith("EXECUTE STATEMENT SET"):
        raise ValueError(f"{SQL_FILE} must end with its EXECUTE STATEMENT SET")
    text = "EXPLAIN CHANGELOG_MODE " + statement_set[len("EXECUTE ") :]
    with t_env.execute_sql(text).collect() as rows:
        return "\n".join(str(row[0]) for row in rows)


@dataclass
class Outputs:
    """Both topics as tables: key -> latest value (tombstones remove the key)."""

    recommendations: dict[str, dict] = field(default_factory=dict)
    dead_letters: dict[str, dict] = field(default_factory=dict)
    records: int = 0  # raw records read, tombstones included
    # (key, event_id) of every record written again for the same event: a true duplicate
    keys_written_twice: list[tuple[str, str | None]] = field(default_factory=list)
    # the subset written again with a different value: a table reader sees the answer change
    keys_changed: list[tuple[str, str | None]] = field(default_factory=list)
    tombstones: list[str] = field(default_factory=list)
    # when each record was written (its Kafka timestamp, epoch seconds), in reading order
    written_s: list[float] = field(default_factory=list)

    def total(self) -> int:
        return len(self.recommendations) + len(self.dead_letters)


class OutputReader:
    """Reads both output topics from the beginning; `poll` folds new records in."""

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        recommendation_topic: str = RECOMMENDATION_TOPIC,
        dead_letter_topic: str = DEAD_LETTER_TOPIC,
    ):
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.recommendation_topic = recommendation_topic
        self.dead_letter_topic = dead_letter_topic
        self.outputs = Outputs()
        self._consumer: Any = None
        self._seen: set[tuple[str, str, str | None]] = set()
        self._missing: list[str] = []
        self._next_topic_check = 0.0

    def _assign_new_topics(self) -> None:
        """Assign, from the beginning, every partition of the topics that exist by now."""
        from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

        self._next_topic_check = time.monotonic() + TOPIC_CHECK_S
        try:
            meta = self._consumer.list_topics(timeout=TOPIC_CHECK_S)
        except KafkaException:
            return  # the broker is away (a restart): the next poll asks again
        found = []
        for topic in self._missing:
            m = meta.topics.get(topic)
            if m is not None and not m.error and m.partitions:
                found += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(m.partitions)]
        if found:
            self._consumer.incremental_assign(found)
            done = {tp.topic for tp in found}
            self._missing = [t for t in self._missing if t not in done]

    def open(self) -> OutputReader:
        from confluent_kafka import Consumer

        self._consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group_id,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        # Read by assignment, never through the consumer group: a reader keeps no offsets, and
        # a group member can be dropped by a restarting broker's coordinator, after which it
        # silently reads nothing more. A topic the job has not created yet is assigned when
        # it appears (see poll), so how soon the first output comes does not matter.
        self._missing = [self.recommendation_topic, self.dead_letter_topic]
        self._assign_new_topics()
        return self

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def __enter__(self) -> OutputReader:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def poll(self, timeout_s: float = 1.0) -> list[tuple[str, str, dict | None]]:
        """New (topic, key, value) records; value None is a tombstone."""
        from confluent_kafka import TIMESTAMP_NOT_AVAILABLE

        if self._missing and time.monotonic() >= self._next_topic_check:
            self._assign_new_topics()
        fresh = []
        for msg in self._consumer.consume(num_messages=500, timeout=timeout_s):
            if msg.error():
                continue  # partition EOF and transient errors; the client retries
            key = (msg.key() or b"").decode("utf-8")
            value = json.loads(msg.value()) if msg.value() is not None else None
            table = (
                self.outputs.recommendations
                if msg.topic() == self.recommendation_topic
                else self.outputs.dead_letters
            )
            self.outputs.records += 1
            kind, stamp_ms = msg.timestamp()
            if kind != TIMESTAMP_NOT_AVAILABLE:
                self.outputs.written_s.append(stamp_ms / 1000.0)
            if value is None:
                self.outputs.tombstones.append(key)
                table.pop(key, None)
            else:
                # Same key for another event is an update, not a duplicate.
                seen = (msg.topic(), key, value.get("event_id"))
                if seen in self._seen:
                    self.outputs.keys_written_twice.append((key, value.get("event_id")))
                    if table.get(key) != value:
                        self.outputs.keys_changed.append((key, value.get("event_id")))
                self._seen.add(seen)
                table[key] = value
            fresh.append((msg.topic(), key, value))
        return fresh

    def wait_for(
        self,
        done: Callable[[Outputs], bool],
        timeout_s: float,
        on_record: Callable[[str, str, dict | None], None] = lambda *_: None,
    ) -> bool:
        """Poll until `done(outputs)` or the timeout; True if done."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for record in self.poll(1.0):
                on_record(*record)
            if done(self.outputs):
                return True
        return done(self.outputs)


# How often a reader looks for an output topic the job has not created yet.
TOPIC_CHECK_S = 2.0
