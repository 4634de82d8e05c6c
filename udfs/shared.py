"""Clients shared by the UDFs of one Python worker process, reference-counted.

EMBED and EMBED_RESULT in one job would otherwise each load the model; VECTOR_LOOKUP and
VECTOR_LOOKUP_JSON would each open a MongoClient per profile. Each UDF acquires in open()
and releases in close(); the last release closes the client.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_entries: dict[tuple[int, Hashable], list[Any]] = {}  # key -> [object, refcount]


def acquire(key: Hashable, create: Callable[[], T]) -> T:
    """The process's object for `key`, created (and opened) by `create()` on first use."""
    full = (os.getpid(), key)  # never reuse an object inherited through fork()
    with _lock:
        entry = _entries.get(full)
        if entry is None:
            entry = _entries[full] = [create(), 0]
        entry[1] += 1
        return entry[0]


def release(key: Hashable, close: Callable[[Any], None]) -> None:
    """Drop one reference; the last one closes the object."""
    full = (os.getpid(), key)
    with _lock:
        entry = _entries.get(full)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _entries[full]
    close(entry[0])
