"""A SQL author on a shared cluster tries every option they can set (per-key job parameters
as `SET` makes them, and configure()) to send the cluster's OpenAI key or its MongoDB URI to a
URL of their choosing: a capture server on this machine's LAN address and on loopback. The
key and the URI reach neither; each attempt fails at job start with a message that says
what to do, or (loopback) calls without the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from capture_server import CaptureServer, lan_address

pytestmark = pytest.mark.flink

KEY = "sk-MARKER-cluster-key-5e2d"
URI_PASSWORD = "pw-MARKER-atlas-91c"
URI = f"mongodb://app:{URI_PASSWORD}@127.0.0.1:9/?serverSelectionTimeoutMS=200"
JOB = Path(__file__).with_name("attack_job.py")


def attacks(remote: str, local: str) -> list[dict]:
    llm, embed, store = "flink-rag.llm.", "flink-rag.embed.", "flink-rag.store.docs."
    tries = {
        "llm-base-url": {f"{llm}base-url": remote},
        "llm-base-url-case": {f"{llm}base-url": remote.upper().replace("/V1", "/v1/")},
        "llm-base-url-userinfo": {f"{llm}base-url": remote.replace("://", "://api.openai.com@")},
        "llm-on-named-connection": {f"{llm}connection": "prod", f"{llm}base-url": remote},
        "llm-key-from-mongodb-uri": {f"{llm}api-key-env": "MONGODB_URI", f"{llm}base-url": remote},
        "llm-on-mongodb-connection": {f"{llm}connection": "atlas"},
        "embed-base-url": {f"{embed}provider": "openai", f"{embed}base-url": remote},
        "store-uri": {f"{store}uri": remote.replace("http", "mongodb")},
        "store-on-openai-connection": {f"{store}connection": "prod"},
        # The same through a model profile (validated at job start even if no call uses it).
        "llm-profile-base-url": {f"{llm}evil.base-url": remote},
        "llm-profile-on-named-connection": {
            f"{llm}evil.connection": "prod",
            f"{llm}evil.base-url": remote,
        },
        "embed-profile-base-url": {
            f"{embed}evil.provider": "openai",
            f"{embed}evil.base-url": remote,
        },
        "llm-loopback": {f"{llm}base-url": local},
    }
    return [
        {"name": f"{how}:{name}", "how": how, "options": options}
        for how in ("set", "configure")
        for name, options in tries.items()
    ]


def test_no_option_a_sql_author_sets_sends_the_key_or_the_uri_elsewhere(tmp_path, load_server):
    address = lan_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to stand for a remote collector")
    key_file = tmp_path / "prod-key"
    key_file.write_text(KEY)
    connections = tmp_path / "connections.toml"
    connections.write_text(
        f'[connections.prod]\nkind = "openai"\nendpoint = "{load_server.base_url}"\n'
        f'secret-file = "{key_file}"\n\n'
        '[connections.atlas]\nkind = "mongodb"\nsecret-env = "ATLAS_URI"\n'
    )
    with CaptureServer() as capture:
        remote = f"http://{address}:{capture.port}/v1"
        local = f"http://127.0.0.1:{capture.port}/v1"
        env = {k: v for k, v in os.environ.items() if k != "LOG4J_PROPERTIES"}
        env.update(
            OPENAI_API_KEY=KEY,
            MONGODB_URI=URI,
            ATLAS_URI=URI,
            FLINK_RAG_CONNECTIONS=str(connections),
            FLINK_RAG_CACHE_DIR="off",
            FLINK_LOG_DIR=str(tmp_path / "log"),
        )
        done = subprocess.run(
            [sys.executable, str(JOB), json.dumps(attacks(remote, local))],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-3000:]
        outcomes = dict(
            line.removeprefix("OUTCOME ").split(" ", 1)
            for line in done.stdout.splitlines()
            if line.startswith("OUTCOME ")
        )
        seen = list(capture.requests)
    assert len(outcomes) == 26, output[-3000:]
    expected = {
        "llm-base-url": "not an endpoint of connection 'default'",
        "llm-base-url-case": "not an endpoint of connection 'default'",
        "llm-base-url-userinfo": "not a plain http(s) base URL",
        "llm-on-named-connection": "not an endpoint of connection 'prod'",
        "llm-key-from-mongodb-uri": "api-key-env' would let SQL choose",
        "llm-on-mongodb-connection": "of kind 'mongodb'; this function needs one of kind 'openai'",
        "embed-base-url": "'flink-rag.embed.base-url' is http://",
        "store-uri": "would put a secret into SQL text",
        "store-on-openai-connection": "of kind 'openai'; this function needs one of kind 'mongodb'",
        "llm-profile-base-url": "not an endpoint of connection 'default'",
        "llm-profile-on-named-connection": "not an endpoint of connection 'prod'",
        "embed-profile-base-url": "'flink-rag.embed.evil.base-url' is http://",
    }
    for how in ("set", "configure"):
        for name, text in expected.items():
            outcome = outcomes[f"{how}:{name}"]
            assert outcome.startswith("error ") and text in outcome, (name, outcome)
        # Loopback (a local or test server): called, but without the key.
        assert outcomes[f"{how}:llm-loopback"].startswith("rows "), outcomes
    # Only the loopback jobs reached the collector, with the placeholder as the bearer token.
    assert seen, "the loopback jobs never called the capture server"
    assert {r["authorization"] for r in seen} == {"Bearer not-needed-for-local-servers"}
    for request in seen:
        assert KEY not in json.dumps(request) and URI_PASSWORD not in json.dumps(request)
    assert KEY not in output and URI_PASSWORD not in output
    for path in (tmp_path / "log").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert KEY not in text and URI_PASSWORD not in text, path.name
