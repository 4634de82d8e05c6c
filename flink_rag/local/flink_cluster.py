"""A Flink standalone session cluster (one JobManager, one TaskManager) from the pyflink package.

Nothing inside site-packages is changed: the cluster gets its own conf dir (FLINK_CONF_DIR) and
lib/opt dirs (FLINK_LIB_DIR, FLINK_OPT_DIR) of symlinks under the state dir. lib/ adds
flink-python (Python UDFs on the cluster); opt/ adds flink-sql-gateway, which `sql-client.sh`
needs. The Kafka connector is not in lib/: jobs ship it with `pipeline.jars`, as on any cluster
(having it twice makes factory discovery fail with "Multiple factories for identifier 'kafka'").
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from flink_rag.local import log4j, prereqs, process
from flink_rag.local.component import PROBE_TIMEOUT_S, Component
from flink_rag.local.endpoints import FLINK_ENV
from flink_rag.local.errors import PrerequisiteError, StartupError
from flink_rag.local.state import PidRecord

IDENT = "flink-rag"
DAEMONS = {"jobmanager": "standalonesession", "taskmanager": "taskexecutor"}
SCRIPT_TIMEOUT_S = 120.0
SQL_CLIENT_JVM_ARGS = "-Xmx512m"
MEMORY = {
    "jobmanager.memory.process.size": "768m",
    "taskmanager.memory.process.size": "1280m",
    "taskmanager.memory.managed.fraction": "0.25",
    "taskmanager.numberOfTaskSlots": "2",
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
        # The daemons write their own logs next to this one.
        return self.log_dir / "start-cluster.log"

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
        if not (home / "bin" / "start-cluster.sh").is_file():
            raise PrerequisiteError(f"{home}/bin/start-cluster.sh missing: reinstall apache-flink")
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
            "taskmanager.bind-host": h,
            "taskmanager.host": h,
            "rest.address": h,
            "rest.bind-address": h,
            "rest.port": str(c.flink_rest_port),
            "parallelism.default": "1",
            # Python UDFs on the cluster and in the SQL client run with this environment's Python.
            "python.executable": sys.executable,
            "python.client.executable": sys.executable,
            **MEMORY,
        }

    def client_env(self) -> dict[str, str]:
        """Environment for pyflink's bin/ scripts (start-cluster.sh, sql-client.sh, flink)."""
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
        self.conf_dir.joinpath("workers").write_text(f"{self.config.host}\n")
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
        return ["bash", str(flink_home() / "bin" / "start-cluster.sh")]

    # -- lifecycle: the scripts daemonise, so pids come from Flink's own pid files ---------
    def start(self, owner: str) -> list[int]:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        for daemon in DAEMONS.values():
            (self.pid_dir / f"flink-{IDENT}-{daemon}.pid").unlink(missing_ok=True)
        with open(self.log_file, "ab") as log:
            try:
                done = subprocess.run(
                    list(self.command()),
                    env=dict(self.env()),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=SCRIPT_TIMEOUT_S,
                    start_new_session=True,
                    check=False,
                )
            except subprocess.TimeoutExpired as err:
                raise StartupError(
                    f"start-cluster.sh did not return within {SCRIPT_TIMEOUT_S:.0f}s"
                ) from err
        pids = []
        for role, daemon in DAEMONS.items():
            pid_file = self.pid_dir / f"flink-{IDENT}-{daemon}.pid"
            try:
                pid = int(pid_file.read_text().split()[-1])
            except (FileNotFoundError, ValueError, IndexError):
                continue
            self.state.write_pid(
                f"flink-{role}", PidRecord(pid=pid, owner=owner, marker=self.marker())
            )
            pids.append(pid)
        if done.returncode != 0 or len(pids) != len(DAEMONS):
            raise StartupError(
                f"start-cluster.sh exited {done.returncode} and started {len(pids)} of 2 daemons"
            )
        return pids

    def pids(self) -> list[int]:
        records = [self.state.read_pid(f"flink-{role}") for role in DAEMONS]
        return [r.pid for r in records if r]

    def owner(self) -> str | None:
        records = [self.state.read_pid(f"flink-{role}") for role in DAEMONS]
        return next((r.owner for r in records if r), None)

    def stop(self, timeout: float = process.STOP_TIMEOUT_S) -> bool:
        pids = self.pids()
        # TaskManager first, so the JobManager does not log it as lost.
        for pid in reversed(pids):
            process.terminate(pid, timeout)
        for role, daemon in DAEMONS.items():
            self.state.remove_pid(f"flink-{role}")
            (self.pid_dir / f"flink-{IDENT}-{daemon}.pid").unlink(missing_ok=True)
        return bool(pids)

    def failure_log(self) -> Path:
        logs = sorted(self.log_dir.glob("*standalonesession*.log"))
        return logs[0] if logs else self.log_file

    def probe(self, timeout: float = PROBE_TIMEOUT_S) -> str:
        with urllib.request.urlopen(f"{self.rest_url()}/overview", timeout=timeout) as resp:
            overview = json.load(resp)
        tms = int(overview.get("taskmanagers", 0))
        if tms < 1:
            raise ConnectionError("JobManager is up but no TaskManager has registered yet")
        return (
            f"Flink {overview.get('flink-version', '?')}, {tms} TaskManager(s), "
            f"{overview.get('slots-total', '?')} slot(s)"
        )


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
