"""The state directory: pid files (run/), logs (logs/), data (data/), generated configs (conf/).

A pid file records a process this stack started: its pid, who started it ("cli" or "tests"),
and a marker string that must appear in the process's command line. The marker guards
against pid reuse: a pid file whose process is gone, or is now some other program, is stale.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flink_rag.local.errors import LocalStackError

LOCK_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class PidRecord:
    pid: int
    owner: str
    marker: str


def process_cmdline(pid: int) -> str | None:
    """The command line of a live, non-zombie process, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        # Field 3 (after the parenthesised name) is the state; Z = zombie, X = dead.
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return None
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        # Right after a fork+exec the kernel may briefly show an empty command line.
        for _ in range(20):
            if raw:
                break
            time.sleep(0.025)
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace")


def is_ours(record: PidRecord) -> bool:
    """True when the recorded process is alive and still the program we started."""
    cmdline = process_cmdline(record.pid)
    return cmdline is not None and record.marker in cmdline


class StateDir:
    """Paths under the state home, plus pid-file, lock and lease bookkeeping."""

    def __init__(self, home: Path):
        self.home = home
        self.run_dir = home / "run"
        self.logs_dir = home / "logs"
        self.data_root = home / "data"
        self.conf_root = home / "conf"

    def ensure(self) -> None:
        for d in (self.run_dir, self.logs_dir, self.data_root, self.conf_root):
            d.mkdir(parents=True, exist_ok=True)

    def log_file(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def data_dir(self, name: str) -> Path:
        return self.data_root / name

    def conf_dir(self, name: str) -> Path:
        return self.conf_root / name

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def write_pid(self, name: str, record: PidRecord) -> None:
        path = self.pid_file(name)
        tmp = path.with_suffix(".pid.tmp")
        tmp.write_text(f"{record.pid}\n{record.owner}\n{record.marker}\n")
        tmp.replace(path)

    def read_pid(self, name: str) -> PidRecord | None:
        """The live record for `name`; a stale pid file is removed and None returned."""
        path = self.pid_file(name)
        try:
            lines = path.read_text().splitlines()
            record = PidRecord(pid=int(lines[0]), owner=lines[1], marker=lines[2])
        except FileNotFoundError:
            return None
        except (ValueError, IndexError):
            path.unlink(missing_ok=True)
            return None
        if not is_ours(record):
            path.unlink(missing_ok=True)
            return None
        return record

    def remove_pid(self, name: str) -> None:
        self.pid_file(name).unlink(missing_ok=True)

    def exit_file(self, name: str) -> Path:
        """Written by `supervise` when the component's process ends."""
        return self.run_dir / f"{name}.exit"

    def ready_file(self, name: str) -> Path:
        """Holds the time the component first answered its probe (for crash reports)."""
        return self.run_dir / f"{name}.ready"

    def clear_run_records(self, name: str) -> None:
        self.exit_file(name).unlink(missing_ok=True)
        self.ready_file(name).unlink(missing_ok=True)

    @contextlib.contextmanager
    def locked(self, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
        """Serialise up/down across processes (several test sessions may share one stack)."""
        self.ensure()
        with open(self.run_dir / "stack.lock", "w") as fh:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LocalStackError(
                            f"another flink-rag command holds {self.run_dir / 'stack.lock'} "
                            f"for over {timeout:.0f}s; wait for it or stop it"
                        ) from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # Leases: each test session using the stack holds one; the last one out stops what test
    # sessions started.
    def add_lease(self, lease: str) -> None:
        """`lease` starts with the holder's pid, e.g. "1234-ab12"."""
        leases = self.run_dir / "leases"
        leases.mkdir(parents=True, exist_ok=True)
        (leases / lease).write_text(lease)

    def drop_lease(self, lease: str) -> int:
        """Remove `lease` and those of dead processes; return how many live leases remain."""
        leases = self.run_dir / "leases"
        (leases / lease).unlink(missing_ok=True)
        live = 0
        for path in leases.glob("*") if leases.exists() else []:
            pid = path.name.split("-", 1)[0]
            if pid.isdigit() and process_cmdline(int(pid)) is not None:
                live += 1
            else:
                path.unlink(missing_ok=True)
        return live
