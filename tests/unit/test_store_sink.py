"""The MongoDB sink connector config, the store CLI's arguments, the Connect worker's
properties, and the README recipe being the shipped SQL file."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from flink_rag.local.config import LocalConfig
from flink_rag.local.connect import KafkaConnect
from flink_rag.local.state import StateDir
from flink_rag.sql import files as sql_files
from flink_rag.stores import sink as store_sink
from flink_rag.stores import sink_cli as store_cli

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def spec(**kw) -> store_sink.SinkSpec:
    base = dict(
        store="docs",
        topic="docs_vectors",
        database="db",
        collection="docs",
        dead_letter="docs_vectors_sink_dead_letter",
    )
    return store_sink.SinkSpec(**{**base, **kw})


def test_connector_config_keys_ids_replaces_deletes_and_dead_letters():
    config = store_sink.connector_config(spec())
    assert config["connector.class"] == "com.mongodb.kafka.connect.MongoSinkConnector"
    assert config["topics"] == "docs_vectors"
    assert (config["database"], config["collection"]) == ("db", "docs")
    assert config["transforms.keyToId.type"].endswith("HoistField$Key")
    assert config["transforms.keyToId.field"] == "_id"
    assert config["document.id.strategy"].endswith("ProvidedInKeyStrategy")
    assert config["writemodel.strategy"].endswith("ReplaceOneDefaultStrategy")
    assert config["delete.on.null.values"] == "true"
    assert config["errors.tolerance"] == "all"
    assert config["errors.deadletterqueue.topic.name"] == "docs_vectors_sink_dead_letter"
    assert config["errors.deadletterqueue.topic.replication.factor"] == "1"
    assert all(isinstance(v, str) for v in config.values())


def test_connector_config_never_holds_the_uri_only_a_reference():
    config = store_sink.connector_config(spec())
    assert config["connection.uri"] == "${env:MONGODB_URI}"
    assert not any("mongodb://" in v or "mongodb+srv://" in v for v in config.values())


def test_cli_defaults_follow_the_store_name(monkeypatch):
    monkeypatch.delenv("FLINK_RAG_MONGODB_DATABASE", raising=False)
    args = argparse.Namespace(
        store="faq",
        topic=None,
        database=None,
        collection=None,
        dead_letter_topic=None,
        replication_factor=3,
    )
    got = store_cli.spec_from_args(args)
    assert (got.topic, got.collection, got.database) == ("faq_vectors", "faq", "flink_rag")
    assert got.dead_letter == "faq_vectors_sink_dead_letter"
    assert got.name == "flink-rag-faq-sink"
    assert store_sink.connector_config(got)["errors.deadletterqueue.topic.replication.factor"] == (
        "3"
    )


@pytest.mark.parametrize(
    ("status", "ok"),
    [
        ({"connector": {"state": "RUNNING"}, "tasks": [{"state": "RUNNING"}]}, True),
        ({"connector": {"state": "RUNNING"}, "tasks": [{"state": "FAILED"}]}, False),
        ({"connector": {"state": "RUNNING"}, "tasks": []}, False),
        (None, False),
    ],
)
def test_running_needs_the_connector_and_every_task(status, ok):
    assert store_cli.running(status) is ok


def test_worker_resolves_only_mongodb_uri_from_its_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("MONGODB_URI", raising=False)
    config = LocalConfig(home=tmp_path, kafka_port=1001, mongo_port=1002, connect_port=1003)
    worker = KafkaConnect(config, StateDir(tmp_path))
    props = dict(
        line.split("=", 1) for line in worker.worker_properties().splitlines() if "=" in line
    )
    assert props["bootstrap.servers"] == "127.0.0.1:1001"
    assert props["listeners"] == "http://127.0.0.1:1003"
    assert props["config.providers.env.class"].endswith("EnvVarConfigProvider")
    assert props["config.providers.env.param.allowlist.pattern"] == "^MONGODB_URI$"
    assert worker.env()["MONGODB_URI"] == "mongodb://127.0.0.1:1002/"
    monkeypatch.setenv("MONGODB_URI", "mongodb+srv://u:p@example.net/")
    assert worker.env()["MONGODB_URI"] == "mongodb+srv://u:p@example.net/"
    assert "u:p" not in worker.describe() and "u:p" not in worker.worker_properties()


def test_readme_recipe_is_the_shipped_sql_file():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Index your own documents", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1
    shipped = sql_files.read("ingest_documents.sql")
    assert sql_files.split_statements(blocks[0]) == sql_files.split_statements(shipped)
