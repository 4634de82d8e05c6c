"""The configuration surface under a stock `sql-client.sh` on the local session cluster:
`-i sql/functions.sql -f job.sql`, one `SET 'pipeline.global-job-parameters.flink-rag.…'` per
option. A job's output shows that an llm, an embed and a store option took effect; a typo
fails the job at start naming the closest key; the map form replaces the per-key SETs."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pymongo
import pytest
from confluent_kafka import Consumer, Producer

from flink_rag.bench.fake_responses import embedding_vector, marker_tag
from flink_rag.bench.server_process import LoadServerProcess
from flink_rag.cli import main
from flink_rag.local.config import LocalConfig
from flink_rag.local.session import TEST_OWNER
from flink_rag.local.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

FUNCTIONS_SQL = Path(__file__).resolve().parents[2] / "sql" / "functions.sql"
DIMS = 8
TEXTS = ["rebook me on the next flight to Boston", "I need a wheelchair at the gate"]
P = "pipeline.global-job-parameters.flink-rag"


@pytest.fixture(scope="module")
def cluster(local_stack):
    stack = Stack()
    stack.up(["flink"], owner=TEST_OWNER)  # stopped with the rest by the last test session
    return stack.components["flink"]


@pytest.fixture(scope="module")
def server():
    proc = LoadServerProcess(latency_ms=0).start()
    try:
        yield proc
    finally:
        proc.stop()


def kafka_jar() -> Path:
    jars = sorted((LocalConfig().jars_dir / "flink").glob("flink-sql-connector-kafka-*.jar"))
    assert jars, "Kafka connector missing from jars/lib/flink: run `make setup`"
    return jars[0]


def sql_client(cluster, job: Path) -> subprocess.CompletedProcess:
    cmd, env = cluster.sql_client("-j", str(kafka_jar()), "-i", str(FUNCTIONS_SQL), "-f", str(job))
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)


def job_sql(run: str, bootstrap: str, sets: str) -> str:
    kafka = f"'connector' = 'kafka', 'properties.bootstrap.servers' = '{bootstrap}'"
    return f"""{sets}
SET 'table.dml-sync' = 'true';
SET 'pipeline.name' = 'sqlc-config-{run}';
CREATE TEMPORARY TABLE questions (id STRING, q STRING) WITH (
  {kafka}, 'topic' = 'q-{run}', 'format' = 'json', 'properties.group.id' = 'q-{run}',
  'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');
CREATE TEMPORARY TABLE answers (id STRING, answer STRING, dims INT, hits STRING) WITH (
  {kafka}, 'topic' = 'a-{run}', 'format' = 'json');
INSERT INTO answers
SELECT id, LLM_COMPLETE(q).text, CARDINALITY(EMBED(q)),
       VECTOR_LOOKUP_JSON('docs', EMBED(q), 1, CAST(NULL AS STRING))
FROM questions;
"""


def read_topic(bootstrap: str, topic: str, expected: int) -> list[dict]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"chk-{topic}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    out: list[dict] = []
    try:
        deadline = time.monotonic() + 60
        while len(out) < expected and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                out.append(json.loads(msg.value()))
    finally:
        consumer.close()
    return out


def test_per_key_sets_of_each_section_reach_the_udfs(cluster, server, local_stack, tmp_path):
    run = uuid.uuid4().hex[:8]
    collection = f"sqlc_docs_{run}"
    client: pymongo.MongoClient = pymongo.MongoClient(local_stack.mongodb_uri)
    coll = client["flink_rag"][collection]
    coll.insert_many(
        [
            {"_id": f"doc-{i}", "content": t, "embedding": embedding_vector(t, DIMS).tolist()}
            for i, t in enumerate(TEXTS)
        ]
    )
    assert (
        main(["index", "create", "--store", "docs", "--collection", collection,
              "--dimensions", str(DIMS), "--wait", "120"])
        == 0
    )  # fmt: skip
    producer = Producer({"bootstrap.servers": local_stack.kafka_bootstrap})
    for i, text in enumerate(TEXTS):
        producer.produce(f"q-{run}", value=json.dumps({"id": f"r{i}", "q": text}))
    assert producer.flush(30) == 0
    sets = "\n".join(
        [
            f"SET '{P}.llm.base-url' = '{server.base_url}';",
            f"SET '{P}.llm.model' = 'bench-chat';",
            f"SET '{P}.embed.provider' = 'openai';",
            f"SET '{P}.embed.base-url' = '{server.base_url}';",
            f"SET '{P}.embed.model' = 'bench-embed';",
            f"SET '{P}.embed.dimensions' = '{DIMS}';",
            f"SET '{P}.store.docs.collection' = '{collection}';",
        ]
    )
    job = tmp_path / "job.sql"
    job.write_text(job_sql(run, local_stack.kafka_bootstrap, sets))
    done = sql_client(cluster, job)
    assert done.returncode == 0 and "[ERROR]" not in done.stdout, done.stdout[-3000:]

    rows = sorted(read_topic(local_stack.kafka_bootstrap, f"a-{run}", 2), key=lambda r: r["id"])
    assert [r["id"] for r in rows] == ["r0", "r1"]
    for i, row in enumerate(rows):
        assert marker_tag(TEXTS[i]) in row["answer"]  # llm: the load server, not the local LLM
        assert row["dims"] == DIMS  # embed: provider, base-url and dimensions
        hits = json.loads(row["hits"])
        assert hits["error"] is None, hits
        assert hits["hits"][0]["id"] == f"doc-{i}"  # store: the collection option
    coll.drop()
    client.close()


def _rest(cluster, path: str) -> dict:
    with urllib.request.urlopen(f"{cluster.rest_url()}{path}", timeout=10) as resp:
        return json.load(resp)


def _job_id(cluster, name: str, timeout_s: float = 60.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        jobs = [j for j in _rest(cluster, "/jobs/overview")["jobs"] if j["name"] == name]
        if jobs:
            return str(jobs[0]["jid"])
        time.sleep(1)
    raise AssertionError(f"no job {name} on the cluster after {timeout_s:.0f}s")


def _first_failure(cluster, jid: str, timeout_s: float = 180.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        history = _rest(cluster, f"/jobs/{jid}/exceptions").get("exceptionHistory", {})
        if history.get("entries"):
            return json.dumps(history["entries"][0])
        time.sleep(2)
    raise AssertionError(f"job {jid} did not fail within {timeout_s:.0f}s")


def test_a_typo_in_a_key_fails_the_job_naming_the_closest_key(cluster, local_stack, tmp_path):
    run = uuid.uuid4().hex[:8]
    producer = Producer({"bootstrap.servers": local_stack.kafka_bootstrap})
    producer.produce(f"q-{run}", value=json.dumps({"id": "r0", "q": "hello"}))
    assert producer.flush(30) == 0
    job = tmp_path / "typo.sql"
    text = job_sql(run, local_stack.kafka_bootstrap, f"SET '{P}.llm.modle' = 'x';")
    job.write_text(text.replace("SET 'table.dml-sync' = 'true';", ""))
    done = sql_client(cluster, job)
    assert done.returncode == 0, done.stdout[-3000:]  # detached: the job fails on the cluster
    jid = _job_id(cluster, f"sqlc-config-{run}")
    try:
        failure = _first_failure(cluster, jid)
    finally:
        # 409: the job has already failed for good (no restart strategy without checkpoints).
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(
                urllib.request.Request(
                    f"{cluster.rest_url()}/jobs/{jid}?mode=cancel", method="PATCH"
                ),
                timeout=10,
            ).close()
    assert "unknown option 'flink-rag.llm.modle'" in failure
    assert "did you mean 'flink-rag.llm.model'" in failure
