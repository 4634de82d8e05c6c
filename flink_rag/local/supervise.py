"""Runs one local component and records how it ended, for `local up` and `status`.

    python -m flink_rag.local.supervise EXIT_FILE -- COMMAND...

A component that dies on its own is only reported usefully with its exit code or signal and
when it died; the process that could read that status (its parent) is gone by the time
`status` runs in another process. So every component runs under this small parent, which
forwards SIGTERM/SIGINT, waits, and writes `{"returncode", "started", "ended"}` to EXIT_FILE.
It imports nothing but the standard library, to stay small.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m flink_rag.local.supervise EXIT_FILE -- COMMAND...", file=sys.stderr)
        return 2
    exit_file = Path(argv[0])
    started = time.time()
    child = subprocess.Popen(argv[2:])

    def forward(signum: int, _frame: object) -> None:
        # The stack signals the whole process group; forwarding covers a lone kill of this pid.
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    returncode = child.wait()
    record = {"returncode": returncode, "started": started, "ended": time.time()}
    tmp = exit_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(record) + "\n")
    os.replace(tmp, exit_file)
    if returncode < 0:
        # Die the way the child died, so a parent sees the same signal.
        signal.signal(-returncode, signal.SIG_DFL)
        os.kill(os.getpid(), -returncode)
    return returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
