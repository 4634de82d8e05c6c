"""Submit a pipeline file with Flink's `sql-client.sh -f` to the local standalone session
cluster, the way a Flink SQL user would: one script (functions.sql + the pipeline), the
package's wheel shipped with `-pyfs`, the Kafka connector with `-j`.

The submission is detached (`table.dml-sync` stays false): the job keeps running on the
cluster after the client exits; `SessionJob` watches and cancels it through the REST API.
The cluster's Python workers do not inherit this process's environment, so the provider
choices made through `FLINK_RAG_*` variables here become job parameters
(`flink_rag.udfs.config.env_options`).
Secrets are never copied: the cluster reads them from its own environment.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flink_rag.connectors.errors import FlinkRagError
from flink_rag.jobs.minicluster import kafka_jar
from flink_rag.jobs.rest import flink_rest
from flink_rag.sql import files as sql_files
from flink_rag.udfs.config import env_options

SUBMIT_TIMEOUT_S = 300.0  # the client starts a JVM and a Python process to validate the UDFs
CANCEL_TIMEOUT_S = 60.0
LOG_TAIL_LINES = 25
_JOB_ID = re.compile(r"Job ID:\s*([0-9a-f]{32})")
TERMINAL = ("FAILED", "CANCELED", "FINISHED")


def render_script(
    sql_file: str,
    params: Mapping[str, object],
    options: Mapping[str, str] | None = None,
    job_name: str = "",
    settings: Mapping[str, str] | None = None,
) -> str:
    """functions.sql + `sql_file` as one `sql-client.sh -f` script; `options` go into
    `pipeline.global-job-parameters` under the file's own `SET 'flink-rag.*'`s; `settings`
    (Flink's own keys, e.g. `python.fn-execution.bundle.size`) are SET first."""
    head = [f"SET 'pipeline.name' = '{sql_files.quote(job_name)}'"] if job_name else []
    head += [
        f"SET '{sql_files.quote(k)}' = '{sql_files.quote(v)}'" for k, v in (settings or {}).items()
    ]
    parts = [
        *head,
        *sql_files.statements("functions.sql", {}),
        *sql_files.statements(sql_file, params),
    ]
    return sql_files.for_sql_client(parts, options)


def job_name_prefix(sql_file: str) -> str:
    """What the `pipeline.name` of every job `submit` starts from `sql_file` begins with."""
    return f"flink-rag-{sql_file.removesuffix('.sql')}"


def client_args(script: Path, pyfiles: Path, kafka_jar: Path, python: str) -> list[str]:
    return [
        "-pyfs", str(pyfiles),
        "-pyexec", python,
        "-pyclientexec", python,
        "-j", str(kafka_jar),
        "-f", str(script),
    ]  # fmt: skip


@dataclass
class SessionJob:
    """A job on the session cluster, driven through its REST API.

    `get_job_status()` / `cancel()` mirror PyFlink's JobClient (futures with `.result()`), so
    code written for the mini-cluster path drives this one unchanged."""

    job_id: str
    rest_url: str
    script: Path
    log: Path

    def status(self) -> str:
        """The job's state, except that RUNNING waits for all its tasks (else DEPLOYING):
        a job is RUNNING on the cluster before its sources read anything."""
        job = flink_rest(self.rest_url, f"/jobs/{self.job_id}")
        state = str(job["state"])
        vertices = job.get("vertices", [])
        if state == "RUNNING" and not (
            vertices and all(v["status"] == "RUNNING" for v in vertices)
        ):
            return "DEPLOYING"
        return state

    def wait_running(self, timeout_s: float) -> None:
        """Until the job and all its tasks run; a failed job raises with where to look."""
        deadline = time.monotonic() + timeout_s
        state = "?"
        while time.monotonic() < deadline:
            state = self.status()
            if state == "RUNNING":
                return
            if state in TERMINAL:
                raise FlinkRagError(
                    f"job {self.job_id} is {state}; see {self.rest_url}/#/job/{self.job_id} "
                    "and the cluster logs (`flink-rag local status`)"
                )
            time.sleep(1.0)
        raise FlinkRagError(f"job {self.job_id} still {state} after {timeout_s:g} s")

    def cancel_job(self, timeout_s: float = CANCEL_TIMEOUT_S) -> None:
        cancel(self.job_id, self.rest_url, timeout_s)

    # -- JobClient look-alike ------------------------------------------------------------
    def get_job_status(self) -> _Done:
        return _Done(_State(self.status()))

    def cancel(self) -> _Done:
        self.cancel_job()
        return _Done(None)


@dataclass(frozen=True)
class _State:
    name: str


@dataclass(frozen=True)
class _Done:
    value: Any

    def result(self) -> Any:
        return self.value


def submit(
    sql_file: str,
    params: Mapping[str, object],
    *,
    options: Mapping[str, str] | None = None,
    flink: Any = None,
    timeout_s: float = SUBMIT_TIMEOUT_S,
    settings: Mapping[str, str] | None = None,
) -> SessionJob:
    """Render the script under the state dir, run `sql-client.sh -f` against the local session
    cluster (`flink`: the stack's FlinkCluster, default the standard one) and return the job.

    `options` come on top of `env_options()` (explicit wins); `settings` are Flink's own keys,
    SET at the top of the script."""
    from flink_rag.packaging import build_wheel

    if flink is None:
        from flink_rag.local.stack import Stack

        flink = Stack().components["flink"]
    run = uuid.uuid4().hex[:8]
    stem = sql_file.removesuffix(".sql")
    job_name = f"{job_name_prefix(sql_file)}-{run}"
    work = flink.state.home / "sql-client"
    work.mkdir(parents=True, exist_ok=True)
    script = work / f"{stem}-{run}.sql"
    log = work / f"{stem}-{run}.log"
    script.write_text(
        render_script(
            sql_file,
            params,
            {**env_options(dict(os.environ)), **(options or {})},
            job_name,
            settings,
        )
    )
    cmd, env = flink.sql_client(
        *client_args(script, build_wheel(), kafka_jar(flink.config), sys.executable)
    )
    rest_url = flink.rest_url()
    with open(log, "w", encoding="utf-8") as out:
        try:
            done = subprocess.run(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as err:
            raise FlinkRagError(
                f"sql-client.sh did not return within {timeout_s:g} s{_tail(log)}"
            ) from err
    output = log.read_text(encoding="utf-8", errors="replace")
    if done.returncode != 0 or "[ERROR]" in output:
        raise FlinkRagError(f"sql-client.sh exited {done.returncode}{_tail(log)}")
    ids = _JOB_ID.findall(output)
    job_id = ids[-1] if ids else _find_job(rest_url, job_name)
    if job_id is None:
        raise FlinkRagError(f"sql-client.sh printed no job id and {rest_url} lists no {job_name}")
    return SessionJob(job_id, rest_url, script, log)


def cancel(job_id: str, rest_url: str, timeout_s: float = CANCEL_TIMEOUT_S) -> None:
    """Cancel through the REST API and wait until the job is no longer running."""
    with contextlib.suppress(FlinkRagError):  # already terminal: the state below tells
        flink_rest(rest_url, f"/jobs/{job_id}?mode=cancel", method="PATCH")
    deadline = time.monotonic() + timeout_s
    state = "?"
    while time.monotonic() < deadline:
        state = flink_rest(rest_url, f"/jobs/{job_id}")["state"]
        if state in TERMINAL:
            return
        time.sleep(0.5)
    raise FlinkRagError(f"job {job_id} still {state} {timeout_s:g} s after cancel")


def _find_job(rest_url: str, job_name: str) -> str | None:
    jobs = flink_rest(rest_url, "/jobs/overview").get("jobs", [])
    named = [j for j in jobs if j.get("name") == job_name]
    return max(named, key=lambda j: j.get("start-time", 0))["jid"] if named else None


def _tail(log: Path) -> str:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
    return ":\n  " + "\n  ".join(lines) + f"\n(full output: {log})"
