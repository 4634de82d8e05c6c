"""The Kafka SQL connector (flink-sql-connector-kafka 5.0.0-2.2) on PyFlink 2.3.0: a bounded SQL
job reads one topic and writes another on the local Kafka broker; a consumer checks each record."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from confluent_kafka import Consumer, Producer

from flink_rag.local.config import repo_root

pytestmark = pytest.mark.flink

CONNECTOR_JAR = repo_root() / "jars" / "lib" / "flink" / "flink-sql-connector-kafka-5.0.0-2.2.jar"
JOB_TIMEOUT_MS = 240_000

ROWS = [
    {"flight": "LH100", "passengers": 3, "status": "cancelled"},
    {"flight": "BA200", "passengers": 0, "status": "cancelled"},
    {"flight": "AF300", "passengers": 7, "status": "delayed"},
    {"flight": "LH400", "passengers": 2, "status": "on_time"},
]


@pytest.fixture(scope="module")
def table_env():
    os.environ.setdefault("JVM_ARGS", "-Xmx512m")
    from pyflink.table import EnvironmentSettings, TableEnvironment

    assert CONNECTOR_JAR.is_file(), f"{CONNECTOR_JAR} missing: run `make setup`"
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = t_env.get_config()
    conf.set("pipeline.jars", CONNECTOR_JAR.as_uri())
    conf.set("parallelism.default", "1")
    return t_env


def kafka_table(name: str, topic: str, bootstrap: str, bounded: bool) -> str:
    source_options = (
        "  'scan.startup.mode' = 'earliest-offset',\n"
        "  'scan.bounded.mode' = 'latest-offset',\n"
        f"  'properties.group.id' = 'flink-test-{uuid.uuid4().hex[:8]}',\n"
        if bounded
        else ""
    )
    return f"""
CREATE TEMPORARY TABLE {name} (
  flight STRING,
  passengers INT,
  status STRING
) WITH (
  'connector' = 'kafka',
  'topic' = '{topic}',
  'properties.bootstrap.servers' = '{bootstrap}',
{source_options}  'format' = 'json'
)"""


def test_sql_job_reads_one_topic_and_writes_another(local_kafka, table_env):
    run = uuid.uuid4().hex[:8]
    source_topic, sink_topic = f"flink-in-{run}", f"flink-out-{run}"
    producer = Producer({"bootstrap.servers": local_kafka})
    for row in ROWS:
        producer.produce(source_topic, value=json.dumps(row))
    assert producer.flush(30) == 0

    table_env.execute_sql(kafka_table("events_in", source_topic, local_kafka, bounded=True))
    table_env.execute_sql(kafka_table("events_out", sink_topic, local_kafka, bounded=False))
    result = table_env.execute_sql(
        """
INSERT INTO events_out
SELECT flight, passengers * 10, UPPER(status)
FROM events_in
WHERE status <> 'on_time'"""
    )
    result.wait(JOB_TIMEOUT_MS)

    consumer = Consumer(
        {
            "bootstrap.servers": local_kafka,
            "group.id": f"check-{run}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([sink_topic])
    received = []
    try:
        for _ in range(60):
            msg = consumer.poll(1.0)
            if msg is None:
                if len(received) >= 3:
                    break
                continue
            assert msg.error() is None, msg.error()
            received.append(json.loads(msg.value()))
    finally:
        consumer.close()
    assert received == [
        {"flight": "LH100", "passengers": 30, "status": "CANCELLED"},
        {"flight": "BA200", "passengers": 0, "status": "CANCELLED"},
        {"flight": "AF300", "passengers": 70, "status": "DELAYED"},
    ]
