"""Formatting the broker's storage works for every cluster id the stack can draw."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from flink_rag.local import kafka
from flink_rag.local.config import LocalConfig
from flink_rag.local.state import StateDir

pytestmark = pytest.mark.integration


def test_a_cluster_id_starting_with_a_dash_formats(tmp_path: Path, monkeypatch) -> None:
    # URL-safe base64 starts with "-" for 1 id in 64; Kafka's storage tool once read such an id
    # given as a separate argument as an unknown option and the stack failed to start.
    encode = base64.urlsafe_b64encode
    monkeypatch.setattr(kafka.base64, "urlsafe_b64encode", lambda b: b"-" + encode(b)[1:])
    state = StateDir(tmp_path)
    state.ensure()
    broker = kafka.Kafka(LocalConfig(home=tmp_path), state)
    broker.prepare()
    meta = (state.data_dir("kafka") / "meta.properties").read_text()
    cluster_ids = [
        line.split("=", 1)[1] for line in meta.splitlines() if line.startswith("cluster.id=")
    ]
    assert len(cluster_ids) == 1 and cluster_ids[0].startswith("-"), meta
