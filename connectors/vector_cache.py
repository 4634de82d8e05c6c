"""Per-process cache of document vectors for scan mode, keyed by `_id`.

Why it exists: reading every candidate's vector on each lookup made scan mode slow (measured on
the local stand-in with 384-dim vectors: ~2.4 lookups/s at 1k documents, and a 10k-document
reply too large for one wire message). The server still decides which ids match a filter on
every lookup — so filters, inserts and deletes are always exact — and only the vectors of ids
not seen before are fetched. A vector changed in place under the same `_id` is picked up when
the cache expires (`ttl_s`), much like Atlas's index lags writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import numpy as np

MAX_CACHED_VECTORS = 200_000  # float32: 200k × 384 dims ≈ 300 MB; beyond that scan mode is wrong
_INVALID = -1  # the document's vector is missing or has another length: Atlas skips it too

Fetch = Callable[[list[Any]], Iterable[tuple[Any, Any]]]


class VectorCache:
    """Maps document ids to rows of one float32 matrix; thread-safe; cleared after `ttl_s`."""

    def __init__(
        self,
        dimensions: int,
        ttl_s: float,
        *,
        max_vectors: int = MAX_CACHED_VECTORS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.dimensions = dimensions
        self.ttl_s = ttl_s
        self.max_vectors = max_vectors
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: dict[Hashable, int] = {}
        self._matrix = np.empty((0, dimensions), dtype=np.float32)
        self._size = 0
        self._loaded_at = clock()
        self.fetched = 0  # vectors read from the server, for tests and the benchmark

    def __len__(self) -> int:
        return self._size

    def vectors_for(self, ids: Sequence[Any], fetch: Fetch) -> tuple[list[Any], np.ndarray]:
        """(ids that have a valid vector, their vectors as an n×d float32 matrix), in input order.

        `fetch(missing_ids)` yields (id, vector) pairs for the ids it can find.
        """
        with self._lock:
            if self.ttl_s <= 0 or self._clock() - self._loaded_at > self.ttl_s:
                self._clear()
            missing = [i for i in ids if key(i) not in self._rows]
            if self._size + len(missing) > self.max_vectors:
                self._clear()
                missing = list(ids)
            if missing:
                self._add(missing, fetch)
            kept, rows = [], []
            for doc_id in ids:
                row = self._rows.get(key(doc_id), _INVALID)
                if row != _INVALID:
                    kept.append(doc_id)
                    rows.append(row)
            matrix = self._matrix[np.asarray(rows, dtype=np.intp)] if rows else self._empty()
            if self.ttl_s <= 0 or len(ids) > self.max_vectors:
                self._clear()  # nothing kept between calls
            return kept, matrix

    def _add(self, missing: list[Any], fetch: Fetch) -> None:
        found: dict[Hashable, Any] = {}
        for doc_id, vector in fetch(missing):
            found[key(doc_id)] = vector
            self.fetched += 1
        valid: list[np.ndarray] = []
        for doc_id in missing:
            k = key(doc_id)
            row = _as_row(found.get(k), self.dimensions)
            if row is None:
                self._rows[k] = _INVALID
            else:
                self._rows[k] = self._size + len(valid)
                valid.append(row)
        if valid:
            self._grow(self._size + len(valid))
            self._matrix[self._size : self._size + len(valid)] = np.stack(valid)
            self._size += len(valid)

    def _grow(self, needed: int) -> None:
        if needed <= self._matrix.shape[0]:
            return
        capacity = max(needed, 2 * self._matrix.shape[0], 256)
        grown = np.empty((capacity, self.dimensions), dtype=np.float32)
        grown[: self._size] = self._matrix[: self._size]
        self._matrix = grown

    def _clear(self) -> None:
        self._rows.clear()
        self._matrix = self._empty()
        self._size = 0
        self._loaded_at = self._clock()

    def _empty(self) -> np.ndarray:
        return np.empty((0, self.dimensions), dtype=np.float32)


def key(doc_id: Any) -> Hashable:
    """A hashable stand-in for an `_id` (documents may use sub-documents as ids)."""
    return doc_id if isinstance(doc_id, Hashable) else repr(doc_id)


def _as_row(vector: Any, dimensions: int) -> np.ndarray | None:
    if not isinstance(vector, list | tuple) or len(vector) != dimensions:
        return None
    try:
        row = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        return None
    return row if np.all(np.isfinite(row)) else None
