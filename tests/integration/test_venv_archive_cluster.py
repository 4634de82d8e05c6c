"""The venv archive on a cluster whose TaskManagers lack flink-rag's dependencies.

A private session cluster with 2 TaskManagers (1 slot each) whose `python.executable` is a
venv holding apache-flink and nothing else. A stock `sql-client.sh` job ships
`flink-rag package --venv-archive`'s archive with `-pyarch ...#venv -pyexec venv/bin/python`
and runs EMBED (provider openai, the local MiniLM model behind /v1/embeddings),
VECTOR_LOOKUP (MongoDB stand-in) and LLM_COMPLETE_JSON (local LLM server) at parallelism 2.
The print sink's lines, in each TaskManager's .out file, are the rows: both TaskManagers
must have produced some, and every row must hold the values computed here directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
from embeddings_endpoint import EmbeddingsEndpoint
from pymongo import MongoClient

from flink_rag import packaging
from flink_rag.connectors.mongodb_index import create_vector_index
from flink_rag.local.config import LLM_MODEL_ALIAS, LocalConfig
from flink_rag.local.session import shared_stack
from flink_rag.local.stack import Stack
from flink_rag.sql.files import for_sql_client

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

PYFLINK = "apache-flink==2.3.0"
SUBMIT_TIMEOUT_S = 600.0
DOCS = {
    "d1": "Cats and dogs may travel in the cabin in an approved carrier.",
    "d2": "Each passenger may check one bag of up to 23 kg.",
    "d3": "Cancelled flights are refunded to the original form of payment.",
    "d4": "Passengers of a cancelled flight are rebooked on the next flight.",
}
QUESTIONS = {
    "q1": "can my cat come on board",
    "q2": "how heavy may my suitcase be",
    "q3": "I want my money back for the cancelled flight",
    "q4": "my flight was cancelled, which flight do I get now",
    "q5": "may I bring a dog",
    "q6": "checked bag weight limit",
}
SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {"passage": {"type": "string", "enum": sorted(DOCS)}},
        "required": ["passage"],
        "additionalProperties": False,
    }
)


def spare_port() -> int:
    """A free port below the kernel's ephemeral range (no outgoing connection takes it)."""
    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no spare port found")


def bare_pyflink_python() -> Path:
    """A venv with PyFlink only (pinned like the project), kept between runs: it stands for a
    cluster image that has Python and PyFlink but none of flink-rag's dependencies."""
    constraints = packaging.REPO_ROOT / "constraints.txt"
    key = hashlib.sha256(f"{PYFLINK}\n{constraints.read_text()}".encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "flink-rag"
    venv = cache / "test-venvs" / f"pyflink-only-{key}"
    python = venv / "bin" / "python"
    if not (venv / ".complete").is_file():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([packaging.base_python(), "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-c", str(constraints), PYFLINK],
            check=True,
            timeout=1200,
        )
        (venv / ".complete").write_text(PYFLINK)
    return python


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    wheel = packaging.build_wheel(out)
    return packaging.build_venv_archive(wheel, out / packaging.ARCHIVE_NAME)


@pytest.fixture(scope="module")
def bare_cluster(tmp_path_factory):
    """2 TaskManagers x 1 slot, python.executable = the PyFlink-only venv. Secrets reach the
    TaskManagers as files named by *_FILE variables, as in docker/ and deploy/k8s/."""
    python = bare_pyflink_python()
    home = tmp_path_factory.mktemp("bare-cluster")
    config = LocalConfig(
        home=home,
        flink_rest_port=spare_port(),
        flink_rpc_port=spare_port(),
        flink_taskmanagers=2,
        flink_slots=1,
        flink_python_executable=str(python),
    )
    stack = Stack(config)
    with shared_stack(["mongo", "llm"]) as ep:
        secrets = home / "secrets"
        secrets.mkdir()
        (secrets / "mongodb-uri").write_text(ep.mongodb_uri)
        (secrets / "openai-api-key").write_text("sk-local-not-a-secret")
        saved = dict(os.environ)
        os.environ.pop("MONGODB_URI", None)
        os.environ.pop("OPENAI_API_KEY", None)
        os.environ["MONGODB_URI_FILE"] = str(secrets / "mongodb-uri")
        os.environ["OPENAI_API_KEY_FILE"] = str(secrets / "openai-api-key")
        try:
            stack.up(["flink"], timeout=180)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        try:
            yield stack.components["flink"], ep, python
        finally:
            stack.down(["flink"])


@pytest.fixture(scope="module")
def docs(bare_cluster):
    _, ep, _ = bare_cluster
    database = f"archive_test_{uuid.uuid4().hex[:8]}"
    client = MongoClient(ep.mongodb_uri, serverSelectionTimeoutMS=5000)
    with EmbeddingsEndpoint() as embeddings:
        vectors = embeddings.embed(list(DOCS.values()))
        collection = client[database]["docs"]
        collection.insert_many(
            {"_id": i, "content": t, "embedding": v}
            for (i, t), v in zip(DOCS.items(), vectors, strict=True)
        )
        create_vector_index(collection, "docs_vector_index", "embedding", 384, mode="scan")
        yield database, dict(zip(DOCS, vectors, strict=True)), embeddings
    client.drop_database(database)
    client.close()


def job_script(database: str, embed_url: str, llm_url: str, name: str) -> str:
    # A parallel bounded source (VALUES runs at parallelism 1, and the operators after it too):
    # datagen's sequence splits 1..N between the two source subtasks.
    cases = " ".join(
        f"WHEN {i} THEN CAST('{q}' AS STRING)" for i, q in enumerate(QUESTIONS.values(), 1)
    )
    body = [
        f"SET 'pipeline.name' = '{name}'",
        "SET 'parallelism.default' = '2'",
        "SET 'table.dml-sync' = 'true'",
        "CREATE TEMPORARY TABLE answers (line STRING) WITH ("
        f"'connector' = 'print', 'print-identifier' = '{name}')",
        "CREATE TEMPORARY TABLE seq (n INT) WITH ('connector' = 'datagen', "
        "'fields.n.kind' = 'sequence', 'fields.n.start' = '1', "
        f"'fields.n.end' = '{len(QUESTIONS)}')",
        "CREATE TEMPORARY VIEW questions AS SELECT CONCAT('q', CAST(n AS STRING)) AS id, "
        f"CASE n {cases} END AS question FROM seq",
        # EMBED (a pandas UDF) in its own view: written inside LATERAL TABLE(VECTOR_LOOKUP(...))
        # the planner runs it row by row inside the table function's operator, and it fails.
        "CREATE TEMPORARY VIEW embedded AS SELECT id, question, EMBED(question) AS v "
        "FROM questions",
        "INSERT INTO answers SELECT JSON_OBJECT('id' VALUE id, 'doc' VALUE doc_id, "
        "'score' VALUE score, 'lookup_error' VALUE error, 'answer' VALUE r.text, "
        "'llm_error' VALUE r.error) FROM ("
        "  SELECT q.id, h.doc_id, h.score, h.error, LLM_COMPLETE_JSON("
        "    CONCAT('Passage ', h.doc_id, ': ', h.content, ' Question: ', q.question), "
        "    'Name the passage that answers the question.', "
        f"    '{SCHEMA}') AS r"
        "  FROM embedded AS q"
        "  LEFT JOIN LATERAL TABLE(VECTOR_LOOKUP('docs', q.v, 1, "
        "    CAST(NULL AS STRING))) AS h(doc_id, score, content, metadata, error) ON TRUE"
        ")",
    ]
    options = {
        "flink-rag.embed.provider": "openai",
        "flink-rag.embed.base-url": embed_url,
        "flink-rag.embed.model": "all-MiniLM-L6-v2",
        "flink-rag.llm.base-url": llm_url,
        "flink-rag.llm.model": LLM_MODEL_ALIAS,
        "flink-rag.stores": "docs",
        "flink-rag.store.docs.database": database,
        "flink-rag.store.docs.mode": "scan",
    }
    from flink_rag.sql.files import statements

    return for_sql_client([*statements("functions.sql", {}), *body], options)


def expected_doc(question_vector, doc_vectors) -> tuple[str, float]:
    q = np.asarray(question_vector, dtype=np.float64)
    scores = {}
    for doc_id, v in doc_vectors.items():
        d = np.asarray(v, dtype=np.float64)
        scores[doc_id] = (1 + float(q @ d / (np.linalg.norm(q) * np.linalg.norm(d)))) / 2
    best = max(scores, key=lambda k: scores[k])
    return best, scores[best]


def printed_rows(log_dir: Path, name: str) -> dict[str, list[dict]]:
    """The print sink's rows per TaskManager console file (each runs in the foreground under the
    stack's supervisor, its stdout in `flink-taskmanager[-N].out`)."""
    line = re.compile(rf"^{re.escape(name)}(?::\d+)?> \+I\[(.*)\]$")
    rows: dict[str, list[dict]] = {}
    for out in sorted(log_dir.glob("flink-taskmanager*.out")):
        for text in out.read_text(errors="replace").splitlines():
            m = line.match(text)
            if m:
                rows.setdefault(out.name, []).append(json.loads(m.group(1)))
    return rows


def test_archive_job_on_taskmanagers_without_our_dependencies(archive, bare_cluster, docs):
    flink, ep, bare_python = bare_cluster
    database, doc_vectors, embeddings = docs

    # The TaskManagers' Python has PyFlink but not what flink-rag needs.
    probe = "import pyflink, importlib.util as u; print(u.find_spec('openai') is None)"
    assert subprocess.check_output([str(bare_python), "-c", probe], text=True).strip() == "True"

    name = f"archive-{uuid.uuid4().hex[:8]}"
    script = flink.state.home / f"{name}.sql"
    script.write_text(job_script(database, embeddings.base_url, ep.llm_base_url, name))
    cmd, env = flink.sql_client(
        *packaging.client_args(archive), "-pyclientexec", sys.executable, "-f", str(script)
    )
    done = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=SUBMIT_TIMEOUT_S, check=False
    )
    assert done.returncode == 0 and "[ERROR]" not in done.stdout, done.stdout[-3000:]

    rows = printed_rows(flink.log_dir, name)
    # Parallelism 2 on 2 TaskManagers with one slot each: both printed rows.
    assert len(rows) == 2, (rows, sorted(f.name for f in flink.log_dir.iterdir()))
    by_id = {r["id"]: r for tm_rows in rows.values() for r in tm_rows}
    assert sorted(by_id) == sorted(QUESTIONS)
    assert sum(len(r) for r in rows.values()) == len(QUESTIONS)

    question_vectors = embeddings.embed(list(QUESTIONS.values()))
    for (qid, _), vector in zip(QUESTIONS.items(), question_vectors, strict=True):
        row = by_id[qid]
        doc_id, score = expected_doc(vector, doc_vectors)
        assert row["lookup_error"] is None and row["llm_error"] is None, row
        assert row["doc"] == doc_id, (qid, row)
        assert row["score"] == pytest.approx(score, abs=1e-4)
        assert json.loads(row["answer"])["passage"] in DOCS

    job = _job(flink.rest_url(), name)
    assert job["state"] == "FINISHED"
    python_vertices = [v for v in job["vertices"] if "Python" in v["name"]]
    assert python_vertices and all(v["parallelism"] == 2 for v in python_vertices)


def _job(rest_url: str, name: str) -> dict:
    with urllib.request.urlopen(f"{rest_url}/jobs/overview", timeout=10) as resp:
        [jid] = [j["jid"] for j in json.load(resp)["jobs"] if j["name"] == name]
    with urllib.request.urlopen(f"{rest_url}/jobs/{jid}", timeout=10) as resp:
        return json.load(resp)
