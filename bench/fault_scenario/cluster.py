"""The faults that need real processes: a Flink session cluster whose TaskManager is killed,
and the local Kafka broker stopped and started again.

`session_cluster` starts a private standalone cluster (its own state dir and ports, so a
stack's own Flink is never touched) with the stack's FlinkCluster component; every daemon
runs supervised, so a kill is recorded like any other exit. `kill_taskmanager` SIGKILLs the
JVM of a TaskManager that runs tasks of the job (found over the REST API), as an OOM killer
or a lost machine would. `restart_broker` stops the stack's broker and starts it again
through the same component code: same port, same data directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from flink_rag.connectors.errors import FlinkRagError
from flink_rag.jobs.rest import flink_rest
from flink_rag.local.config import DEFAULT_TIMEOUT_S, LocalConfig, port_offset
from flink_rag.local.flink_cluster import FlinkCluster
from flink_rag.local.stack import Stack

# The fault cluster's own ports (shifted by FLINK_RAG_PORT_OFFSET like the stack's).
REST_PORT = 18091
RPC_PORT = 18133
REQUEST_TIMEOUT_S = 5.0
# Bounded restarts: enough for a lost TaskManager (detected within ~2 heartbeats) and a
# broker restart; a job that cannot come back within them fails for good and says so.
RESTART_ATTEMPTS = 20
RESTART_DELAY = "3 s"
# A killed TaskManager is declared lost after heartbeat.timeout (default 50 s); until then
# the JobManager offers its dead slots and each restart attempt fails on them.
HEARTBEATS = {"heartbeat.interval": "2000", "heartbeat.timeout": "15000"}


class ClusterFaultError(FlinkRagError):
    """A fault could not be applied (no TaskManager runs the job, the broker did not return)."""


@dataclass
class SessionCluster:
    flink: FlinkCluster

    @property
    def rest(self) -> str:
        return self.flink.rest_url()

    def job_options(self, parallelism: int) -> dict[str, str]:
        """Table config that submits to this cluster, with a bounded restart strategy."""
        c = self.flink.config
        return {
            "execution.target": "remote",
            "rest.address": c.host,
            "rest.port": str(c.flink_rest_port),
            "parallelism.default": str(parallelism),
            "restart-strategy.type": "fixed-delay",
            "restart-strategy.fixed-delay.attempts": str(RESTART_ATTEMPTS),
            "restart-strategy.fixed-delay.delay": RESTART_DELAY,
        }

    def _get(self, path: str) -> dict:
        return flink_rest(self.rest, path, timeout_s=REQUEST_TIMEOUT_S)

    def job_state(self, job_id: str) -> str:
        return str(self._get(f"/jobs/{job_id}")["state"])

    def running_tasks(self, job_id: str) -> int:
        """Subtasks of the job in state RUNNING."""
        job = self._get(f"/jobs/{job_id}")
        return sum(int(v.get("tasks", {}).get("RUNNING", 0)) for v in job["vertices"])

    def all_running(self, job_id: str) -> bool:
        job = self._get(f"/jobs/{job_id}")
        if job["state"] != "RUNNING":
            return False
        return all(v["status"] == "RUNNING" for v in job["vertices"])

    def restarts(self, job_id: str) -> int:
        """How often tasks of the job were restored from a checkpoint (the checkpoint
        statistics' `restored` count). With region failover a lost TaskManager restarts
        the regions it ran, which Flink 2.3's `numRestarts` metric (full restarts) omits."""
        counts = self._get(f"/jobs/{job_id}/checkpoints").get("counts", {})
        return int(counts.get("restored", 0))

    def completed_checkpoints(self, job_id: str) -> int:
        counts = self._get(f"/jobs/{job_id}/checkpoints").get("counts", {})
        return int(counts.get("completed", 0))

    def exception_history(self, job_id: str, entries: int = 5) -> str:
        """The job's latest failures as Flink recorded them (REST `exceptions`): when, where
        (task and TaskManager) and the first lines of each stack trace; for a failure report."""
        history = self._get(f"/jobs/{job_id}/exceptions").get("exceptionHistory", {})
        lines = []
        for entry in history.get("entries", [])[:entries]:
            when = time.strftime("%H:%M:%S", time.gmtime(int(entry.get("timestamp", 0)) / 1000))
            where = entry.get("taskName") or "job"
            host = entry.get("endpoint") or entry.get("taskManagerId") or ""
            trace = str(entry.get("stacktrace", "")).splitlines()[:12]
            lines += [f"{when} UTC {entry.get('exceptionName', '?')} in {where} {host}", *trace]
        return "\n".join(lines) or f"job {job_id}: no exception recorded"

    def wait_until(self, what: str, check: Callable[[], bool], timeout_s: float) -> float:
        """Poll `check()` until true; returns the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            with contextlib.suppress(FlinkRagError, KeyError):
                if check():
                    return time.monotonic() - started
            time.sleep(0.5)
        raise ClusterFaultError(f"{what} not reached within {timeout_s:.0f}s; see {self.rest}")

    def _hosts(self, job_id: str) -> set[int]:
        """RPC ports of the TaskManagers that run subtasks of the job."""
        ports = set()
        for vertex in self._get(f"/jobs/{job_id}")["vertices"]:
            tms = self._get(f"/jobs/{job_id}/vertices/{vertex['id']}/taskmanagers")
            for tm in tms.get("taskmanagers", []):
                # "taskmanager-id" is "<host>:<rpc port>-<suffix>" on a standalone cluster.
                ports.add(int(tm["taskmanager-id"].split("-", 1)[0].rsplit(":", 1)[1]))
        return ports

    def kill_taskmanager(self, job_id: str) -> str:
        """SIGKILL the JVM (and its Python workers) of one TaskManager that runs the job;
        returns its record name."""
        wanted = self._hosts(job_id)
        for name in self.flink._record_names()[1:]:  # [0] is the JobManager
            record = self.flink.state.read_pid(name)
            if record is None:
                continue
            with contextlib.suppress(psutil.Error):
                for proc in psutil.Process(record.pid).children(recursive=True):
                    if proc.name() != "java":
                        continue
                    listening = {
                        c.laddr.port for c in proc.net_connections("tcp") if c.status == "LISTEN"
                    }
                    if listening & wanted:
                        # The JVM and its Python workers, as a lost machine or container.
                        tree = [proc, *proc.children(recursive=True)]
                        for victim in tree:
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(victim.pid, signal.SIGKILL)
                        return name
        raise ClusterFaultError(
            f"no TaskManager of {self.rest} runs job {job_id} (its RPC ports: {sorted(wanted)})"
        )


@contextlib.contextmanager
def session_cluster(
    taskmanagers: int, slots: int, keep_logs: Path | None = None
) -> Iterator[SessionCluster]:
    """A private session cluster, started with this process's environment (the workers read
    their endpoints and secrets from it) and stopped at the end of the block; its logs are
    copied to `keep_logs` first, if given (the state dir is removed)."""
    with tempfile.TemporaryDirectory(prefix="flink-rag-faults-cluster-") as home:
        config = LocalConfig(
            home=Path(home),
            flink_rest_port=REST_PORT + port_offset(),
            flink_rpc_port=RPC_PORT + port_offset(),
            flink_taskmanagers=taskmanagers,
            flink_slots=slots,
            flink_python_executable=sys.executable,
            flink_settings=dict(HEARTBEATS),
        )
        stack = Stack(config)
        try:
            stack.up(["flink"], timeout=DEFAULT_TIMEOUT_S, owner="faults")
            flink = stack.components["flink"]
            assert isinstance(flink, FlinkCluster)
            yield SessionCluster(flink)
        finally:
            stack.down(["flink"])
            if keep_logs is not None:
                shutil.copytree(stack.state.logs_dir, keep_logs, dirs_exist_ok=True)


def restart_broker(down_s: float = 5.0, timeout_s: float = 120.0) -> float:
    """Stop the stack's Kafka broker, keep it down `down_s`, start it again with the same
    config and data dir; returns the seconds from the stop until it answers again."""
    stack = Stack()
    kafka = stack.components["kafka"]
    if kafka.external():
        raise ClusterFaultError(
            "Kafka is external (KAFKA_BOOTSTRAP_SERVERS is set); cannot restart it"
        )
    owner = kafka.owner() or "tests"
    started = time.monotonic()
    with stack.state.locked():
        if not kafka.stop():
            raise ClusterFaultError("the stack's Kafka broker is not running; nothing to restart")
    time.sleep(down_s)
    stack.up(["kafka"], timeout=timeout_s, owner=owner)
    return time.monotonic() - started
