"""py-spy on a running benchmark job: sample the Python workers and the load server.

`Sampler` attaches `py-spy record --format raw` to every process it is given or finds (the
Python UDF workers appear only once the job runs, so a watcher thread picks them up), and
`summarize` turns the collapsed stacks into a short text report: where the samples land by
function (self and inclusive) and by category. Only samples of the thread holding the GIL
are kept (`--gil`): a UDF worker and the load server are single Python processes, so the
share of wall time with the GIL held says how close each is to its own ceiling, and the
functions in those samples say what uses it. The report is what docs/ keeps.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flink_rag_bench.proc_tree import tree_pids

SAMPLE_RATE_HZ = 100
STOP_TIMEOUT_S = 30.0
# Substrings of a frame that put a sample into a category, first match wins (leaf to root).
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("waiting (sleep, lock, socket read)", ("Condition.wait", "Event.wait", "select", "recv",
                                            "readinto", "acquire", "_wait_for_tstate_lock")),
    ("decoding the answer (SDK, pydantic, base64)", ("openai/_models", "pydantic", "_parsing",
                                                    "b64decode", "frombuffer", "json/decoder")),
    ("vector checks and conversion", ("_check_dimensions", "_as_floats", "_all_finite",
                                      "udfs/embed.py")),
    ("Arrow / pandas conversion", ("pyarrow", "pandas", "arrow_coder", "coder_impl")),
    ("tokens and request planning", ("tokens.py", "tiktoken", "plan_batches", "embed_texts")),
    ("load server: seeded vectors", ("fake_responses",)),
    ("load server: JSON answer", ("load_server.py)", "json/encoder")),
    ("HTTP and sockets", ("httpx", "httpcore", "ssl", "socket", "http/server", "http/client")),
)  # fmt: skip


def is_udf_worker(pid: int) -> bool:
    """A PyFlink Python worker (Beam SDK harness) process."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return False
    return "python" in cmdline and "pyflink" in cmdline and "beam" in cmdline


@dataclass
class Sampler:
    """`with Sampler(out_dir, fixed={"load-server": pid}) as s: ...`: raw stacks per process."""

    out_dir: Path
    fixed: dict[str, int] = field(default_factory=dict)
    rate_hz: int = SAMPLE_RATE_HZ
    files: dict[str, Path] = field(default_factory=dict)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _attach(self, name: str, pid: int) -> None:
        out = self.out_dir / f"{name}.raw.txt"
        cmd = [py_spy(), "record", "--pid", str(pid), "--rate", str(self.rate_hz),
               "--format", "raw", "--output", str(out), "--nonblocking", "--gil"]  # fmt: skip
        self._procs.append(
            subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        self.files[name] = out

    def _watch(self) -> None:
        seen: set[int] = set()
        while not self._stop.wait(0.2):
            for pid in tree_pids(os.getpid(), exclude=self.fixed.values()):
                if pid not in seen and is_udf_worker(pid):
                    seen.add(pid)
                    self._attach(f"udf-worker-{len(seen)}", pid)

    def __enter__(self) -> Sampler:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.fixed.items():
            self._attach(name, pid)
        self._thread = threading.Thread(target=self._watch, name="py-spy-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for proc in self._procs:  # py-spy writes its file on SIGINT (or when the target exits)
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self._procs:
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)


def py_spy() -> str:
    """The py-spy installed with the bench distribution (next to this interpreter)."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.is_file() else shutil.which("py-spy")
    if not found:
        raise FileNotFoundError("py-spy is missing; install the bench: pip install ./bench")
    return found


_LINE = re.compile(r":\d+\)")


def _frames(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rstrip("\n").rpartition(" ")
    return [_LINE.sub(")", f) for f in stack.split(";")], int(count)


def category(frames: Sequence[str]) -> str:
    for frame in reversed(frames):
        for name, needles in CATEGORIES:
            if any(n in frame for n in needles):
                return name
    return "other Python"


@dataclass(frozen=True)
class Summary:
    samples: int
    by_category: list[tuple[str, int]]
    top_self: list[tuple[str, int]]
    top_inclusive: list[tuple[str, int]]

    def text(self, title: str, seconds: float | None = None) -> str:
        def pct(n: int) -> str:
            return f"{100 * n / self.samples:5.1f}%" if self.samples else "    -"

        head = f"{title}: {self.samples} samples"
        if seconds:
            held = self.samples / seconds / SAMPLE_RATE_HZ
            head += f" with the GIL held in {seconds:.1f} s ({held:.0%} of the time)"
        lines = [head, "", "by category:"]
        lines += [f"  {pct(n)}  {name}" for name, n in self.by_category]
        lines += ["", "top functions, self:"]
        lines += [f"  {pct(n)}  {name}" for name, n in self.top_self]
        lines += ["", "top functions, inclusive:"]
        lines += [f"  {pct(n)}  {name}" for name, n in self.top_inclusive]
        return "\n".join(lines) + "\n"


def summarize(lines: Iterable[str], top: int = 15) -> Summary:
    """Counts of py-spy's raw (collapsed) stacks: one `frame;frame;... count` per line."""
    by_cat: collections.Counter[str] = collections.Counter()
    self_: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in lines:
        if not line.strip():
            continue
        frames, n = _frames(line)
        total += n
        by_cat[category(frames)] += n
        self_[frames[-1]] += n
        for frame in set(frames):
            incl[frame] += n
    skip = ("threading.py", "socketserver.py", "<frozen runpy>", "<module>")
    inclusive = [(f, n) for f, n in incl.most_common() if not any(s in f for s in skip)]
    return Summary(total, by_cat.most_common(), self_.most_common(top), inclusive[:top])
