"""The stock SQL client against a session cluster whose TaskManagers hold the key and the
MongoDB URI: every option a SQL author can SET to send them elsewhere fails the job at start
with a message that says what to do, and a collector on this machine's LAN address (and on
loopback) never sees either. The TaskManagers' logs stay clean too."""

from __future__ import annotations

import os
import random
import socket
import subprocess
from pathlib import Path

import pytest
from capture_server import CaptureServer, lan_address

from flink_rag.local.config import LocalConfig
from flink_rag.local.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

FUNCTIONS_SQL = Path(__file__).resolve().parents[2] / "sql" / "functions.sql"
KEY = "sk-MARKER-session-key-8a1f"
URI_PASSWORD = "pw-MARKER-session-uri-3c"
P = "pipeline.global-job-parameters.flink-rag"


def spare_port() -> int:
    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no spare port")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A session cluster (1 TaskManager) started with the secrets in its environment."""
    home = tmp_path_factory.mktemp("secrets-cluster")
    config = LocalConfig(
        home=home,
        flink_rest_port=spare_port(),
        flink_rpc_port=spare_port(),
        flink_taskmanagers=1,
        flink_slots=1,
    )
    stack = Stack(config)
    saved = dict(os.environ)
    os.environ["OPENAI_API_KEY"] = KEY
    os.environ["MONGODB_URI"] = f"mongodb://app:{URI_PASSWORD}@127.0.0.1:9/"
    os.environ["FLINK_RAG_CACHE_DIR"] = "off"
    try:
        stack.up(["flink"], timeout=180)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        yield stack.components["flink"], home
    finally:
        stack.down(["flink"])


def run_job(flink, tmp_path: Path, name: str, sets: list[str]) -> str:
    job = tmp_path / f"{name}.sql"
    job.write_text(
        "\n".join(sets)
        + f"""
SET 'table.dml-sync' = 'true';
SET 'pipeline.name' = 'secrets-{name}';
CREATE TEMPORARY TABLE out_rows (p STRING, err STRING) WITH ('connector' = 'blackhole');
INSERT INTO out_rows SELECT p, LLM_COMPLETE(p).error FROM (VALUES ('p1'), ('p2')) AS t(p);
"""
    )
    cmd, env = flink.sql_client("-i", str(FUNCTIONS_SQL), "-f", str(job))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    return done.stdout + done.stderr


def test_no_set_sends_the_clusters_secrets_to_a_url_chosen_in_sql(cluster, tmp_path):
    flink, home = cluster
    address = lan_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to stand for a remote collector")
    with CaptureServer() as capture:
        remote = f"http://{address}:{capture.port}/v1"
        attempts = {
            "llm-base-url": (
                [f"SET '{P}.llm.base-url' = '{remote}';"],
                "not an endpoint of connection 'default'",
            ),
            "api-key-env": (
                [
                    f"SET '{P}.llm.api-key-env' = 'MONGODB_URI';",
                    f"SET '{P}.llm.base-url' = '{remote}';",
                ],
                "api-key-env' would let SQL choose where a key comes from",
            ),
            "embed-base-url": (
                [
                    f"SET '{P}.embed.provider' = 'openai';",
                    f"SET '{P}.embed.base-url' = '{remote}';",
                ],
                "'flink-rag.embed.base-url' is http://",
            ),
        }
        outputs = {}
        for name, (sets, expected) in attempts.items():
            outputs[name] = run_job(flink, tmp_path, name, sets)
            assert "[ERROR]" in outputs[name] and expected in outputs[name], outputs[name][-3000:]
        loopback = run_job(
            flink,
            tmp_path,
            "loopback",
            [f"SET '{P}.llm.base-url' = 'http://127.0.0.1:{capture.port}/v1';"],
        )
        assert "[ERROR]" not in loopback, loopback[-3000:]
        seen = list(capture.requests)
    # Only the loopback job called the collector, and without the key.
    assert seen and {r["authorization"] for r in seen} == {"Bearer not-needed-for-local-servers"}
    for text in [*outputs.values(), loopback, *(str(r) for r in seen)]:
        assert KEY not in text and URI_PASSWORD not in text
    logs = [p for p in home.rglob("*") if p.is_file() and ".log" in p.name]
    assert logs, "the cluster wrote no log"
    for path in logs:
        content = path.read_text(errors="replace")
        assert KEY not in content and URI_PASSWORD not in content, path.name
