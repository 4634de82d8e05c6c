"""One job, two LLM profiles and two embedding profiles on two operator connections pointing at
two load servers: every call reaches its own profile's server with its own connection's key
(counted per server), each answer has its own profile's shape, and a call naming an
undeclared profile gets a row error naming the declared ones."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flink_rag_bench.fake_responses import embedding_vector, marker_tag
from flink_rag_bench.server_process import LoadServerProcess

pytestmark = pytest.mark.flink

JOB = Path(__file__).with_name("profiles_job.py")
ROWS = 24
KEYS = {"fast": "sk-MARKER-fast-1a7", "strong": "sk-MARKER-strong-9c2"}


def connections_file(tmp_path: Path, servers: dict[str, LoadServerProcess]) -> Path:
    text = ""
    for name, server in servers.items():
        key_file = tmp_path / f"{name}-key"
        key_file.write_text(KEYS[name])
        text += (
            f'[connections.{name}]\nkind = "openai"\nendpoint = "{server.base_url}"\n'
            f'secret-file = "{key_file}"\n\n'
        )
    path = tmp_path / "connections.toml"
    path.write_text(text)
    return path


def test_each_profile_calls_its_own_server_with_its_own_key(tmp_path, load_server):
    strong = LoadServerProcess(latency_ms=0).start()
    try:
        servers = {"fast": load_server, "strong": strong}
        options = {
            "flink-rag.llm.triage.connection": "fast",
            "flink-rag.llm.triage.model": "small-model",
            "flink-rag.llm.escalation.connection": "strong",
            "flink-rag.llm.escalation.model": "large-model",
            "flink-rag.embed.queries.provider": "openai",
            "flink-rag.embed.queries.connection": "fast",
            "flink-rag.embed.queries.dimensions": "8",
            "flink-rag.embed.docs.provider": "openai",
            "flink-rag.embed.docs.connection": "strong",
            "flink-rag.embed.docs.dimensions": "16",
        }
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY",)}
        env.update(
            FLINK_RAG_CONNECTIONS=str(connections_file(tmp_path, servers)),
            # The cache on: answers of one profile must never serve another's calls.
            FLINK_RAG_CACHE_DIR=str(tmp_path / "cache"),
            FLINK_LOG_DIR=str(tmp_path / "log"),
        )
        done = subprocess.run(
            [sys.executable, str(JOB), json.dumps(options)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-3000:]
        fast_stats, strong_stats = load_server.stats(), strong.stats()
    finally:
        strong.stop()

    rows = [json.loads(line[4:]) for line in done.stdout.splitlines() if line.startswith("ROW ")]
    assert sorted(r[0] for r in rows) == list(range(ROWS))
    for _, prompt, triage, escalation, query_vector, doc_vector, ghost in rows:
        assert triage.startswith(marker_tag(prompt))  # plain text: the triage call
        assert marker_tag(prompt) in json.loads(escalation)["flight"]  # JSON: escalation
        np.testing.assert_allclose(query_vector, embedding_vector(prompt, 8), atol=1e-6)
        np.testing.assert_allclose(doc_vector, embedding_vector(prompt, 16), atol=1e-6)
        assert "'ghost' is not declared (this job has: default, escalation, triage)" in ghost

    # Each server saw exactly its profiles' calls: one chat call per row per LLM profile, every
    # text embedded once per embedding profile, nothing else.
    for stats in (fast_stats, strong_stats):
        assert stats["requests"]["/v1/chat/completions"] == {"200": ROWS}, stats["requests"]
        assert stats["items"]["/v1/embeddings"] == ROWS, stats["items"]
        assert set(stats["requests"]) == {"/v1/chat/completions", "/v1/embeddings"}
    for name, stats in (("fast", fast_stats), ("strong", strong_stats)):
        sent = hashlib.sha256(f"Bearer {KEYS[name]}".encode()).hexdigest()
        assert stats["authorization_sha256"] == sent, name
    for key in KEYS.values():
        assert key not in output
