"""Start, wait for and stop background processes; check ports. Every wait has a timeout."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from flink_rag.local.state import process_cmdline

STOP_TIMEOUT_S = 20.0
POLL_S = 0.5

_CAUSE = re.compile(r"(ERROR|FATAL|Exception|Error:|error:|Caused by|Traceback)")


def spawn(cmd: Sequence[str], log_file: Path, env: Mapping[str, str] | None = None) -> int:
    """Start `cmd` in its own session with stdout/stderr appended to `log_file`; return its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            close_fds=True,
        )
    return proc.pid


def alive(pid: int) -> bool:
    _reap(pid)
    return process_cmdline(pid) is not None


def _reap(pid: int) -> None:
    # Children of this process (e.g. in a test session) would linger as zombies otherwise.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def terminate(pid: int, timeout: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM the process group led by `pid` (or the pid alone), SIGKILL after `timeout`.

    Returns True if it had to kill.
    """
    if not alive(pid):
        return False
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return False
        time.sleep(0.2)
    _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def _signal(pid: int, sig: int) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on host:port (we cannot bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            return err.errno == errno.EADDRINUSE
    return False


def port_holder(port: int) -> str | None:
    """`pid N (name)` of the process listening on `port`, when /proc lets us see it."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # local_address is HEX_IP:HEX_PORT; state 0A = LISTEN.
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            for fd in (proc_dir / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    name = (proc_dir / "comm").read_text().strip()
                    return f"pid {proc_dir.name} ({name})"
        except OSError:
            continue
    return None


def wait_until(
    probe: Callable[[], object],
    timeout: float,
    still_running: Callable[[], bool] | None = None,
) -> None:
    """Call `probe` until it returns without raising.

    Raises TimeoutError (carrying the last probe error) after `timeout`, or ChildProcessError
    as soon as `still_running` says the process is gone.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        if still_running is not None and not still_running():
            raise ChildProcessError("process exited during startup")
        try:
            probe()
            return
        except Exception as err:
            last = err
        if time.monotonic() >= deadline:
            raise TimeoutError(one_line(str(last)) if last else "no answer")
        time.sleep(POLL_S)


def log_cause(log_file: Path, max_chars: int = 160) -> str:
    """The last line of a log that looks like the reason for a failure, shortened to one line."""
    try:
        with open(log_file, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64_000))
            lines = fh.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    for line in reversed(lines):
        if _CAUSE.search(line) and not line.lstrip().startswith("at "):
            return one_line(line, max_chars)
    return one_line(lines[-1], max_chars) if lines else ""


def one_line(text: str, max_chars: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."
