"""The MongoDB sink of a store profile: a Kafka Connect connector from `<store>_vectors` into the
store's collection, its config built by a pure function, created and inspected over Connect's
REST API.

The topic is what `INSERT INTO <store>_vectors SELECT ...` writes (upsert-kafka: key = document
id as a string, value = the document as schemaless JSON, tombstone = delete). The connector
makes the key the `_id` (HoistField$Key + ProvidedInKeyStrategy), replaces the whole document
(ReplaceOneDefaultStrategy: a re-sent record changes nothing), deletes on a tombstone, and
routes a record it cannot write to its own dead-letter topic with the reason in
`__connect.errors.*` headers instead of stopping. The MongoDB URI is `${env:MONGODB_URI}`,
resolved by the worker from its own environment: it never passes through this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flink_rag.connectors.errors import FlinkRagError

CONNECTOR_CLASS = "com.mongodb.kafka.connect.MongoSinkConnector"
URI_REFERENCE = "${env:MONGODB_URI}"
REQUEST_TIMEOUT_S = 30.0
LAG_TIMEOUT_S = 10.0


class SinkError(FlinkRagError):
    """Kafka Connect refused or could not be reached."""


def vectors_topic(store: str) -> str:
    return f"{store}_vectors"


def connector_name(store: str) -> str:
    return f"flink-rag-{store}-sink"


def dead_letter_topic(topic: str) -> str:
    """Records the connector could not write (malformed JSON, a refused write)."""
    return f"{topic}_sink_dead_letter"


@dataclass(frozen=True)
class SinkSpec:
    store: str
    topic: str
    database: str
    collection: str
    dead_letter: str
    replication_factor: int = 1  # of the dead-letter topic; 3 on a production cluster
    tasks: int = 1

    @property
    def name(self) -> str:
        return connector_name(self.store)


def connector_config(spec: SinkSpec) -> dict[str, str]:
    """The MongoDB sink connector's config for `spec` (no secret in it)."""
    return {
        "connector.class": CONNECTOR_CLASS,
        "tasks.max": str(spec.tasks),
        "topics": spec.topic,
        "connection.uri": URI_REFERENCE,
        "database": spec.database,
        "collection": spec.collection,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        # The record key (the document id) becomes `_id`.
        "transforms": "keyToId",
        "transforms.keyToId.type": "org.apache.kafka.connect.transforms.HoistField$Key",
        "transforms.keyToId.field": "_id",
        "document.id.strategy": (
            "com.mongodb.kafka.connect.sink.processor.id.strategy.ProvidedInKeyStrategy"
        ),
        "writemodel.strategy": (
            "com.mongodb.kafka.connect.sink.writemodel.strategy.ReplaceOneDefaultStrategy"
        ),
        "delete.on.null.values": "true",
        "errors.tolerance": "all",
        "errors.log.enable": "true",
        "errors.deadletterqueue.topic.name": spec.dead_letter,
        "errors.deadletterqueue.topic.replication.factor": str(spec.replication_factor),
        "errors.deadletterqueue.context.headers.enable": "true",
    }


class ConnectClient:
    """The few Connect REST calls the CLI needs, with errors that say what to do."""

    def __init__(self, url: str, timeout: float = REQUEST_TIMEOUT_S):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        import requests

        try:
            resp = requests.request(method, self.url + path, json=body, timeout=self.timeout)
        except requests.RequestException as err:
            raise SinkError(
                f"Kafka Connect at {self.url} did not answer ({type(err).__name__}); start it "
                "with `flink-rag local up` or set KAFKA_CONNECT_URL"
            ) from None
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            message = _message(resp)
            raise SinkError(f"Kafka Connect refused {method} {path}: {message}")
        return resp.json() if resp.content else {}

    def put_config(self, name: str, config: dict[str, str]) -> dict:
        """Create or update (PUT is idempotent: the same config twice changes nothing)."""
        return self._call("PUT", f"/connectors/{name}/config", config)

    def config(self, name: str) -> dict | None:
        return self._call("GET", f"/connectors/{name}/config")

    def status(self, name: str) -> dict | None:
        return self._call("GET", f"/connectors/{name}/status")

    def delete(self, name: str) -> bool:
        return self._call("DELETE", f"/connectors/{name}") is not None

    def restart_failed(self, name: str) -> None:
        self._call("POST", f"/connectors/{name}/restart?includeTasks=true&onlyFailed=true")


def _message(resp: Any) -> str:
    try:
        return str(resp.json().get("message", resp.text))[:300]
    except ValueError:
        return resp.text[:300]


def lag(bootstrap: str, group: str, topic: str) -> int | None:
    """Records of `topic` not yet committed by consumer group `group` (None: no such topic)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        meta = consumer.list_topics(topic, timeout=LAG_TIMEOUT_S).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            return None
        parts = [TopicPartition(topic, p) for p in meta.partitions]
        committed = consumer.committed(parts, timeout=LAG_TIMEOUT_S)
        total = 0
        for tp in committed:
            low, high = consumer.get_watermark_offsets(tp, timeout=LAG_TIMEOUT_S)
            total += high - (tp.offset if tp.offset >= 0 else low)
        return total
    finally:
        consumer.close()


def topic_size(bootstrap: str, topic: str) -> int | None:
    """Records currently held by `topic` (None: the topic does not exist yet)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "flink-rag-topic-size"})
    try:
        meta = consumer.list_topics(topic, timeout=LAG_TIMEOUT_S).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            return None
        total = 0
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=LAG_TIMEOUT_S
            )
            total += high - low
        return total
    finally:
        consumer.close()
