"""The threads that overlap a store's lookups: `concurrency` at a time, answers in input order.

pymongo's client is thread-safe and pools its connections, so a batch of rows can have several
round trips in flight; the server, not Python, does the work. Each result is its own request's
answer or the exception it raised, so one bad row never costs the others.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

R = TypeVar("R")
T = TypeVar("T")


class LookupPool:
    """A lazily started thread pool, owned by the process that started it."""

    def __init__(self, name: str, concurrency: int) -> None:
        self.name = name
        self.concurrency = concurrency
        self._executor: ThreadPoolExecutor | None = None
        self._pid: int | None = None

    def map(self, call: Callable[[R], T], requests: Sequence[R]) -> list[T | Exception]:
        """call(request) for each request; each answer, or the exception, in its place."""

        def one(request: R) -> T | Exception:
            try:
                return call(request)
            except Exception as err:  # handed back as this row's result; the caller decides
                return err

        if len(requests) <= 1 or self.concurrency <= 1:
            return [one(request) for request in requests]
        if self._executor is None or self._pid != os.getpid():
            # A pool inherited through fork() has no threads behind it: start one here.
            self._executor = ThreadPoolExecutor(
                self.concurrency, thread_name_prefix=f"lookup-{self.name}"
            )
            self._pid = os.getpid()
        return list(self._executor.map(one, requests))

    def close(self) -> None:
        """Wait for running lookups and stop the threads (only in the process that owns them)."""
        if self._executor is not None and self._pid == os.getpid():
            self._executor.shutdown(wait=True)
        self._executor = self._pid = None
