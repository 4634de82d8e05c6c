"""Failures that explain themselves: what a failed flink or integration test prints besides
its assertion.

A CI log is often all there is (the clone is gone after the run), so a failed test of those
tiers gets a "diagnostics" section: the sources its fixtures registered (a scenario report, a
Flink job's exception history, a kept log directory) and the tails of the logs that changed
while it ran (the local stack's components, PyFlink's own log directory). Sources are read
only when a test fails, each one bounded, secrets of this environment masked.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

# Per source: how much of it reaches the log.
TAIL_LINES = 30
PROBLEM_LINES = 15
SOURCE_CHARS = 6000
# Lines that point at a cause, kept from a log's earlier part when its tail is ordinary.
_PROBLEM = re.compile(r"\b(ERROR|FATAL|Exception|Error:|Traceback|Caused by|SIGKILL|killed)\b")
# Values that must not reach test output, whatever a log holds.
SECRET_ENV = ("OPENAI_API_KEY", "MONGODB_URI", "FLINK_RAG_BENCH_API_KEY")


def _mask(text: str) -> str:
    for name in SECRET_ENV:
        value = os.environ.get(name, "")
        if len(value) >= 8:
            text = text.replace(value, f"<{name}>")
    return text


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last `lines` of a log, preceded by its earlier problem lines (exceptions, errors)."""
    try:
        raw = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        return f"(cannot read {path}: {err})"
    head, last = raw[:-lines] if len(raw) > lines else [], raw[-lines:]
    problems = [line for line in head if _PROBLEM.search(line)][-PROBLEM_LINES:]
    parts = []
    if problems:
        parts += ["... earlier problem lines:", *problems, "... last lines:"]
    parts += last
    return "\n".join(parts)


def changed_logs(dirs: Iterable[Path], since: float) -> list[Path]:
    """Log files under `dirs` written at or after `since` (epoch seconds), newest last."""
    found = []
    for d in dirs:
        if not d.is_dir():
            continue
        for path in d.rglob("*"):
            if path.suffix in (".log", ".out", ".err") or path.name.endswith(".log"):
                try:
                    if path.is_file() and path.stat().st_mtime >= since:
                        found.append(path)
                except OSError:
                    continue
    return sorted(found, key=lambda p: p.stat().st_mtime if p.exists() else 0)


class Diagnostics:
    """What to print if a test fails: titled sources, read only then."""

    def __init__(self) -> None:
        self.since = time.time()
        self._sources: list[tuple[str, Callable[[], str]]] = []
        self._log_dirs: list[Path] = []

    def add(self, title: str, source: Callable[[], str] | str) -> None:
        self._sources.append((title, source if callable(source) else (lambda: source)))

    def add_log_dir(self, path: Path) -> None:
        """Tail the logs of `path` that changed during the test (e.g. a cluster's kept logs)."""
        self._log_dirs.append(Path(path))

    def render(self, default_log_dirs: Iterable[Path] = ()) -> str:
        blocks = []
        for title, source in self._sources:
            try:
                text = source()
            except Exception as err:  # a broken source must not hide the others
                text = f"(could not collect: {type(err).__name__}: {err})"
            blocks.append((title, text))
        for path in changed_logs([*self._log_dirs, *default_log_dirs], self.since - 1):
            blocks.append((f"log {path}", tail(path)))
        out = []
        for title, text in blocks:
            text = _mask(str(text))
            if len(text) > SOURCE_CHARS:
                text = "... (cut)\n" + text[-SOURCE_CHARS:]
            out.append(f"===== {title}\n{text}")
        return "\n".join(out) if out else "(no diagnostics registered and no log changed)"


def default_log_dirs() -> list[Path]:
    """The local stack's log directory and PyFlink's (mini-cluster and Python worker logs)."""
    from flink_rag.local.config import LocalConfig

    dirs = [LocalConfig().home / "logs"]
    try:
        import pyflink

        dirs.append(Path(pyflink.__file__).parent / "log")
    except ImportError:
        pass
    return dirs
