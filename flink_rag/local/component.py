"""The contract every local component fulfils; `stack.py` drives components only through it."""

from __future__ import annotations

import abc
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from flink_rag.local import process
from flink_rag.local.config import LocalConfig
from flink_rag.local.errors import PortInUseError
from flink_rag.local.exits import describe_exit, read_exit
from flink_rag.local.state import PidRecord, StateDir

PROBE_TIMEOUT_S = 5.0


class Component(abc.ABC):
    """One background process (or a few, for Flink) with a log, a pid file and a readiness probe.

    Subclasses give the command, the ports and the probe; `start`/`pids`/`stop` work from
    pid files and may be overridden when a component starts through its own scripts.
    """

    name: str
    #: Env var that points clients at an outside service instead; then nothing is started.
    external_env: str | None = None
    #: How long `status` waits for an answer.
    status_timeout: float = 10.0

    def __init__(self, config: LocalConfig, state: StateDir):
        self.config = config
        self.state = state

    # -- to implement ---------------------------------------------------------------------
    @abc.abstractmethod
    def ports(self) -> Sequence[int]:
        """Loopback ports this component listens on."""

    @abc.abstractmethod
    def check_prereqs(self) -> None:
        """Raise PrerequisiteError with a one-line fix."""

    @abc.abstractmethod
    def command(self) -> Sequence[str]:
        """The command line; it must contain `marker()`."""

    @abc.abstractmethod
    def probe(self, timeout: float = PROBE_TIMEOUT_S) -> str:
        """Make a real request; return a short description of the answer or raise."""

    def prepare(self) -> None:  # noqa: B027 - optional hook, most components need it
        """Write configs, create data dirs, format storage. Runs before every start."""

    def env(self) -> Mapping[str, str]:
        return os.environ

    def marker(self) -> str:
        """A string in the command line that identifies our process (guards against pid reuse)."""
        return str(self.state.home)

    def describe(self) -> str:
        """Where the component answers, for status lines (never a secret)."""
        return ", ".join(f"{self.config.host}:{p}" for p in self.ports())

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def log_file(self) -> Path:
        return self.state.log_file(self.name)

    def failure_log(self) -> Path:
        """The log a failure message should point at."""
        return self.log_file

    def external(self) -> bool:
        return bool(self.external_env and os.environ.get(self.external_env))

    def pids(self) -> list[int]:
        """Live pids this stack started for the component (stale pid files are removed)."""
        record = self.state.read_pid(self.name)
        return [record.pid] if record else []

    def owner(self) -> str | None:
        record = self.state.read_pid(self.name)
        return record.owner if record else None

    def check_ports(self) -> None:
        for port in self.ports():
            if process.port_in_use(self.config.host, port):
                holder = process.port_holder(port) or "another process"
                raise PortInUseError(
                    f"port {self.config.host}:{port} is in use by {holder}, not started by "
                    f"this stack ({self.state.home}); stop it, or run flink-rag with "
                    f"FLINK_RAG_HOME set to the stack that owns it"
                )

    #: What the readiness probe asks, for crash reports ("GET /v1/models").
    probe_request: str = ""

    def start(self, owner: str) -> list[int]:
        # Under `supervise`, which records the exit code or signal when the process ends.
        self.state.clear_run_records(self.name)
        exit_file = self.state.exit_file(self.name)
        cmd = [sys.executable, "-m", "flink_rag.local.supervise", str(exit_file), "--"]
        pid = process.spawn([*cmd, *self.command()], self.log_file, self.env())
        self.state.write_pid(self.name, PidRecord(pid=pid, owner=owner, marker=self.marker()))
        return [pid]

    def mark_ready(self) -> None:
        self.state.ready_file(self.name).write_text(f"{time.time()}\n")

    def exit_report(self) -> str | None:
        """`killed by SIGSEGV 0.4 s after answering GET /v1/models`, if the process ended."""
        record = read_exit(self.state.exit_file(self.name))
        if record is None:
            return None
        try:
            ready_at: float | None = float(self.state.ready_file(self.name).read_text())
        except (OSError, ValueError):
            ready_at = None
        return describe_exit(record, ready_at, self.probe_request)

    def running(self) -> bool:
        """False once every process of a start has exited."""
        return any(process.alive(pid) for pid in self.pids())

    def stop(self, timeout: float = process.STOP_TIMEOUT_S) -> bool:
        """Stop what we started; return True if something was running."""
        pids = self.pids()
        for pid in pids:
            process.terminate(pid, timeout)
        self.state.remove_pid(self.name)
        # A stop is not a crash: forget how the stopped process ended.
        self.state.clear_run_records(self.name)
        return bool(pids)
