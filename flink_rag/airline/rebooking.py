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
    topics: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """Placeholder values of rebooking.sql. `events_startup_mode=timestamp` with a timestamp
    reads only events written from then on (the demo); `group-offsets` resumes a group.
    `topics` overrides entries of TOPICS (tests use their own topics). The constants above
    are literals in the SQL (tests/unit/test_sql_constants.py keeps them equal)."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "GROUP_ID": group_id,
        "EVENTS_STARTUP_MODE": events_startup_mode,
        "EVENTS_STARTUP_TIMESTAMP": events_startup_timestamp,
        **TOPICS,
        **(topics or {}),
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
        topics = [self.recommendation_topic, self.dead_letter_topic]
        partitions = _partitions(self._consumer, topics, READER_TOPIC_WAIT_S)
        if partitions is None:  # not created yet: the group assigns them once they exist
            self._consumer.subscribe(topics)
        else:
            # Read by assignment, not through the consumer group: a reader keeps no offsets,
            # and a group member can be dropped by a restarting broker's coordinator, after
            # which it silently reads nothing more.
            self._consumer.assign(partitions)
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


# How long a reader waits for its topics to appear before it falls back to subscribing.
READER_TOPIC_WAIT_S = 10.0


def _partitions(consumer: Any, topics: list[str], wait_s: float) -> list[Any] | None:
    """Every partition of `topics` from the beginning, or None if a topic does not exist yet."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    from flink_rag.local.process import wait_until

    found: dict[str, Any] = {}

    def all_there() -> None:
        meta = consumer.list_topics(timeout=max(1.0, min(5.0, wait_s)))
        found.update({t: meta.topics.get(t) for t in topics})
        missing = [t for t, m in found.items() if m is None or m.error or not m.partitions]
        if missing:
            raise LookupError(f"topics not created yet: {missing}")

    try:
        wait_until(all_there, wait_s)
    except TimeoutError:
        return None
    return [
        TopicPartition(t, p, OFFSET_BEGINNING)
        for t, m in found.items()
        for p in sorted(m.partitions)
    ]
