"""A Flink standalone session cluster (one JobManager, `flink_taskmanagers` TaskManagers with
`flink_slots` slots each) from the pyflink package.

Nothing inside site-packages is changed: the cluster gets its own conf dir (FLINK_CONF_DIR) and
lib/opt dirs (FLINK_LIB_DIR, FLINK_OPT_DIR) of symlinks under the state dir. lib/ adds
flink-python (Python UDFs on the cluster); opt/ adds flink-sql-gateway, which `sql-client.sh`
needs. The Kafka connector is not in lib/: jobs ship it with `pipeline.jars`, as on any cluster
(having it twice makes factory discovery fail with "Multiple factories for identifier 'kafka'").
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from flink_rag.jobs.rest import flink_rest
from flink_rag.local import log4j, prereqs, process
from flink_rag.local.component import PROBE_TIMEOUT_S, Component
from flink_rag.local.endpoints import FLINK_ENV
from flink_rag.local.errors import PrerequisiteError
from flink_rag.local.exits import describe_exit, read_exit
from flink_rag.local.state import PidRecord

IDENT = "flink-rag"
SQL_CLIENT_JVM_ARGS = "-Xmx512m"
MEMORY = {
    "jobmanager.memory.process.size": "768m",
    "taskmanager.memory.process.size": "1280m",
    "taskmanager.memory.managed.fraction": "0.25",
}


def flink_home() -> Path:
    """The pyflink package directory: it carries bin/, conf/, lib/ and opt/."""
    spec = importlib.util.find_spec("pyflink")
    if spec is None or spec.origin is None:
        raise PrerequisiteError("pyflink is not installed: run `make setup`")
    return Path(spec.origin).parent


class FlinkCluster(Component):
    name = "flink"
    external_env = FLINK_ENV

    @property
    def conf_dir(self) -> Path:
        return self.state.conf_dir(self.name)

    @property
    def dist_dir(self) -> Path:
        return self.state.data_dir(self.name)

    @property
    def pid_dir(self) -> Path:
        return self.state.run_dir / self.name

    @property
    def log_dir(self) -> Path:
        return self.state.logs_dir / self.name

    @property
    def log_file(self) -> Path:
        # The JobManager's console; every daemon writes its own log next to it.
        return self.log_dir / "flink-jobmanager.out"

    def ports(self) -> Sequence[int]:
        return (self.config.flink_rest_port, self.config.flink_rpc_port)

    def rest_url(self) -> str:
        if self.external():
            return os.environ[FLINK_ENV].rstrip("/")
        return f"http://{self.config.host}:{self.config.flink_rest_port}"

    def describe(self) -> str:
        return self.rest_url()

    def check_prereqs(self) -> None:
        prereqs.check_java()
        home = flink_home()
        for script in ("jobmanager.sh", "taskmanager.sh"):
            if not (home / "bin" / script).is_file():
                raise PrerequisiteError(f"{home}/bin/{script} missing: reinstall apache-flink")
        prereqs.check_jars(
            self.config.jars_dir / "flink", ("flink-sql-gateway-", "flink-sql-connector-kafka-")
        )

    # -- configuration -------------------------------------------------------------------
    def settings(self) -> dict[str, str]:
        c, h = self.config, self.config.host
        return {
            "env.java.opts.all": _default_java_opts(),
            "env.pid.dir": str(self.pid_dir),
            "env.log.dir": str(self.log_dir),
            "io.tmp.dirs": str(self.dist_dir / "tmp"),
            "jobmanager.bind-host": h,
            "jobmanager.rpc.address": h,
            "jobmanager.rpc.port": str(c.flink_rpc_port),
            "jobmanager.execution.failover-strategy": "region",
            # File checkpoints: the default (JobManager memory) caps each state at 5 MB, which
            # the rebooking job's join state passes at a few thousand passengers.
            "execution.checkpointing.dir": (self.dist_dir / "checkpoints").as_uri(),
            "taskmanager.bind-host": h,
            "taskmanager.host": h,
            "rest.address": h,
            "rest.bind-address": h,
            "rest.port": str(c.flink_rest_port),
            "parallelism.default": "1",
            "taskmanager.numberOfTaskSlots": str(c.flink_slots),
            # The SQL client validates UDFs with this environment's Python; the TaskManagers
            # run them with flink_python_executable (a job may override it with -pyexec).
            "python.executable": c.flink_python_executable or sys.executable,
            "python.client.executable": sys.executable,
            **MEMORY,
            **c.flink_settings,
        }

    def client_env(self) -> dict[str, str]:
        """Environment for pyflink's bin/ scripts (jobmanager.sh, sql-client.sh, flink)."""
        return {
            **os.environ,
            "FLINK_HOME": str(flink_home()),
            "FLINK_CONF_DIR": str(self.conf_dir),
            "FLINK_LIB_DIR": str(self.dist_dir / "lib"),
            "FLINK_OPT_DIR": str(self.dist_dir / "opt"),
            "FLINK_IDENT_STRING": IDENT,
        }

    def env(self) -> Mapping[str, str]:
        return self.client_env()

    def sql_client(self, *args: str) -> tuple[list[str], dict[str, str]]:
        """Command and environment for `sql-client.sh` against this cluster."""
        env = self.client_env()
        env.setdefault("JVM_ARGS", SQL_CLIENT_JVM_ARGS)
        return ["bash", str(flink_home() / "bin" / "sql-client.sh"), *args], env

    def prepare(self) -> None:
        home = flink_home()
        for d in (self.conf_dir, self.pid_dir, self.log_dir, self.dist_dir / "tmp"):
            d.mkdir(parents=True, exist_ok=True)
        # JSON strings are valid YAML scalars, so this is a flat config.yaml.
        self.conf_dir.joinpath("config.yaml").write_text(
            "".join(f"{k}: {json.dumps(v)}\n" for k, v in self.settings().items())
        )
        self.conf_dir.joinpath("masters").write_text(
            f"{self.config.host}:{self.config.flink_rest_port}\n"
        )
        # One line per TaskManager, as Flink's scripts expect (start() starts them itself).
        self.conf_dir.joinpath("workers").write_text(
            f"{self.config.host}\n" * self.config.flink_taskmanagers
        )
        for src in (home / "conf").glob("log*"):
            self.conf_dir.joinpath(src.name).write_bytes(src.read_bytes())
        log4j.quiet_dir(self.conf_dir)
        flink_jars = self.config.jars_dir / "flink"
        _link_dir(
            self.dist_dir / "lib",
            [*(home / "lib").glob("*.jar"), *(home / "opt").glob("flink-python-*.jar")],
        )
        _link_dir(
            self.dist_dir / "opt",
            [*(home / "opt").glob("*.jar"), *flink_jars.glob("flink-sql-gateway-*.jar")],
        )

    def command(self) -> Sequence[str]:
        """The JobManager; each TaskManager runs `taskmanager.sh start-foreground`."""
        return ["bash", str(flink_home() / "bin" / "jobmanager.sh"), "start-foreground"]

    def _daemon_commands(self) -> list[tuple[str, list[str]]]:
        bin_dir = flink_home() / "bin"
        taskmanager = ["bash", str(bin_dir / "taskmanager.sh"), "start-foreground"]
        return [
            (_record_name("jobmanager", 0), list(self.command())),
            *(
                (_record_name("taskmanager", i), taskmanager)
                for i in range(self.config.flink_taskmanagers)
            ),
        ]

    # -- lifecycle: each daemon in the foreground under `supervise`, like the other parts ----
    def start(self, owner: str) -> list[int]:
        """Start the JobManager and the TaskManagers in the foreground (not start-cluster.sh,
        which detaches them): each runs under `supervise`, so a daemon that dies is reported
        with its exit code or signal."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        pids = []
        for name, cmd in self._daemon_commands():
            self.state.clear_run_records(name)
            supervised = [
                sys.executable, "-m", "flink_rag.local.supervise",
                str(self.state.exit_file(name)), "--", *cmd,
            ]  # fmt: skip
            pid = process.spawn(supervised, self.log_dir / f"{name}.out", self.env())
            self.state.write_pid(name, PidRecord(pid=pid, owner=owner, marker=self.marker()))
            pids.append(pid)
        return pids

    def exit_report(self) -> str | None:
        """How the first daemon that ended on its own ended, e.g. `taskmanager-2 killed by
        SIGKILL 3.0 s after start`."""
        for name in self._record_names(include_exited=True):
            record = read_exit(self.state.exit_file(name))
            if record is not None:
                return f"{name.removeprefix('flink-')} {describe_exit(record)}"
        return None

    def mark_ready(self) -> None:
        for name in self._record_names():
            self.state.ready_file(name).write_text(f"{time.time()}\n")

    def _record_names(self, include_exited: bool = False) -> list[str]:
        """Pid records of the JobManager and of every TaskManager this stack started (found
        by name, so `down` stops them all whatever flink_taskmanagers says now)."""
        found = {
            p.name.removesuffix(".pid") for p in self.state.run_dir.glob("flink-taskmanager*.pid")
        }
        if include_exited:
            found |= {
                p.name.removesuffix(".exit")
                for p in self.state.run_dir.glob("flink-taskmanager*.exit")
            }
        return [_record_name("jobmanager", 0), *sorted(found)]

    def pids(self) -> list[int]:
        records = [self.state.read_pid(name) for name in self._record_names()]
        return [r.pid for r in records if r]

    def owner(self) -> str | None:
        records = [self.state.read_pid(name) for name in self._record_names()]
        return next((r.owner for r in records if r), None)

    def stop(self, timeout: float = process.STOP_TIMEOUT_S) -> bool:
        pids = self.pids()
        # The TaskManagers' Python workers can outlive the group's SIGTERM (seen: beam
        # workers left running for good after a stop); note them now, end them after.
        workers = _descendants(pids)
        # TaskManagers first, so the JobManager does not log them as lost.
        for pid in reversed(pids):
            process.terminate(pid, timeout)
        for proc in workers:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        for name in self._record_names(include_exited=True):
            self.state.remove_pid(name)
            self.state.clear_run_records(name)
        return bool(pids)

    def failure_log(self) -> Path:
        logs = sorted(self.log_dir.glob("*standalonesession*.log"))
        return logs[0] if logs else self.log_file

    def probe(self, timeout: float = PROBE_TIMEOUT_S) -> str:
        overview = flink_rest(self.rest_url(), "/overview", timeout_s=timeout)
        tms = int(overview.get("taskmanagers", 0))
        wanted = 1 if self.external() else self.config.flink_taskmanagers
        if tms < wanted:
            raise ConnectionError(
                f"JobManager is up but {tms} of {wanted} TaskManager(s) have registered"
            )
        return (
            f"Flink {overview.get('flink-version', '?')}, {tms} TaskManager(s), "
            f"{overview.get('slots-total', '?')} slot(s)"
        )


def _descendants(pids: list[int]) -> list[psutil.Process]:
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            found += psutil.Process(pid).children(recursive=True)
    return found


def _record_name(role: str, index: int) -> str:
    """`flink-jobmanager`, `flink-taskmanager`, `flink-taskmanager-2`, ..."""
    return f"flink-{role}" if index == 0 else f"flink-{role}-{index + 1}"


def _default_java_opts() -> str:
    """The --add-opens/--add-exports pyflink's own config.yaml passes to every Flink JVM."""
    import yaml  # PyYAML comes with apache-flink (through apache-beam)

    conf = yaml.safe_load((flink_home() / "conf" / "config.yaml").read_text()) or {}
    return str(conf.get("env", {}).get("java", {}).get("opts", {}).get("all", ""))


def _link_dir(target: Path, jars: list[Path]) -> None:
    """Make `target` hold exactly one symlink per jar (rebuilt each start: versions may change)."""
    target.mkdir(parents=True, exist_ok=True)
    for old in target.iterdir():
        if old.is_symlink() or old.is_file():
            old.unlink()
    for jar in jars:
        (target / jar.name).symlink_to(jar.resolve())
