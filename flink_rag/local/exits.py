"""How a component ended: the record `supervise` writes, and the one line a report gives."""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ExitRecord:
    returncode: int
    started: float
    ended: float

    def how(self) -> str:
        """`killed by SIGSEGV`, `exited with code 1`."""
        code = self.returncode
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"


def read_exit(path: Path) -> ExitRecord | None:
    try:
        raw = json.loads(path.read_text())
        return ExitRecord(int(raw["returncode"]), float(raw["started"]), float(raw["ended"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def describe_exit(record: ExitRecord, ready_at: float | None = None, probe: str = "") -> str:
    """`killed by SIGSEGV 0.4 s after answering GET /v1/models` or `... 3.1 s after start`."""
    if ready_at is not None and record.ended >= ready_at:
        since = record.ended - ready_at
        what = f"answering {probe}" if probe else "becoming ready"
        return f"{record.how()} {since:.1f} s after {what}"
    return f"{record.how()} {record.ended - record.started:.1f} s after start"
