"""Kafka topics of the airline pipeline: create them, load the sample data.

CRM and bookings (and flight inventory) are keyed by id on compacted topics, so
the latest record per key is the current state, which is how the rebooking job
reads them (upsert-kafka tables).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from flink_rag.airline.dataset import FILES, Dataset, dumps
from flink_rag.connectors.errors import FlinkRagError

CREATE_TIMEOUT_S = 30.0
FLUSH_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class TopicSpec:
    name: str
    compact: bool
    partitions: int = 1


TOPICS: dict[str, TopicSpec] = {
    "customers": TopicSpec("customers", compact=True),
    "bookings": TopicSpec("bookings", compact=True),
    "flight_inventory": TopicSpec("flight_inventory", compact=True),
    "policy_sections": TopicSpec("policy_sections", compact=True),
    "flight_events": TopicSpec("flight_events", compact=False),
    "rebooking_recommendations": TopicSpec("rebooking_recommendations", compact=False),
    "rebooking_dead_letter": TopicSpec("rebooking_dead_letter", compact=False),
}
DATA_TOPICS: tuple[str, ...] = ("customers", "bookings", "flight_inventory", "policy_sections")


class KafkaSetupError(FlinkRagError):
    """Kafka topics could not be created or written."""


def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec] = TOPICS.values()) -> list[str]:
    """Create missing topics; returns the names created (existing ones are kept)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=CREATE_TIMEOUT_S).topics)
    new = [
        NewTopic(
            s.name,
            num_partitions=s.partitions,
            replication_factor=-1,  # the broker's default.replication.factor
            config={"cleanup.policy": "compact"} if s.compact else {},
        )
        for s in specs
        if s.name not in existing
    ]
    if not new:
        return []
    for name, future in admin.create_topics(new, operation_timeout=CREATE_TIMEOUT_S).items():
        try:
            future.result(timeout=CREATE_TIMEOUT_S)
        except Exception as err:  # KafkaException; TOPIC_ALREADY_EXISTS is a race, fine
            if "TOPIC_ALREADY_EXISTS" not in str(err):
                raise KafkaSetupError(
                    f"could not create topic {name!r} on {bootstrap}: {err}; "
                    "check that the broker is up (`flink-rag local status`)"
                ) from err
    return [t.topic for t in new]


def produce(bootstrap: str, topic: str, records: Iterable[tuple[str | None, str]]) -> int:
    """Write (key, value) pairs, wait until all are acknowledged; returns the count."""
    from confluent_kafka import Producer

    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20}
    )
    failures: list[str] = []

    def on_delivery(err, _msg) -> None:
        if err is not None:
            failures.append(str(err))

    n = 0
    for key, value in records:
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.5)
        n += 1
        producer.poll(0)
    remaining = producer.flush(FLUSH_TIMEOUT_S)
    if remaining or failures:
        raise KafkaSetupError(
            f"{len(failures) + remaining} of {n} records to {topic!r} were not delivered"
            f" (first error: {failures[0] if failures else 'timeout'})"
        )
    return n


def keyed(records: Iterable[dict], key_field: str) -> Iterable[tuple[str, str]]:
    return ((str(r[key_field]), dumps(r)) for r in records)


def load_dataset(
    bootstrap: str,
    data: Dataset,
    topics: Iterable[str] = DATA_TOPICS,
    names: Mapping[str, str] | None = None,
) -> dict:
    """Create the topics and write the data set's records; returns topic -> count.

    `names` renames topics (kind -> topic name), e.g. for tests that need their own.
    """
    names = names or {}
    ensure_topics(bootstrap, [replace(s, name=names.get(k, s.name)) for k, s in TOPICS.items()])
    counts = {}
    for kind in topics:
        key_field = FILES[kind][1]
        topic = names.get(kind, kind)
        counts[topic] = produce(bootstrap, topic, keyed(data.records(kind), key_field))
    return counts
