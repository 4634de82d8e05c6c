"""A key in the workers' environment, in the env form and the file form, appears in no log
file, output row, plan, exception or test output of a job that uses it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.flink

MARKER = "sk-MARKER-7f3c9e1d2b"
JOB = Path(__file__).with_name("secrets_job.py")
README_JOB = Path(__file__).with_name("readme_job.py")


def _run_job(tmp_path: Path, env_update: dict[str, str], base_url: str, job: Path = JOB) -> str:
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    drop = ("OPENAI_API_KEY", "LOG4J_PROPERTIES", "_python_worker_execution_mode")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    # The workers' `python` (PyFlink's default python.executable) is this venv's.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["FLINK_RAG_CACHE_DIR"] = "off"  # every row calls the server, so the key is sent
    env.update(env_update)
    # The operator's endpoint for the key (the default connection): the job's base-url matches
    # it, so the key goes there and nowhere else.
    env["FLINK_RAG_LLM_BASE_URL"] = base_url
    env["FLINK_LOG_DIR"] = str(log_dir)  # this job's JVM and worker logs, nothing else
    done = subprocess.run(
        [sys.executable, str(job), base_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    logs = list(log_dir.rglob("*"))
    assert any(p.suffix == ".log" and p.stat().st_size > 0 for p in logs), "no log written"
    for path in logs:
        if path.is_file():
            assert MARKER not in path.read_text(errors="replace"), f"key in {path.name}"
    return output


@pytest.mark.parametrize("form", ["env", "file"])
def test_the_key_reaches_the_provider_and_no_log_row_or_plan(tmp_path, load_server, form):
    if form == "env":
        secret = {"OPENAI_API_KEY": MARKER}
    else:
        key_file = tmp_path / "openai-key"
        key_file.write_text(MARKER + "\n")
        secret = {"OPENAI_API_KEY_FILE": str(key_file)}
    output = _run_job(tmp_path, secret, load_server.base_url)
    rows = [line for line in output.splitlines() if line.startswith("ROW")]
    assert len(rows) == 3, output[-2000:]
    assert all("None]" in row and "'p" in row for row in rows), rows  # answers, no errors
    assert "PLAN" in output
    assert MARKER not in output
    # The key was really sent: the server saw it as the bearer token.
    sent = hashlib.sha256(f"Bearer {MARKER}".encode()).hexdigest()
    assert load_server.stats()["authorization_sha256"] == sent


def test_the_readme_pyflink_path_leaves_the_key_in_no_log(tmp_path, load_server):
    """A user's program as the README shows it (TableEnvironment.create, register, configure;
    no project runner, no log settings) with the key in its environment: PyFlink's stock log
    configuration would print the workers' environment; register() turns that logger off."""
    output = _run_job(tmp_path, {"OPENAI_API_KEY": MARKER}, load_server.base_url, README_JOB)
    rows = [line for line in output.splitlines() if line.startswith("ROW")]
    assert len(rows) == 3 and all("None]" in row for row in rows), output[-2000:]
    assert MARKER not in output
    sent = hashlib.sha256(f"Bearer {MARKER}".encode()).hexdigest()
    assert load_server.stats()["authorization_sha256"] == sent
