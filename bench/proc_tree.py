"""Peak resident memory of a process tree, sampled from /proc (Linux) while a job runs."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def tree_pids(root: int, exclude: Iterable[int] = ()) -> list[int]:
    """`root` and all its descendants, minus `exclude` and their descendants."""
    skip = set(exclude)
    todo, seen = [root], []
    while todo:
        pid = todo.pop()
        if pid in skip or pid in seen:
            continue
        seen.append(pid)
        todo += _children(pid)
    return seen


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


class PeakRss:
    """`with PeakRss(exclude=[server_pid]) as m: ...; m.peak_mb` — whole tree of this process."""

    def __init__(self, root: int | None = None, exclude: Iterable[int] = (), every_s: float = 0.25):
        self.root = root or os.getpid()
        self.exclude = tuple(exclude)
        self.every_s = every_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="peak-rss", daemon=True)

    def sample(self) -> int:
        total = sum(rss_bytes(p) for p in tree_pids(self.root, self.exclude))
        self.peak = max(self.peak, total)
        return total

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.sample()

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20

    def __enter__(self) -> PeakRss:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()
