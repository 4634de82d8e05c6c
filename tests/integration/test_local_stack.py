"""The local stack for real: each component answers real requests, and `up`/`status`/`down`
keep their promises (idempotent, one-line errors, stale pid files, no half-started stack).

Failure cases run against a private state dir on spare ports, never the shared stack.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import uuid
from pathlib import Path

import psutil
import pymongo
import pytest
from confluent_kafka import Consumer, Producer
from openai import OpenAI

from flink_rag.cli import main
from flink_rag.local import endpoints
from flink_rag.local.config import LLM_MODEL_ALIAS, LocalConfig
from flink_rag.local.errors import PortInUseError, PrerequisiteError, StartupError
from flink_rag.local.process import alive
from flink_rag.local.session import TEST_OWNER
from flink_rag.local.stack import DEFAULT_NAMES, Stack
from flink_rag.local.state import PidRecord, StateDir

pytestmark = pytest.mark.integration

TIMEOUT_S = 30.0


def spare_port() -> int:
    """A free port below the kernel's ephemeral range, so no outgoing connection can take it."""
    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no spare port found")


@pytest.fixture
def private_config(tmp_path) -> LocalConfig:
    """A stack of its own: state under tmp_path, spare ports."""
    return LocalConfig(
        home=tmp_path / "home",
        kafka_port=spare_port(),
        kafka_controller_port=spare_port(),
        mongo_port=spare_port(),
        llm_port=spare_port(),
        flink_rest_port=spare_port(),
        flink_rpc_port=spare_port(),
        connect_port=spare_port(),
    )


# -- each component answers real requests --------------------------------------------------
def test_kafka_produce_and_consume(local_stack):
    topic = f"it-local-stack-{uuid.uuid4().hex[:8]}"
    sent = {f"key-{i}": f"value-{i}-{uuid.uuid4().hex[:6]}" for i in range(5)}
    producer = Producer({"bootstrap.servers": local_stack.kafka_bootstrap})
    for key, value in sent.items():
        producer.produce(topic, key=key, value=value)
    assert producer.flush(TIMEOUT_S) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": local_stack.kafka_bootstrap,
            "group.id": f"it-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    received: dict[str, str] = {}
    try:
        for _ in range(60):
            msg = consumer.poll(1.0)
            if msg is None:
                if len(received) == len(sent):
                    break
                continue
            assert msg.error() is None, msg.error()
            received[msg.key().decode()] = msg.value().decode()
    finally:
        consumer.close()
    assert received == sent


def test_mongo_insert_and_filtered_find(local_stack):
    client = pymongo.MongoClient(local_stack.mongodb_uri, serverSelectionTimeoutMS=10_000)
    db = client[f"it_local_stack_{uuid.uuid4().hex[:8]}"]
    try:
        db.flights.insert_many(
            [
                {"_id": "LH1", "carrier": "LH", "seats": 0},
                {"_id": "LH2", "carrier": "LH", "seats": 4},
                {"_id": "BA1", "carrier": "BA", "seats": 9},
                {"_id": "LH3", "carrier": "LH", "seats": 7},
            ]
        )
        found = list(
            db.flights.find({"carrier": "LH", "seats": {"$gt": 0}}, {"seats": 1}).sort("seats", -1)
        )
        assert found == [{"_id": "LH3", "seats": 7}, {"_id": "LH2", "seats": 4}]
    finally:
        client.drop_database(db.name)
        client.close()


def test_llm_chat_completion_through_openai_sdk(local_stack):
    client = OpenAI(base_url=local_stack.llm_base_url, api_key="not-needed", timeout=120)
    reply = client.chat.completions.create(
        model=LLM_MODEL_ALIAS,
        messages=[{"role": "user", "content": "Name one city in France."}],
        max_tokens=16,
        temperature=0,
    )
    assert reply.choices[0].message.content.strip()
    assert reply.usage.prompt_tokens > 0
    assert reply.usage.completion_tokens > 0


# -- the CLI and the Python API over the running stack -------------------------------------
def test_status_exits_zero_when_up(local_stack, capsys):
    assert main(["local", "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    states = {line.split()[0]: line.split()[1] for line in lines}
    assert set(states) == {"kafka", "mongo", "connect", "llm", "flink"}
    for name in DEFAULT_NAMES:
        assert states[name] in ("up", "external"), lines
    mongo_line = next(line for line in lines if line.startswith("mongo"))
    if states["mongo"] == "up":
        assert "Atlas $vectorSearch on Lucene HNSW" in mongo_line


def test_up_twice_keeps_the_same_processes(local_stack):
    stack = Stack()
    stack.up(owner=TEST_OWNER)
    before = {name: stack.components[name].pids() for name in DEFAULT_NAMES}
    stack.up(owner=TEST_OWNER)
    after = {name: stack.components[name].pids() for name in DEFAULT_NAMES}
    assert after == before
    for name in DEFAULT_NAMES:
        assert stack.components[name].external() or before[name]


def test_endpoints_honour_env_overrides_and_hide_the_mongodb_uri(monkeypatch):
    for var in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "MONGODB_URI",
        "FLINK_RAG_LLM_BASE_URL",
        "FLINK_REST_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    local = endpoints(LocalConfig(kafka_port=1001, mongo_port=1002, llm_port=1003))
    assert local.kafka_bootstrap == "127.0.0.1:1001"
    assert local.mongodb_uri == "mongodb://127.0.0.1:1002/"
    assert local.llm_base_url == "http://127.0.0.1:1003/v1"
    assert local.flink_rest_url == "http://127.0.0.1:18081"

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-1:9092,broker-2:9092")
    monkeypatch.setenv("MONGODB_URI", "mongodb+srv://user:s3cret@cluster0.example.net/")
    monkeypatch.setenv("FLINK_RAG_LLM_BASE_URL", "https://llm.example.net/v1/")
    monkeypatch.setenv("FLINK_REST_URL", "http://jobmanager:8081/")
    remote = endpoints()
    assert remote.kafka_bootstrap == "broker-1:9092,broker-2:9092"
    assert remote.mongodb_uri == "mongodb+srv://user:s3cret@cluster0.example.net/"
    assert remote.llm_base_url == "https://llm.example.net/v1"
    assert remote.flink_rest_url == "http://jobmanager:8081"
    assert "s3cret" not in repr(remote)


# -- failure handling, on a private state dir and spare ports ------------------------------
def test_port_taken_by_another_process_is_one_line_naming_component_and_port(private_config):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", private_config.mongo_port))
        squatter.listen()
        with pytest.raises(PortInUseError) as err:
            Stack(private_config).up(["mongo"], timeout=TIMEOUT_S)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("mongo: ")
    assert f"127.0.0.1:{private_config.mongo_port}" in message
    assert f"pid {os.getpid()}" in message
    assert not StateDir(private_config.home).pid_file("mongo").exists()


def test_failed_up_stops_what_it_started(private_config):
    # Kafka starts, then the stand-in's port turns out to be taken: Kafka must be stopped again.
    stack = Stack(private_config)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", private_config.mongo_port))
        squatter.listen()
        kafka_pids: list[int] = []
        real_start = stack.components["kafka"].start

        def recording_start(owner: str) -> list[int]:
            kafka_pids.extend(real_start(owner))
            return kafka_pids

        stack.components["kafka"].start = recording_start  # type: ignore[method-assign]
        with pytest.raises(PortInUseError):
            stack.up(["kafka", "mongo"], timeout=120)
    assert len(kafka_pids) == 1
    assert not alive(kafka_pids[0])
    assert stack.components["kafka"].pids() == []


def test_stale_pid_files_are_cleaned_up_and_never_kill_strangers(private_config):
    state = StateDir(private_config.home)
    state.ensure()
    gone = subprocess.Popen(["true"])
    gone.wait(timeout=10)
    state.write_pid("mongo", PidRecord(pid=gone.pid, owner="cli", marker=str(state.home)))
    # A live pid that is not ours (pid reuse): this test process; its command line lacks the marker.
    state.write_pid("kafka", PidRecord(pid=os.getpid(), owner="cli", marker=str(state.home)))

    stack = Stack(private_config)
    statuses, ok = stack.status(["kafka", "mongo"])
    assert [(s.name, s.state) for s in statuses] == [
        ("kafka", "not running"),
        ("mongo", "not running"),
    ]
    assert not ok
    assert not state.pid_file("mongo").exists()
    assert not state.pid_file("kafka").exists()
    assert stack.down() == []

    # The cleaned-up stack starts and stops for real.
    lines = stack.up(["mongo"], timeout=120)
    pid = stack.components["mongo"].pids()[0]
    assert lines[0].startswith("mongo") and " up " in lines[0]
    assert stack.down() == ["mongo   stopped"]
    assert not alive(pid)
    assert not state.pid_file("mongo").exists()


def test_down_stops_what_it_started_even_after_an_endpoint_override_is_set(
    private_config, monkeypatch
):
    stack = Stack(private_config)
    stack.up(["mongo"], timeout=120)
    pid = stack.components["mongo"].pids()[0]
    # e.g. a job pointed its workers at this very stand-in through the override variable
    monkeypatch.setenv("MONGODB_URI", f"mongodb://127.0.0.1:{private_config.mongo_port}")
    assert stack.down() == ["mongo   stopped"]
    assert not alive(pid)


def test_corrupt_jar_says_run_make_setup(private_config, tmp_path):
    jars = tmp_path / "jars"
    (jars / "mongo").mkdir(parents=True)
    for jar in (private_config.jars_dir / "mongo").glob("*.jar"):
        (jars / "mongo" / jar.name).symlink_to(jar)
    broken = jars / "mongo" / "h2-2.3.232.jar"
    broken.unlink()
    broken.write_bytes(b"PK\x03\x04 truncated")
    config = LocalConfig(
        home=private_config.home, jars_dir=jars, mongo_port=private_config.mongo_port
    )
    with pytest.raises(PrerequisiteError) as err:
        Stack(config).up(["mongo"], timeout=TIMEOUT_S)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("mongo: corrupt jar")
    assert "h2-2.3.232.jar" in message
    assert "run `make setup`" in message


def test_component_that_dies_at_startup_names_cause_and_log(private_config, monkeypatch):
    # A stand-in pointed at a data file it cannot create exits at once; up reports it in one line.
    stack = Stack(private_config)
    mongo = stack.components["mongo"]
    blocker = Path(private_config.home) / "data" / "mongo"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where a directory should be")
    monkeypatch.setattr(type(mongo), "prepare", lambda self: None)
    with pytest.raises(StartupError) as err:
        stack.up(["mongo"], timeout=60)
    message = str(err.value)
    assert "\n" not in message
    # The exit status is reported, not the last line of the log.
    assert re.match(
        r"mongo: exited with code [1-9]\d* \d+\.\d s after start, during startup; see ", message
    ), message
    assert str(mongo.log_file) in message
    assert mongo.pids() == []


def test_component_killed_after_start_is_reported_with_its_signal(private_config):
    stack = Stack(private_config)
    mongo = stack.components["mongo"]
    try:
        stack.up(["mongo"], timeout=TIMEOUT_S)
        supervisor = mongo.pids()[0]
        server = psutil.Process(supervisor).children()[0]
        server.send_signal(signal.SIGKILL)
        psutil.wait_procs([psutil.Process(supervisor)], timeout=30)
        statuses, ok = stack.status(["mongo"])
        assert not ok
        assert statuses[0].state == "exited"
        assert re.match(
            r"killed by SIGKILL \d+\.\d s after answering a ping; see ", statuses[0].detail
        ), statuses[0].detail
    finally:
        stack.down(["mongo"])
    # A stop is not a crash: after down, status no longer reports the old exit.
    assert stack.status(["mongo"])[0][0].state == "not running"


def test_a_taskmanager_that_dies_is_reported_with_its_signal(private_config):
    # Flink's daemons run in the foreground under the supervisor, like the other parts.
    stack = Stack(private_config)
    flink = stack.components["flink"]
    try:
        stack.up(["flink"], timeout=TIMEOUT_S)
        taskmanager = stack.state.read_pid("flink-taskmanager")
        assert taskmanager is not None
        jvm = psutil.Process(taskmanager.pid).children(recursive=True)
        assert any("TaskManagerRunner" in " ".join(p.cmdline()) for p in jvm)
        for p in jvm:
            p.send_signal(signal.SIGKILL)
        psutil.wait_procs([psutil.Process(taskmanager.pid)], timeout=30)
        statuses, ok = stack.status(["flink"])
        assert not ok
        assert re.search(r"taskmanager killed by SIGKILL \d+\.\d s after", statuses[0].detail), (
            statuses[0].detail
        )
    finally:
        stack.down(["flink"])
    assert flink.pids() == []


def test_java_older_than_17_is_refused_with_a_fix(private_config, tmp_path, monkeypatch):
    fake_home = tmp_path / "old-jdk"
    (fake_home / "bin").mkdir(parents=True)
    java = fake_home / "bin" / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(fake_home))
    with pytest.raises(PrerequisiteError) as err:
        Stack(private_config).up(["mongo"], timeout=TIMEOUT_S)
    message = str(err.value)
    assert message.startswith("mongo: Java 11 found")
    assert "Java 17+ needed" in message
    assert "\n" not in message


# -- the Flink session cluster, on demand, driven by the SQL client --------------------------
SHOUT_UDF = """
from pyflink.table import DataTypes
from pyflink.table.udf import udf


@udf(result_type=DataTypes.STRING())
def shout(text):
    return text.upper() + "!"
"""


def test_flink_cluster_runs_sql_client_job_with_kafka_and_python_udf(local_stack, tmp_path):
    """sql-client.sh (needs flink-sql-gateway) submits to the session cluster a job that reads
    Kafka, applies a Python UDF (cluster's python.executable) and writes Kafka."""
    stack = Stack()
    flink = stack.components["flink"]
    stack.up(["flink"], owner=TEST_OWNER)  # stopped with the rest by the last test session
    run = uuid.uuid4().hex[:8]
    source, sink = f"sqlc-in-{run}", f"sqlc-out-{run}"
    producer = Producer({"bootstrap.servers": local_stack.kafka_bootstrap})
    for flight, status in [("LH1", "cancelled"), ("BA2", "delayed")]:
        producer.produce(source, value=f'{{"flight": "{flight}", "status": "{status}"}}')
    assert producer.flush(TIMEOUT_S) == 0

    (tmp_path / "shout_udf.py").write_text(SHOUT_UDF)
    kafka = (
        f"'connector' = 'kafka', 'properties.bootstrap.servers' = '{local_stack.kafka_bootstrap}'"
    )
    (tmp_path / "job.sql").write_text(
        f"""SET 'table.dml-sync' = 'true';
CREATE TEMPORARY FUNCTION shout AS 'shout_udf.shout' LANGUAGE PYTHON;
CREATE TABLE events_in (flight STRING, status STRING) WITH (
  {kafka}, 'topic' = '{source}', 'format' = 'json', 'properties.group.id' = 'sqlc-{run}',
  'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');
CREATE TABLE events_out (flight STRING, status STRING) WITH (
  {kafka}, 'topic' = '{sink}', 'format' = 'json');
INSERT INTO events_out SELECT flight, shout(status) FROM events_in;
"""
    )
    connector = private_jar("flink", "flink-sql-connector-kafka-")
    cmd, env = flink.sql_client(
        "-j",
        str(connector),
        "-pyfs",
        str(tmp_path / "shout_udf.py"),
        "-f",
        str(tmp_path / "job.sql"),
    )
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "[ERROR]" not in done.stdout, done.stdout[-2000:]

    consumer = Consumer(
        {
            "bootstrap.servers": local_stack.kafka_bootstrap,
            "group.id": f"check-{run}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([sink])
    received = []
    try:
        for _ in range(60):
            msg = consumer.poll(1.0)
            if msg is None:
                if len(received) >= 2:
                    break
                continue
            assert msg.error() is None, msg.error()
            received.append(msg.value().decode())
    finally:
        consumer.close()
    assert received == [
        '{"flight":"LH1","status":"CANCELLED!"}',
        '{"flight":"BA2","status":"DELAYED!"}',
    ]


def private_jar(group: str, prefix: str) -> Path:
    jars = sorted((LocalConfig().jars_dir / group).glob(f"{prefix}*.jar"))
    assert jars, f"{prefix}*.jar missing from jars/lib/{group}: run `make setup`"
    return jars[0]
