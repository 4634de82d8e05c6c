"""Read a pipeline's two Kafka outputs (answers and dead letters) the way a table reader
sees upsert topics: latest value per key, tombstones remove the key, and every record written
twice for the same event is counted."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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
        recommendation_topic: str,
        dead_letter_topic: str,
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
